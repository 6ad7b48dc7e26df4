// `watch` and `start --watch`: a live progress bar until the job ends, then its outcome (state, duration, the
// family's key figures, the error). With --json no bar is drawn and the final status is the one document printed.
// The bar follows the job's changes as PostgreSQL pushes them (LISTEN job_events, activities/jobs/job-events.ts, as the API's
// event streams do); when that connection cannot be made, it polls as it always did.

import { JobEvents } from '../../activities/jobs/job-events';
import { FINAL_STATUSES, type JobStatus } from '../../common/jobs';
import type { JobProgress } from '../../common/progress';
import { createLogger } from '../../config/logging';
import type { LegacyJobStatus } from '../job-status';
import type { JobsClient, Principal } from '../jobs-client';
import { outcomeSummary } from './cli-result-summary';
import type { Output } from './cli-output';
import { ProgressBar } from './progress-bar';

/** How often the bar is redrawn when polling: often enough to look live; each poll is one row read and one cached query. */
const POLL_MS = 500;
/**
 * While following pushed changes, how often the job is read again anyway: the stored snapshot (and so its NOTIFY)
 * moves every ~2 % of steps, and a worker's live progress between two snapshots keeps the bar moving meanwhile.
 */
const REREAD_MS = 2_000;
/**
 * How long, after the progress says the job ended, to wait for the workflow to write its row with the result (its
 * last step, normally within a second); bounded so a worker lost at that moment cannot hang the CLI.
 */
const ROW_SETTLE_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isFinal = (status: string | undefined) => FINAL_STATUSES.includes(status as JobStatus);

/** Where the job's changes are pushed from: the database the CLI uses (DATABASE_URL). */
export interface WatchFeed {
  databaseUrl: string;
}

/** The bar's view of a status answer (the status endpoint's names, back in the progress query's). */
export function progressOfStatus(status: LegacyJobStatus): JobProgress {
  return {
    jobId: status.job_id,
    jobType: status.job_type,
    status: status.status as JobStatus,
    progressPercentage: status.progress_percentage,
    completedSteps: status.completed_steps ?? 0,
    totalSteps: status.total_steps ?? 0,
    failedSteps: status.failed_steps,
    inFlight: status.in_flight,
    currentStep: status.current_step,
    message: status.message,
    startedAt: status.started_at,
    updatedAt: status.updated_at,
    etaSeconds: status.eta_seconds,
    priority: status.priority,
    ...(status.progress_revision !== null ? { revision: status.progress_revision } : {}),
  };
}

/**
 * Follows the job's pushed changes until it ends; false, having drawn nothing, when the LISTEN connection could not be
 * made (the caller polls instead).
 */
async function followPushed(jobs: JobsClient, jobId: string, feed: WatchFeed, bar?: ProgressBar): Promise<boolean> {
  const events = new JobEvents({
    connectionString: feed.databaseUrl,
    statusOf: (id) => jobs.statusOf(id),
    rereadEveryMs: REREAD_MS,
    log: createLogger('cli', { level: 'silent' }),
  });
  try {
    let ended: () => void = () => undefined;
    const end = new Promise<void>((resolve) => (ended = resolve));
    const show = (status: LegacyJobStatus | undefined) => {
      if (status) bar?.update(progressOfStatus(status));
      if (!status || isFinal(status.status)) ended();
    };
    await events.subscribe(jobId, show);
    if (!events.listening) return false;
    show(await jobs.statusOf(jobId));
    await end;
    return true;
  } finally {
    await events.close();
  }
}

/** Watches the job to its end and prints its outcome; returns its final status. */
export async function watchJob(
  jobs: JobsClient,
  principal: Principal,
  jobId: string,
  out: Output,
  feed?: WatchFeed,
): Promise<LegacyJobStatus> {
  const bar = out.json ? undefined : new ProgressBar();
  // Someone else's job, or none: refused before anything is followed.
  await jobs.getJob(principal, jobId);
  const followed = feed ? await followPushed(jobs, jobId, feed, bar).catch(() => false) : false;
  while (!followed) {
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
