// `watch` and `start --watch`: a live progress bar until the job ends, then its outcome (state, duration, the
// family's key figures, the error). With --json no bar is drawn and the final status is the one document printed.

import { FINAL_STATUSES, type JobStatus } from '../../common/jobs';
import type { LegacyJobStatus } from '../job-status';
import type { JobsClient, Principal } from '../jobs-client';
import { outcomeSummary } from './cli-result-summary';
import type { Output } from './cli-output';
import { ProgressBar } from './progress-bar';

/** How often the bar is redrawn: often enough to look live; each poll is one row read and one cached query. */
const POLL_MS = 500;
/**
 * How long, after the progress says the job ended, to wait for the workflow to write its row with the result (its
 * last step, normally within a second); bounded so a worker lost at that moment cannot hang the CLI.
 */
const ROW_SETTLE_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isFinal = (status: string | undefined) => FINAL_STATUSES.includes(status as JobStatus);

/** Watches the job to its end and prints its outcome; returns its final status. */
export async function watchJob(
  jobs: JobsClient,
  principal: Principal,
  jobId: string,
  out: Output,
): Promise<LegacyJobStatus> {
  const bar = out.json ? undefined : new ProgressBar();
  for (;;) {
    const row = await jobs.getJob(principal, jobId);
    const progress = await jobs.progress(jobId);
    if (progress) bar?.update(progress);
    if (isFinal(row.status) || isFinal(progress?.status)) break;
    await sleep(POLL_MS);
  }
  bar?.done();
  const settleBy = Date.now() + ROW_SETTLE_MS;
  while (!isFinal((await jobs.job(jobId))?.status) && Date.now() < settleBy) await sleep(POLL_MS / 5);
  const status = await jobs.status(principal, jobId);
  out.result(status, () => outcomeSummary(status));
  return status;
}
