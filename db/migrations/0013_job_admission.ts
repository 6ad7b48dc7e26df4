// What the admission of a job keeps in its row: the workflow input its start request resolved into (so the
// workflow's admission activity, run again or run after the client admitted the job, returns the same input
// instead of resolving twice), and how the job was started.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('jobs')
    .addColumn('input', 'jsonb')
    // `jobs-client` (the API, the CLI, JobsClient) or `temporal` (a workflow started directly through any Temporal
    // client); null on rows from before it was kept and on imported legacy jobs.
    .addColumn('started_via', 'text')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('jobs').dropColumn('input').dropColumn('started_via').execute();
}
