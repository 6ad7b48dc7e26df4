// A budget call keeps its prompt's tokens and the most its answer may use apart, so the ledger can reserve the
// prompt plus the completion recent answers used (capped by that most) instead of always the most.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Null on rows written before: those keep reserving `tokens` as they were enqueued.
  await db.schema
    .alterTable('llm_budget_calls')
    .addColumn('prompt_tokens', 'integer')
    .addColumn('max_output_tokens', 'integer')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('llm_budget_calls').dropColumn('prompt_tokens').dropColumn('max_output_tokens').execute();
}
