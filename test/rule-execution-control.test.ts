// Control that reaches SQL: cancel and pause-now during a rule scan cancel its statement (the activity ends
// cancelled, pg_stat_activity shows the scan gone), the interrupted batch is redone on resume, and a paused job
// never completes before it is resumed, even when its last batch finishes while it is paused. Scans are made
// long by a view that sleeps per row (its delay read from a table, so the rules are generated at full speed)
// or held on a lock, never by guessing how long they take.

import { sql } from 'kysely';
import pg from 'pg';
import { DEMO_DATA_SOURCE_ID, DEMO_TABLE } from '../db/demo-data';
import { createHarness, type Harness } from './support/harness';
import { recordHistoryIfAsked } from './support/histories';
import { waitFor } from './support/waiting';

let harness: Harness;
let rulesJobId: string;
let rulesTotal: number;
const owner = 'rule-controller';
const principal = { subject: owner, admin: false };
/** A 2 000-row copy of the demo table, read through a view that sleeps `delay_s` per row, registered as its own data source. */
const COPY = 'rule_scan_copy';
const SLOW_VIEW = 'rule_scan_slow';
const SOURCE = 'rule_scan_slow';
const ATTRIBUTES = ['credit_score', 'account_status'];

const setDelay = (seconds: number) => sql`update rule_scan_delay set delay_s = ${seconds}`.execute(harness.db);

beforeAll(async () => {
  harness = await createHarness();
  await harness.startWorker();
  await sql`create table ${sql.table(COPY)} as select * from ${sql.table(DEMO_TABLE)} where row_id <= 2000`.execute(harness.db);
  await sql`create table rule_scan_delay (delay_s float8 not null)`.execute(harness.db);
  await sql`insert into rule_scan_delay values (0)`.execute(harness.db);
  // The delay is read once per scan (an uncorrelated subquery), so a change applies from the next scan on.
  await sql`create view ${sql.table(SLOW_VIEW)} as select * from ${sql.table(COPY)} where pg_sleep((select delay_s from rule_scan_delay)) is not null`.execute(harness.db);
  await harness.db.insertInto('data_sources').values({ id: SOURCE, table_name: SLOW_VIEW, description: 'the demo rows, read as slowly as a test needs', record_id_column: 'row_id' }).execute();
  await sql`insert into data_source_attributes (data_source_id, name, data_type, description, position)
    select ${SOURCE}, name, data_type, description, position from data_source_attributes where data_source_id = ${DEMO_DATA_SOURCE_ID}`.execute(harness.db);
  const generation = await harness.jobs.startJob({ jobType: 'data_profiling_llm_generation', owner, dataSourceId: SOURCE, attributeIds: ATTRIBUTES });
  expect(await harness.jobs.waitForJob(generation.jobId)).toMatchObject({ status: 'completed' });
  rulesJobId = generation.jobId;
  rulesTotal = (await harness.db.selectFrom('profiling_rules').select('rule_index').where('job_id', '=', rulesJobId).execute()).length;
  expect(rulesTotal).toBeGreaterThan(2);
});
afterAll(() => harness.close());
afterEach(() => setDelay(0));

/** One batch of every rule of ATTRIBUTES over the slow view. */
const startRuleExecution = () => harness.jobs.startJob({ jobType: 'data_profiling_rule_execution', owner, dataSourceId: SOURCE, rulesFromJobId: rulesJobId, attributeIds: ATTRIBUTES });

/** Statements reading the slow view right now, and how many of them wait on a lock (other than this query). */
async function scansOfTheView(): Promise<{ active: number; waitingOnLock: number }> {
  const { rows } = await sql<{ active: number; waiting: number }>`
    select count(*)::int as active, (count(*) filter (where wait_event_type = 'Lock'))::int as waiting
    from pg_stat_activity where state = 'active' and pid <> pg_backend_pid() and query like ${`%${SLOW_VIEW}%`}`.execute(harness.db);
  return { active: rows[0]!.active, waitingOnLock: rows[0]!.waiting };
}

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
    if (e.activityTaskCompletedEventAttributes && scheduledIds.has(String(e.activityTaskCompletedEventAttributes.scheduledEventId))) counts.completed++;
    if (e.activityTaskCanceledEventAttributes && scheduledIds.has(String(e.activityTaskCanceledEventAttributes.scheduledEventId))) counts.cancelled++;
  }
  return counts;
}

const storedResults = async (jobId: string) => (await harness.db.selectFrom('rule_results').select('rule_index').where('job_id', '=', jobId).execute()).length;

it('cancels the running rule scan: the activity ends cancelled and its statement is gone once the job is cancelled', async () => {
  // 2 000 rows × 50 ms: a scan of 100 s, far beyond anything this test waits for.
  await setDelay(0.05);
  const { jobId } = await startRuleExecution();
  await waitFor(scansOfTheView, (s) => s.active > 0, 30_000, 'the rule scan to be running');

  await harness.jobs.cancel(principal, jobId);
  expect(await waitFor(() => harness.jobs.job(jobId), (job) => job?.status === 'cancelled', 60_000, 'the job to be cancelled')).toMatchObject({ status: 'cancelled' });
  expect(await scansOfTheView()).toEqual({ active: 0, waitingOnLock: 0 });
  expect(await ruleActivities(jobId)).toEqual({ scheduled: 1, completed: 0, cancelled: 1 });
  expect(await storedResults(jobId)).toBe(0);
}, 120_000);

it('pause-now cancels the running rule scan, stays paused, and redoes the interrupted batch on resume', async () => {
  await setDelay(0.05);
  const { jobId } = await startRuleExecution();
  await waitFor(scansOfTheView, (s) => s.active > 0, 30_000, 'the rule scan to be running');

  await harness.jobs.pause(principal, jobId, { now: true });
  await waitFor(() => ruleActivities(jobId), (a) => a.cancelled === 1, 60_000, 'the interrupted scan activity to end cancelled');
  await waitFor(() => harness.jobs.status(principal, jobId), (s) => s.status === 'paused' && s.in_flight === 0, 30_000, 'the job paused with nothing in flight');
  expect(await scansOfTheView()).toEqual({ active: 0, waitingOnLock: 0 });
  // Interrupted, so neither done nor failed, and nothing of it stored.
  expect(await storedResults(jobId)).toBe(0);
  expect(await harness.jobs.status(principal, jobId)).toMatchObject({ status: 'paused', completed_steps: 0, failed_steps: 0 });

  await setDelay(0);
  await harness.jobs.resume(principal, jobId);
  const job = await harness.jobs.waitForJob(jobId);
  expect(job).toMatchObject({ status: 'completed', error: null, result: { rulesTotal, rulesExecuted: rulesTotal, rulesNotRun: [] } });
  expect(job?.progress).toMatchObject({ completedSteps: ATTRIBUTES.length, failedSteps: 0 });
  expect(await ruleActivities(jobId)).toEqual({ scheduled: 2, completed: 1, cancelled: 1 });
  expect(await storedResults(jobId)).toBe(rulesTotal);
}, 120_000);

it('does not complete while paused when its last batch finishes during the pause, and completes once resumed', async () => {
  // The scan waits on this lock until the job is paused; then it finishes on its own.
  const locker = new pg.Client({ connectionString: harness.config.DATABASE_URL });
  await locker.connect();
  try {
    await locker.query(`begin; lock table ${COPY} in access exclusive mode`);
    const { jobId } = await startRuleExecution();
    await waitFor(scansOfTheView, (s) => s.waitingOnLock > 0, 30_000, 'the rule scan to wait on the lock');
    await harness.jobs.pause(principal, jobId);
    await waitFor(() => harness.jobs.status(principal, jobId), (s) => s.status === 'paused', 30_000, 'the job to be paused');
    await locker.query('rollback');

    // The batch finished while paused, and the workflow has acted on its summary since.
    await waitFor(() => ruleActivities(jobId), (a) => a.completed === 1, 30_000, 'the last batch to finish');
    await waitFor(() => workflowTaskAfterSummary(jobId), (seen) => seen, 30_000, 'a workflow task after the job was summarised');
    expect((await harness.jobs.handle(jobId).describe()).status.name).toBe('RUNNING');
    expect(await harness.jobs.job(jobId)).toMatchObject({ status: 'paused', completed_at: null });
    expect(await harness.jobs.progress(jobId)).toMatchObject({ status: 'paused' });

    await harness.jobs.resume(principal, jobId);
    expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'completed', result: { rulesTotal, rulesExecuted: rulesTotal } });
    recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, jobId, 'data-profiling-paused-until-resumed');
  } finally {
    await locker.end();
  }
}, 120_000);

/** True once the history holds a completed workflow task after summarizeProfiling completed. */
async function workflowTaskAfterSummary(jobId: string): Promise<boolean> {
  const { events } = await harness.jobs.handle(jobId).fetchHistory();
  let summaryScheduled: string | undefined;
  let summarised = false;
  for (const e of events ?? []) {
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'summarizeProfiling') summaryScheduled = String(e.eventId);
    if (summaryScheduled && String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') === summaryScheduled) summarised = true;
    if (summarised && e.workflowTaskCompletedEventAttributes) return true;
  }
  return false;
}
