// Starting a job through the JobsClient and timing it to its end, the way every bench measures a job; and the bare
// Temporal window some of them measure it against.

import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { BareWindowInput } from '../noop-workflow';
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

/**
 * The baseline beside a job: bench/noop-workflow.ts's bareWindow over `n` items at `concurrency` on `taskQueue`, with
 * the job's history budget; the workflow id and its wall seconds, start to result.
 */
export async function runBareWindow(
  temporal: Client,
  options: { taskQueue: string; n: number; concurrency: number; historyEventBudget: number; idPrefix: string },
): Promise<{ workflowId: string; seconds: number }> {
  const workflowId = `${options.idPrefix}-${randomUUID()}`;
  const input: BareWindowInput = {
    items: Array.from({ length: options.n }, (_, i) => i),
    concurrency: options.concurrency,
    historyEventBudget: options.historyEventBudget,
  };
  const started = performance.now();
  await temporal.workflow.execute('bareWindow', { taskQueue: options.taskQueue, workflowId, args: [input] });
  return { workflowId, seconds: (performance.now() - started) / 1_000 };
}
