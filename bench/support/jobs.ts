// Starting a job through the JobsClient and timing it to its end, the way every bench measures a job.

import type { JobsClient, StartJobRequest } from '../../client/jobs-client';
import type { JobRow } from '../../client/job-status';

export interface TimedJob {
  jobId: string;
  seconds: number;
  row: JobRow;
}

/** A start request of any family without its owner (every bench job is the bench's); Omit applied per family. */
export type BenchJobRequest = WithoutOwner<StartJobRequest>;
type WithoutOwner<R> = R extends unknown ? Omit<R, 'owner'> : never;

export async function runJob(jobs: JobsClient, request: BenchJobRequest): Promise<TimedJob> {
  const started = performance.now();
  const { jobId } = await jobs.startJob({ owner: 'bench', ...request });
  const row = await jobs.waitForJob(jobId);
  const seconds = (performance.now() - started) / 1_000;
  if (!row) throw new Error(`job ${jobId} has no row`);
  if (row.status !== 'completed') throw new Error(`job ${jobId} ended ${row.status}: ${row.error ?? ''}`);
  return { jobId, seconds, row };
}
