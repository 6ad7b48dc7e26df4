// A job's LLM concurrency as slots shared by every worker (activities/llm/job-gate.ts): a job's activities may be
// scheduled ahead of its LLM calls, and a call is sent only while it holds one of the job's `llmConcurrency` slots.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('llm_job_slots')
    // No foreign key to jobs: a slot is claimed from an activity, which may run before its job row is visible to it.
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('slot', 'integer', (c) => c.notNull())
    // The worker process holding the slot (host:pid:random), or null when free.
    .addColumn('holder', 'text')
    // A holder that stops renewing (its process died) loses the slot at this time.
    .addColumn('held_until', 'timestamptz')
    .addPrimaryKeyConstraint('llm_job_slots_pkey', ['job_id', 'slot'])
    .execute();
  await sql`create index llm_job_slots_holder on llm_job_slots (holder) where holder is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('llm_job_slots').execute();
}
