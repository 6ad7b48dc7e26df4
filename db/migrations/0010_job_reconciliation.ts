// What keeps a job's row true when its workflow ends (or never starts) outside the control contract: the
// task queue the job was started on, so each queue's reconciler answers only for its own jobs (another
// deployment or test may share the database with another Temporal); and the control request the API sent
// but the workflow has not applied yet (a pause while no worker runs), so status can say so.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('jobs')
    .addColumn('task_queue', 'text')
    .addColumn('requested_action', 'text')
    .addColumn('requested_at', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('jobs')
    .dropColumn('requested_at')
    .dropColumn('requested_action')
    .dropColumn('task_queue')
    .execute();
}
