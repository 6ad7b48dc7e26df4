// The fleet-wide LLM budget (activities/llm-budget-*.ts): limits per model, changeable at run time; the
// ledger of calls waiting for or holding budget in the current window; and the provider's recent 429s.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('llm_budget_limits')
    .addColumn('model', 'text', (c) => c.primaryKey())
    .addColumn('rpm', 'integer', (c) => c.notNull())
    .addColumn('tpm', 'integer', (c) => c.notNull())
    // The "minute" the limits count over: 60 000 in production, shorter in tests.
    .addColumn('window_ms', 'integer', (c) => c.notNull())
    // Set from a 429's Retry-After or an exhausted x-ratelimit-remaining-*: nothing is granted before it.
    .addColumn('paused_until', 'timestamptz')
    // The provider's own x-ratelimit-limit-*, when lower than ours (the account's real quota wins).
    .addColumn('provider_rpm', 'integer')
    .addColumn('provider_tpm', 'integer')
    .addColumn('blocked_reason', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_by', 'text')
    .execute();

  await db.schema
    .createTable('llm_budget_calls')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('priority', 'integer', (c) => c.notNull())
    // The estimate while waiting and in flight; the provider's reported usage once settled.
    .addColumn('tokens', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('waiting', 'granted')`))
    .addColumn('worker', 'text', (c) => c.notNull())
    .addColumn('enqueued_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('granted_at', 'timestamptz')
    .addColumn('settled_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('llm_budget_calls_model_state')
    .on('llm_budget_calls')
    .columns(['model', 'state'])
    .execute();
  await db.schema.createIndex('llm_budget_calls_job').on('llm_budget_calls').column('job_id').execute();

  await db.schema
    .createTable('llm_budget_rate_limits')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('pause_ms', 'integer', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('worker', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('llm_budget_rate_limits_model_at')
    .on('llm_budget_rate_limits')
    .columns(['model', 'at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('llm_budget_rate_limits').execute();
  await db.schema.dropTable('llm_budget_calls').execute();
  await db.schema.dropTable('llm_budget_limits').execute();
}
