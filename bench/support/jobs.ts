// Starting a job through the JobsClient and timing it to its end, the way every bench measures a job.

import type { JobsClient } from '../../client/jobs-client';
import type { JobRow } from '../../client/job-status';

export interface TimedJob {
  jobId: string;
  seconds: number;
  row: JobRow;
}

export async function runJob(jobs: JobsClient, request: Record<string, unknown>): Promise<TimedJob> {
  const started = performance.now();
  const { jobId } = await jobs.startJob({ owner: 'bench', ...request } as never);
  const row = await jobs.waitForJob(jobId);
  const seconds = (performance.now() - started) / 1_000;
  if (!row) throw new Error(`job ${jobId} has no row`);
  if (row.status !== 'completed') throw new Error(`job ${jobId} ended ${row.status}: ${row.error ?? ''}`);
  return { jobId, seconds, row };
}
