// Every activity's timeouts and retry policy, chosen here and only here, with the reason for each value.

import { ActivityCancellationType, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';
import { FailureType } from '../../common/failures';

/**
 * One attribute's LLM work: a column profile query plus up to LLM_INVALID_OUTPUT_ATTEMPTS chat calls.
 * - startToClose 1 h: rate limits and unavailability are waited out inside the attempt (activities/llm/llm.ts)
 *   for LLM_RETRY_SPAN_MS, 30 min by default, plus the calls themselves; a storm is not a dead worker, and
 *   heartbeats, not this timeout, are how we notice dead workers. A longer span goes on in the next attempt.
 * - heartbeat 10 s: the activity heartbeats every second while it waits (for the budget, the provider, or
 *   a Retry-After), so a killed worker's item is handed to another worker within 10 s instead of waiting out
 *   the full start-to-close, with room for a heartbeat or two delayed on a busy machine.
 * - retries: the activity itself retries 429s (after Retry-After) and 5xx/timeouts (2 s → 60 s) by time,
 *   then fails non-retryably naming the class, so attempts are spent only on what it cannot wait out: a lost
 *   worker, a database error, an attempt reaching start-to-close. Those back off 2 s → 60 s (a 429's
 *   nextRetryDelay overrides); ten attempts ride out several minutes of them and cover a 6 h span (the most
 *   LLM_RETRY_SPAN_MS allows) at 1 h each. A request the provider rejects fails at once, and so does a column
 *   profile the data source can never answer (DataSourceError: the column is missing, its type is not the catalogue's).
 * - WAIT_CANCELLATION_COMPLETED: on cancel or pause-now the workflow waits until the activity has
 *   actually stopped (its HTTP request aborted), so "cancelled" never hides work still running.
 */
export const LLM_ACTIVITY: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '60 seconds',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [FailureType.LlmRejectedRequest, FailureType.InvalidJobInput, FailureType.DataSourceError],
  },
};

/**
 * One scan of the data source evaluating a batch of rules. The statement itself is capped by
 * RULE_STATEMENT_TIMEOUT_MS (2 min default); start-to-close leaves room for a few of them (a batch with a
 * rule the database refuses is split into smaller scans), the heartbeat (every second during the scan, which
 * also carries cancel and pause-now to it: the statement is cancelled) catches a dead worker, and five
 * attempts cover a database restart. A statement that can never succeed (DataSourceError) is not retried.
 */
export const RULE_EXECUTION_ACTIVITY: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [FailureType.InvalidJobInput, FailureType.DataSourceError],
  },
};

/**
 * One sampling scan unit: a row-id range read chunk by chunk, heartbeating its checkpoint after every chunk
 * (and every 0.5 s while `scanRowsPerSecond` holds it back).
 * - heartbeat 10 s: a chunk takes well under a second, so silence means a dead worker; the retry resumes
 *   from the last heartbeat's checkpoint, so a short timeout costs little and gets the scan moving again soon.
 * - startToClose 2 h: a throttled unit may legitimately take long (20 000 rows at 10 rows/s is 33 min);
 *   heartbeats, not this, catch dead workers.
 * - retries: 1 s → 30 s, ten attempts ride out a database restart; bad input, and a chunk the data source can
 *   never answer (DataSourceError: a strata column gone, text where the catalogue says numeric), fail at once.
 * - WAIT_CANCELLATION_COMPLETED: cancel or pause-now returns once the scan has actually stopped reading (the
 *   chunk's statement is cancelled).
 */
export const SAMPLING_SCAN_ACTIVITY: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [FailureType.InvalidJobInput, FailureType.DataSourceError],
  },
};

/**
 * Short database reads and writes (summaries, failure records, sampling's scan plan): quick, and retried
 * until the database is back; a data-source statement that can never succeed (DataSourceError) fails at once.
 */
export const DATABASE_ACTIVITY: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 20,
    nonRetryableErrorTypes: [FailureType.DataSourceError],
  },
};

/**
 * Admitting a job's start request, the first activity of every job workflow (activities/jobs/job-admission.ts).
 * - local: it runs on the workflow's own worker, so a job's start never waits behind the activity tasks of other
 *   jobs on a saturated queue (a high-priority job admitted behind a thousand low-priority LLM calls would not
 *   be high-priority), and costs no task-queue round trip.
 * - startToClose 1 min: a few short queries, and for a sampling job one count of the data source's records, itself
 *   bounded by JOB_START_COUNT_TIMEOUT_MS (10 s by default).
 * - scheduleToClose 10 min, retries 1 s → 30 s: a database that is away is waited out about as long as the other
 *   database activities wait; a refusal (a request that does not validate, the owner's quota, a job id already
 *   taken) can never pass and fails at once, so a bad start fails the workflow within a second.
 */
export const ADMISSION_ACTIVITY: LocalActivityOptions = {
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 20,
    nonRetryableErrorTypes: [FailureType.InvalidJobInput, FailureType.QuotaExceeded, FailureType.JobIdTaken],
  },
};

/**
 * The job row's status/progress snapshot. A local activity: it runs on the workflow's own worker without
 * a task-queue round trip, which matters because it runs on every progress checkpoint.
 */
export const JOB_RECORD_ACTIVITY: LocalActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
};

/**
 * The completion callback's POST (activities/jobs/job-callback.ts), run once the job's final state is written.
 * - startToClose 30 s: the POST itself is bounded by CALLBACK_TIMEOUT_MS (10 s by default) plus the delivery record's
 *   write; an attempt past this is a receiver that hangs, counted as failed.
 * - retries 1 s → 60 s, 8 attempts (about two minutes in all): rides out a receiver's restart or a deploy without
 *   keeping the job's workflow open for long; the last answer stays in the delivery record. A URL outside the
 *   allow-list at send time (CallbackRefused) can never pass and is not retried.
 */
export const CALLBACK_ACTIVITY: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '60 seconds',
    maximumAttempts: 8,
    nonRetryableErrorTypes: [FailureType.CallbackRefused],
  },
};
