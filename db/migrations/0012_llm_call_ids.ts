// Each LLM call's usage row carries the id the activity gave the call before sending it, unique, so a write
// retried after a lost connection (which may have committed) records a paid answer once and never drops it.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Rows from before get an id of their own; new rows must bring theirs (no default), so none is forgotten.
  await db.schema
    .alterTable('llm_calls')
    .addColumn('call_id', 'uuid', (c) => c.notNull().defaultTo(sql`gen_random_uuid()`))
    .execute();
  await db.schema
    .alterTable('llm_calls')
    .alterColumn('call_id', (c) => c.dropDefault())
    .execute();
  await db.schema.alterTable('llm_calls').addUniqueConstraint('llm_calls_call_id', ['call_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('llm_calls').dropColumn('call_id').execute();
}
