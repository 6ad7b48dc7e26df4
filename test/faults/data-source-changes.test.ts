// A data source that changes under a job or never matched its catalogue: its table dropped while the rules
// run, a column stored as text where the catalogue says numeric, a catalogue column the table lacks, the data
// source unregistered while its rules run. Each
// job ends with the truth: the items that could not get their result fail at once (no retries) with the
// SQLSTATE, the other rules still run, the pass rate is over what ran, and no job calls itself completed
// with rules that never ran. Each scenario uses its own copy of the demo table, so other tests are unaffected.

import { sql } from 'kysely';
import pg from 'pg';
import { DEMO_DATA_SOURCE_ID, DEMO_TABLE } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { recordHistoryIfAsked } from '../support/histories';
import { waitFor } from '../support/waiting';
import { expectEachItemStoredOnce, waitUntilFinal } from './support/evidence';

let harness: Harness;
const owner = 'data-source-faults';

beforeAll(async () => {
  harness = await createHarness();
  await harness.startWorker();
});
afterAll(() => harness.close());

/** A copy of the demo table's first 500 rows, registered as data source `id` with the demo catalogue. */
async function copyOfDemo(id: string): Promise<void> {
  await sql`create table ${sql.table(id)} as select * from ${sql.table(DEMO_TABLE)} where row_id <= 500`.execute(
    harness.db,
  );
  await harness.db
    .insertInto('data_sources')
    .values({ id, table_name: id, description: `fault scenario ${id}`, record_id_column: 'row_id' })
    .execute();
  await sql`insert into data_source_attributes (data_source_id, name, data_type, description, position)
    select ${id}, name, data_type, description, position from data_source_attributes where data_source_id = ${DEMO_DATA_SOURCE_ID}`.execute(
    harness.db,
  );
}

/** The attempt each finished activity of `activityType` ended on (a retried one shows its last attempt). */
async function attemptsOf(jobId: string, activityType: string): Promise<number[]> {
  const { events } = await harness.jobs.handle(jobId).fetchHistory();
  const scheduled = new Set(
    (events ?? [])
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType)
      .map((e) => String(e.eventId)),
  );
  return (events ?? []).flatMap((e) =>
    e.activityTaskStartedEventAttributes && scheduled.has(String(e.activityTaskStartedEventAttributes.scheduledEventId))
      ? [e.activityTaskStartedEventAttributes.attempt ?? 0]
      : [],
  );
}

interface ProfilingResult {
  attributesFailed: number;
  rulesTotal: number;
  rulesExecuted: number;
  rulesNotRun: { attribute: string; ruleIndex: number; reason: string; sqlstate: string | null }[];
  rowsChecked: number;
  overallPassRate: number | null;
  passRateScope: string;
  failedAttributes: { attribute: string; reason: string }[];
}

it('dropped table mid-SQL: the job ends failed, every attribute failed naming SQLSTATE 42P01, never completed with a pass rate', async () => {
  const table = 'fault_dropped_table';
  await copyOfDemo(table);
  const attributes = ['credit_score', 'apr_rate', 'account_status', 'email_address', 'billing_zip', 'annual_income'];
  const generation = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner,
    dataSourceId: table,
    attributeIds: attributes,
  });
  expect(await harness.jobs.waitForJob(generation.jobId)).toMatchObject({ status: 'completed' });
  const rulesTotal = (
    await harness.db.selectFrom('profiling_rules').select('rule_index').where('job_id', '=', generation.jobId).execute()
  ).length;

  // Hold the table so the scans are under way, waiting on it, when it is dropped.
  const dropper = new pg.Client({ connectionString: harness.config.DATABASE_URL });
  await dropper.connect();
  try {
    await dropper.query(`begin; lock table ${table} in access exclusive mode`);
    const { jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling_rule_execution',
      owner,
      dataSourceId: table,
      rulesFromJobId: generation.jobId,
      attributeIds: attributes,
      ruleBatchSize: 2,
    });
    const waiting = async () =>
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like ${`%${table}%`} and pid <> pg_backend_pid()`.execute(
          harness.db,
        )
      ).rows[0]!.n;
    await waitFor(waiting, (n) => n > 0, 30_000, 'a rule scan waiting on the table');
    await dropper.query(`drop table ${table}; commit`);

    const job = await waitUntilFinal(harness, jobId);
    const result = job.result as ProfilingResult;
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(
      new RegExp(
        `^${rulesTotal} of ${rulesTotal} rules could not run; ${attributes.length} of ${attributes.length} attributes failed: .*SQLSTATE 42P01`,
      ),
    );
    expect(result).toMatchObject({
      attributesFailed: attributes.length,
      rulesTotal,
      rulesExecuted: 0,
      rowsChecked: 0,
      overallPassRate: null,
      passRateScope: `0 of ${rulesTotal} rules (${rulesTotal} could not run)`,
    });
    expect(result.rulesNotRun).toHaveLength(rulesTotal);
    for (const rule of result.rulesNotRun)
      expect(rule).toMatchObject({ sqlstate: '42P01', reason: `relation "${table}" does not exist (SQLSTATE 42P01)` });
    expect(result.failedAttributes.map((f) => f.attribute)).toEqual([...attributes].sort());
    for (const failure of result.failedAttributes)
      expect(failure.reason).toMatch(/could (not )?run.*\(SQLSTATE 42P01\)$/);
    // Failed for good on the first attempt of every batch: a missing table is not retried.
    expect(await attemptsOf(jobId, 'executeRules')).toEqual([1, 1, 1]);
  } finally {
    await dropper.end();
  }
}, 120_000);

it('type-mismatched column: its rules that cannot run fail their attribute at once with 42883, the others run, the pass rate is over what ran', async () => {
  const table = 'fault_mistyped_column';
  await copyOfDemo(table);
  // The catalogue still says integer and numeric.
  await sql`alter table ${sql.table(table)} alter column credit_score type text, alter column apr_rate type text`.execute(
    harness.db,
  );
  const attributes = ['credit_score', 'apr_rate', 'account_status', 'email_address', 'billing_zip', 'annual_income'];
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling',
    owner,
    dataSourceId: table,
    attributeIds: attributes,
    llmConcurrency: 3,
  });
  const job = await waitUntilFinal(harness, jobId);
  const result = job.result as ProfilingResult;
  expect(job.status).toBe('completed');
  expect(job.error).toMatch(
    /^2 of \d+ rules could not run; 2 of 6 attributes failed: apr_rate \(rule \d \(range\) could not run: operator does not exist: text < numeric .*SQLSTATE 42883\)\); credit_score/,
  );

  const rules = await harness.db
    .selectFrom('rule_results as rr')
    .innerJoin('profiling_rules as pr', (join) =>
      join
        .onRef('pr.job_id', '=', 'rr.rules_job_id')
        .onRef('pr.attribute', '=', 'rr.attribute')
        .onRef('pr.rule_index', '=', 'rr.rule_index'),
    )
    .select([
      'rr.attribute',
      'rr.rule_index',
      'pr.rule',
      'rr.checked_rows',
      'rr.failed_rows',
      'rr.error',
      'rr.sqlstate',
    ])
    .where('rr.job_id', '=', jobId)
    .orderBy('rr.attribute')
    .orderBy('rr.rule_index')
    .execute();
  const notRun = rules.filter((r) => r.error !== null);
  // Exactly the two range rules on text columns could not run; every other rule ran, their not_null rules included.
  expect(notRun.map((r) => [r.attribute, (r.rule as { kind: string }).kind, r.sqlstate])).toEqual([
    ['apr_rate', 'range', '42883'],
    ['credit_score', 'range', '42883'],
  ]);
  expect(
    rules
      .filter((r) => r.error === null && ['apr_rate', 'credit_score'].includes(r.attribute))
      .map((r) => (r.rule as { kind: string }).kind),
  ).toEqual(['not_null', 'not_null']);
  const ran = rules.filter((r) => r.error === null);
  expect(ran.every((r) => r.checked_rows === 500)).toBe(true);

  const failedRows = ran.reduce((sum, r) => sum + r.failed_rows, 0);
  expect(result).toMatchObject({
    attributesFailed: 2,
    rulesTotal: rules.length,
    rulesExecuted: ran.length,
    rowsChecked: ran.length * 500,
    overallPassRate: 1 - failedRows / (ran.length * 500),
    passRateScope: `${ran.length} of ${rules.length} rules (2 could not run)`,
  });
  expect(result.rulesNotRun.map((r) => [r.attribute, r.sqlstate])).toEqual([
    ['apr_rate', '42883'],
    ['credit_score', '42883'],
  ]);
  expect(result.failedAttributes.map((f) => f.attribute)).toEqual(['apr_rate', 'credit_score']);
  // Refused on the first attempt: isolated inside the batch, never retried.
  expect(await attemptsOf(jobId, 'executeRules')).toEqual([1]);
  await expectEachItemStoredOnce(harness, jobId, attributes);
}, 120_000);

it('a catalogue column the table lacks fails its attribute at once with 42703 and asks the LLM nothing for it', async () => {
  const table = 'fault_missing_column';
  await copyOfDemo(table);
  await sql`alter table ${sql.table(table)} drop column billing_zip, drop column email_address`.execute(harness.db);
  const attributes = ['billing_zip', 'email_address', 'account_status'];
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling',
    owner,
    dataSourceId: table,
    attributeIds: attributes,
  });
  const job = await waitUntilFinal(harness, jobId);
  const result = job.result as ProfilingResult;

  expect(job.status).toBe('completed');
  expect(result.failedAttributes).toEqual([
    { attribute: 'billing_zip', reason: `column "billing_zip" of ${table} does not exist (SQLSTATE 42703)` },
    { attribute: 'email_address', reason: `column "email_address" of ${table} does not exist (SQLSTATE 42703)` },
  ]);
  expect(job.error).toMatch(
    /^2 of 3 attributes failed: billing_zip \(column "billing_zip" of fault_missing_column does not exist \(SQLSTATE 42703\)\)/,
  );
  // Every LLM activity ended on its first attempt, and the two broken columns never reached the LLM.
  expect(await attemptsOf(jobId, 'generateValidationRules')).toEqual([1, 1, 1]);
  expect(
    harness.standin
      .calls()
      .filter((c) => c.jobId === jobId)
      .map((c) => c.itemKey),
  ).toEqual([`${table}.account_status`]);
}, 120_000);

it('data source unregistered mid-job: the batches that could not start are recorded as rules not run, and the pass rate is over the batches that ran', async () => {
  const table = 'fault_unregistered_source';
  await copyOfDemo(table);
  const attributes = ['credit_score', 'apr_rate', 'account_status', 'email_address', 'billing_zip', 'annual_income'];
  const generation = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner,
    dataSourceId: table,
    attributeIds: attributes,
  });
  expect(await harness.jobs.waitForJob(generation.jobId)).toMatchObject({ status: 'completed' });
  const rulesTotal = (
    await harness.db.selectFrom('profiling_rules').select('rule_index').where('job_id', '=', generation.jobId).execute()
  ).length;

  // The first two batches (two scans at once) wait on the table while the data source is unregistered; the third cannot
  // start.
  const locker = new pg.Client({ connectionString: harness.config.DATABASE_URL });
  await locker.connect();
  try {
    await locker.query(`begin; lock table ${table} in access exclusive mode`);
    const { jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling_rule_execution',
      owner,
      dataSourceId: table,
      rulesFromJobId: generation.jobId,
      attributeIds: attributes,
      ruleBatchSize: 2,
    });
    const waiting = async () =>
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like ${`%${table}%`} and pid <> pg_backend_pid()`.execute(
          harness.db,
        )
      ).rows[0]!.n;
    await waitFor(waiting, (n) => n === 2, 30_000, 'the first two rule scans waiting on the table');
    await harness.db.deleteFrom('data_sources').where('id', '=', table).execute();
    await locker.query('rollback');

    const job = await waitUntilFinal(harness, jobId);
    const result = job.result as ProfilingResult;
    const lastBatch = attributes.slice(4);
    const ran = await harness.db
      .selectFrom('rule_results')
      .select(['attribute', 'checked_rows', 'failed_rows'])
      .where('job_id', '=', jobId)
      .where('error', 'is', null)
      .execute();
    expect([...new Set(ran.map((r) => r.attribute))].sort()).toEqual(attributes.slice(0, 4).sort());
    const failedRows = ran.reduce((sum, r) => sum + r.failed_rows, 0);
    expect(job.status).toBe('completed');
    expect(result).toMatchObject({
      attributesFailed: 2,
      rulesTotal,
      rulesExecuted: ran.length,
      rowsChecked: ran.length * 500,
      overallPassRate: 1 - failedRows / (ran.length * 500),
      passRateScope: `${ran.length} of ${rulesTotal} rules (${rulesTotal - ran.length} could not run)`,
    });
    expect(new Set(result.rulesNotRun.map((r) => r.attribute))).toEqual(new Set(lastBatch));
    for (const rule of result.rulesNotRun)
      expect(rule).toMatchObject({ reason: `unknown data source ${table}`, sqlstate: null });
    expect(result.failedAttributes.map((f) => f.attribute)).toEqual([...lastBatch].sort());
    expect(job.error).toMatch(
      new RegExp(`^${rulesTotal - ran.length} of ${rulesTotal} rules could not run; 2 of 6 attributes failed: `),
    );
    recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, jobId, 'data-profiling-rule-batch-failed');
  } finally {
    await locker.end();
  }
}, 120_000);
