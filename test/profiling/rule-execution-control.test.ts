// Control that reaches SQL: cancel and pause-now during a rule scan cancel its statement (the activity ends
// cancelled, pg_stat_activity shows the scan gone), the interrupted batch is redone on resume, and a paused job
// never completes before it is resumed, even when its last batch finishes while it is paused. Scans are held on
// a lock the test holds (test/support/scan-hold.ts) until the test has acted, never made slow enough to be
// caught.

import { createHarness, type Harness } from '../support/harness';
import { recordHistoryIfAsked } from '../support/histories';
import { createScanHold, type ScanHold } from '../support/scan-hold';
import { waitFor } from '../support/waiting';

let harness: Harness;
let scans: ScanHold;
let rulesJobId: string;
let rulesTotal: number;
const owner = 'rule-controller';
const principal = { subject: owner, admin: false };
const ATTRIBUTES = ['credit_score', 'account_status'];

beforeAll(async () => {
  harness = await createHarness();
  await harness.startWorker();
  // 2 000 demo rows whose rule scans wait on the hold while it is closed; rules generated while it is open.
  scans = await createScanHold(harness, 'rule_scan_held', 2_000);
  const generation = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner,
    dataSourceId: scans.dataSourceId,
    attributeIds: ATTRIBUTES,
  });
  expect(await harness.jobs.waitForJob(generation.jobId)).toMatchObject({ status: 'completed' });
  rulesJobId = generation.jobId;
  rulesTotal = (
    await harness.db.selectFrom('profiling_rules').select('rule_index').where('job_id', '=', rulesJobId).execute()
  ).length;
  expect(rulesTotal).toBeGreaterThan(2);
});
afterAll(async () => {
  await scans?.end();
  await harness?.close();
});
afterEach(() => scans.open());

/** One batch of every rule of ATTRIBUTES over the held data source. */
const startRuleExecution = () =>
  harness.jobs.startJob({
    jobType: 'data_profiling_rule_execution',
    owner,
    dataSourceId: scans.dataSourceId,
    rulesFromJobId: rulesJobId,
    attributeIds: ATTRIBUTES,
  });

/** The job's executeRules activities as its history tells them: how many were scheduled, completed and cancelled. */
async function ruleActivities(jobId: string): Promise<{ scheduled: number; completed: number; cancelled: number }> {
  const { events } = await harness.jobs.handle(jobId).fetchHistory();
  const scheduledIds = new Set<string>();
  const counts = { scheduled: 0, completed: 0, cancelled: 0 };
  for (const e of events ?? []) {
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeRules') {
      scheduledIds.add(String(e.eventId));
      counts.scheduled++;
    }
    if (
      e.activityTaskCompletedEventAttributes &&
      scheduledIds.has(String(e.activityTaskCompletedEventAttributes.scheduledEventId))
    )
      counts.completed++;
    if (
      e.activityTaskCanceledEventAttributes &&
      scheduledIds.has(String(e.activityTaskCanceledEventAttributes.scheduledEventId))
    )
      counts.cancelled++;
  }
  return counts;
}

const storedResults = async (jobId: string) =>
  (await harness.db.selectFrom('rule_results').select('rule_index').where('job_id', '=', jobId).execute()).length;

it('cancels the running rule scan: the activity ends cancelled and its statement is gone once the job is cancelled', async () => {
  await scans.close();
  const { jobId } = await startRuleExecution();
  await scans.waitUntilHeld(jobId, 1);

  await harness.jobs.cancel(principal, jobId);
  expect(
    await waitFor(
      () => harness.jobs.job(jobId),
      (job) => job?.status === 'cancelled',
      60_000,
      'the job to be cancelled',
    ),
  ).toMatchObject({ status: 'cancelled' });
  // The hold is still closed: a scan gone from pg_stat_activity was cancelled, not let through.
  expect(await scans.scansOf(jobId)).toEqual({ running: 0, held: 0 });
  expect(await ruleActivities(jobId)).toEqual({ scheduled: 1, completed: 0, cancelled: 1 });
  expect(await storedResults(jobId)).toBe(0);
});

it('pause-now cancels the running rule scan, stays paused, and redoes the interrupted batch on resume', async () => {
  await scans.close();
  const { jobId } = await startRuleExecution();
  await scans.waitUntilHeld(jobId, 1);

  await harness.jobs.pause(principal, jobId, { now: true });
  await waitFor(
    () => ruleActivities(jobId),
    (a) => a.cancelled === 1,
    60_000,
    'the interrupted scan activity to end cancelled',
  );
  await waitFor(
    () => harness.jobs.status(principal, jobId),
    (s) => s.status === 'paused' && s.in_flight === 0,
    30_000,
    'the job paused with nothing in flight',
  );
  expect(await scans.scansOf(jobId)).toEqual({ running: 0, held: 0 });
  // Interrupted, so neither done nor failed, and nothing of it stored.
  expect(await storedResults(jobId)).toBe(0);
  expect(await harness.jobs.status(principal, jobId)).toMatchObject({
    status: 'paused',
    completed_steps: 0,
    failed_steps: 0,
  });

  await scans.open();
  await harness.jobs.resume(principal, jobId);
  const job = await harness.jobs.waitForJob(jobId);
  expect(job).toMatchObject({
    status: 'completed',
    error: null,
    result: { rulesTotal, rulesExecuted: rulesTotal, rulesNotRun: [] },
  });
  expect(job?.progress).toMatchObject({ completedSteps: ATTRIBUTES.length, failedSteps: 0 });
  expect(await ruleActivities(jobId)).toEqual({ scheduled: 2, completed: 1, cancelled: 1 });
  expect(await storedResults(jobId)).toBe(rulesTotal);
});

it('does not complete while paused when its last batch finishes during the pause, and completes once resumed', async () => {
  // The scan waits on the hold until the job is paused; then it finishes on its own.
  await scans.close();
  const { jobId } = await startRuleExecution();
  await scans.waitUntilHeld(jobId, 1);
  await harness.jobs.pause(principal, jobId);
  await waitFor(
    () => harness.jobs.status(principal, jobId),
    (s) => s.status === 'paused',
    30_000,
    'the job to be paused',
  );
  await scans.release();

  // The batch finished while paused, and the workflow has acted on its summary since.
  await waitFor(
    () => ruleActivities(jobId),
    (a) => a.completed === 1,
    30_000,
    'the last batch to finish',
  );
  await waitFor(
    () => workflowTaskAfterSummary(jobId),
    (seen) => seen,
    30_000,
    'a workflow task after the job was summarised',
  );
  expect((await harness.jobs.handle(jobId).describe()).status.name).toBe('RUNNING');
  expect(await harness.jobs.job(jobId)).toMatchObject({ status: 'paused', completed_at: null });
  expect(await harness.jobs.progress(jobId)).toMatchObject({ status: 'paused' });

  await harness.jobs.resume(principal, jobId);
  expect(await harness.jobs.waitForJob(jobId)).toMatchObject({
    status: 'completed',
    result: { rulesTotal, rulesExecuted: rulesTotal },
  });
  recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, jobId, 'data-profiling-paused-until-resumed');
});

/** True once the history holds a completed workflow task after summarizeProfiling completed. */
async function workflowTaskAfterSummary(jobId: string): Promise<boolean> {
  const { events } = await harness.jobs.handle(jobId).fetchHistory();
  let summaryScheduled: string | undefined;
  let summarised = false;
  for (const e of events ?? []) {
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'summarizeProfiling')
      summaryScheduled = String(e.eventId);
    if (summaryScheduled && String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') === summaryScheduled)
      summarised = true;
    if (summarised && e.workflowTaskCompletedEventAttributes) return true;
  }
  return false;
}
