// Job control: a job's priority, the idempotency key a caller may start it with, where the row came
// from (a new job, or one imported from the legacy jobs_storage.json), and the audit trail of every
// start and control action.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('jobs')
    .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(3))
    .addColumn('idempotency_key', 'text')
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('synapse'))
    .execute();
  await db.schema
    .createIndex('jobs_owner_idempotency_key')
    .unique()
    .on('jobs')
    .columns(['owner', 'idempotency_key'])
    .execute();
  await db.schema.createIndex('jobs_status').on('jobs').column('status').execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('detail', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema.createIndex('audit_log_job').on('audit_log').column('job_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('audit_log').execute();
  await db.schema.dropIndex('jobs_status').execute();
  await db.schema.dropIndex('jobs_owner_idempotency_key').execute();
  await db.schema
    .alterTable('jobs')
    .dropColumn('source')
    .dropColumn('idempotency_key')
    .dropColumn('priority')
    .execute();
}
