// Where each job's completion callback stands (issue 14): the URL, how many POSTs were tried, the last answer, and
// when one was accepted. Written by activities/jobs/job-callback.ts on every attempt, read by the status API.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('job_callbacks')
    // One callback per job; the row goes with its job.
    .addColumn('job_id', 'text', (c) => c.primaryKey().references('jobs.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    // The receiver's HTTP status on the last attempt; null when it gave none (refused, timed out, unreachable).
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('job_callbacks').execute();
}
