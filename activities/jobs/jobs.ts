// Keeps each job's row in the jobs table current (status, last progress, result, error), so status is
// readable by the API even when no worker is running, and notifies the API's event streams of each write in the
// same transaction (activities/jobs/job-notify.ts). Idempotent: a retry writes the same values again.

import type { Kysely } from 'kysely';
import { FINAL_STATUSES, type JobResult, type JobStatus } from '../../common/jobs';
import type { JobProgress } from '../../common/progress';
import type { Database } from '../../db/database';
import { notifyJobChanged } from './job-notify';

export interface JobStateUpdate {
  jobId: string;
  status: JobStatus;
  progress: JobProgress;
  result?: JobResult;
  error?: string | null;
}

export function createJobActivities(db: Kysely<Database>) {
  return {
    async recordJobState(update: JobStateUpdate): Promise<void> {
      const now = new Date();
      await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('jobs')
          .set((eb) => ({
            status: update.status,
            progress: JSON.stringify(update.progress),
            updated_at: now,
            // Whatever control request the API recorded, the workflow has now seen it (docs/control-and-progress.md:
            // requested_action).
            requested_action: null,
            requested_at: null,
            started_at: update.status === 'pending' ? null : eb.fn.coalesce('started_at', eb.val(now)),
            ...(FINAL_STATUSES.includes(update.status) ? { completed_at: now } : {}),
            ...(update.result !== undefined ? { result: JSON.stringify(update.result) } : {}),
            ...(update.error !== undefined ? { error: update.error } : {}),
          }))
          .where('id', '=', update.jobId)
          .execute();
        await notifyJobChanged(trx, update.jobId);
      });
    },
  };
}
