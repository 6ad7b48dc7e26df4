// test_execution end to end (real server, PostgreSQL, the stand-in for the profiling rules): results and
// aggregates exactly as direct SQL computes them, an invalid regex as its test case's error, a killed scan
// retried and recorded once, re-runs of only what failed, pause/resume/cancel, continue-as-new, bad requests.
// RECORD_HISTORIES=1 saves replay histories.

import { sql, type RawBuilder } from 'kysely';
import pg from 'pg';
import { violationPredicate } from '../../activities/rules/rule-sql';
import { JobsClient } from '../../client/jobs-client';
import type { TestExecutionStartRequest } from '../../client/test-execution/test-execution-definition';
import { InvalidJobRequestError } from '../../client/job-requests';
import type { ValidationRule } from '../../common/rules';
import { DEMO_DATA_SOURCE_ID, DEMO_TABLE } from '../../db/demo-data';
import { pauseWhileHeld, type Hold } from '../support/control-checks';
import { createHarness, type Harness } from '../support/harness';
import { activityCounts, factsAfter, jobHistory } from '../support/job-history';
import { recordHistoryIfAsked } from '../support/histories';
import { waitFor } from '../support/waiting';

let harness: Harness;
let rulesJobId: string;
let samplingJobId: string;
const owner = 'tester';
const principal = { subject: owner, admin: false };
/** A 300-record copy of the demo table registered as its own data source, so tests may lock it. */
const FIXTURE = 'test_execution_fixture';

beforeAll(async () => {
  harness = await createHarness({ faults: { latencyMs: 10 } });
  await harness.startWorker();
  const [rules, sampling] = await Promise.all([
    harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: ['credit_score', 'billing_zip', 'account_status', 'email_address', 'account_id'],
    }),
    harness.jobs.startJob({
      jobType: 'intelligent_sampling',
      owner,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      confidenceLevel: 0.95,
      marginOfError: 0.05,
      seed: 11,
    }),
  ]);
  expect(await harness.jobs.waitForJob(rules.jobId)).toMatchObject({ status: 'completed' });
  expect(await harness.jobs.waitForJob(sampling.jobId)).toMatchObject({ status: 'completed' });
  [rulesJobId, samplingJobId] = [rules.jobId, sampling.jobId];
  await sql`create table ${sql.table(FIXTURE)} as select * from ${sql.table(DEMO_TABLE)} where row_id <= 300`.execute(
    harness.db,
  );
  await harness.db
    .insertInto('data_sources')
    .values({ id: FIXTURE, table_name: FIXTURE, description: 'locked by tests', record_id_column: 'row_id' })
    .execute();
  await sql`insert into data_source_attributes (data_source_id, name, data_type, description, position)
    select ${FIXTURE}, name, data_type, description, position from data_source_attributes where data_source_id = ${DEMO_DATA_SOURCE_ID}`.execute(
    harness.db,
  );
});
afterAll(() => harness.close());

const recordHistory = (jobId: string, name: string) =>
  recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, jobId, name);

async function run(request: Omit<TestExecutionStartRequest, 'jobType' | 'owner'>, jobs = harness.jobs) {
  const { jobId } = await jobs.startJob({ jobType: 'test_execution', owner, ...request });
  const job = await harness.jobs.waitForJob(jobId);
  expect(job).toMatchObject({ status: 'completed' });
  return { jobId, job: job!, result: job!.result as Record<string, any> };
}

const resultsOf = (jobId: string) =>
  harness.db.selectFrom('test_case_results').selectAll().where('job_id', '=', jobId).orderBy('test_case_id').execute();

/** Explicit checks with violations written out by hand (a null never violates anything but not_null). */
const CHECKS: { attribute: string; rule: ValidationRule; description?: string; violates: string }[] = [
  {
    attribute: 'credit_score',
    rule: { kind: 'range', min: 300, max: 600 },
    description: 'a stricter band than documented',
    violates: 'credit_score < 300 or credit_score > 600',
  },
  { attribute: 'email_address', rule: { kind: 'length', max: 200 }, violates: 'length(email_address) > 200' },
  { attribute: 'billing_zip', rule: { kind: 'pattern', regex: '([0-9]' }, violates: '' },
  {
    attribute: 'account_id',
    rule: { kind: 'unique' },
    violates: `account_id in (select account_id from ${DEMO_TABLE} group by 1 having count(*) > 1)`,
  },
  {
    attribute: 'account_status',
    rule: { kind: 'allowed_values', values: ['ACTIVE', 'CLOSED', 'DELINQUENT', 'SUSPENDED'] },
    violates: `account_status not in ('ACTIVE', 'CLOSED', 'DELINQUENT', 'SUSPENDED')`,
  },
];
const checks = CHECKS.map(({ attribute, rule, description }) => ({ attribute, rule, description }));
const MAX_IDS = 5;

/** Every record in scope violating `where`, ascending, by a plain query (no aggregates, no slicing). */
async function violators(where: RawBuilder<unknown>, table = DEMO_TABLE, sampleJobId?: string): Promise<number[]> {
  const scope = sampleJobId
    ? sql`row_id in (select row_id from sample_records where job_id = ${sampleJobId})`
    : sql`true`;
  const { rows } = await sql<{
    row_id: string;
  }>`select row_id from ${sql.table(table)} where ${scope} and (${where}) order by row_id`.execute(harness.db);
  return rows.map((r) => Number(r.row_id));
}

/**
 * The expected violators of a stored test case: hand-written for the checks, violationPredicate for profiling rules.
 */
function expectedWhere(testCaseId: string, attribute: string, rule: ValidationRule): RawBuilder<unknown> {
  const check = /#check(\d+)$/.exec(testCaseId);
  if (check) return sql.raw(CHECKS[Number(check[1])]!.violates);
  return violationPredicate(rule, attribute, DEMO_TABLE);
}

describe('test_execution over a sample', () => {
  let main: Awaited<ReturnType<typeof run>>;
  let sampleSize: number;
  beforeAll(async () => {
    main = await run({
      samplingJobId,
      rulesFromJobId: rulesJobId,
      checks,
      batchSize: 3,
      maxFailingIdsPerTest: MAX_IDS,
    });
    sampleSize = (
      await harness.db.selectFrom('sample_records').select('row_id').where('job_id', '=', samplingJobId).execute()
    ).length;
    recordHistory(main.jobId, 'test-execution');
  });

  it("runs the profiling job's rules and the checks, each test's counts and failing ids exactly as direct SQL finds them", async () => {
    const stored = await harness.db
      .selectFrom('profiling_rules')
      .select(['attribute', 'rule_index'])
      .where('job_id', '=', rulesJobId)
      .execute();
    const rows = await resultsOf(main.jobId);
    const expectedIds = [
      ...stored.map((r) => `${r.attribute}#${r.rule_index}`),
      ...CHECKS.map((c, i) => `${c.attribute}#check${i}`),
    ].sort();
    expect(rows.map((r) => r.test_case_id)).toEqual(expectedIds);
    expect(sampleSize).toBe(370);
    for (const row of rows.filter((r) => r.status !== 'error')) {
      const all = await violators(expectedWhere(row.test_case_id, row.attribute, row.rule), DEMO_TABLE, samplingJobId);
      expect({
        id: row.test_case_id,
        status: row.status,
        checked: row.checked_records,
        failed: row.failed_records,
        ids: row.failing_record_ids.map(Number),
        attempts: row.attempts,
      }).toEqual({
        id: row.test_case_id,
        status: all.length === 0 ? 'pass' : 'fail',
        checked: sampleSize,
        failed: all.length,
        ids: all.slice(0, MAX_IDS),
        attempts: 1,
      });
    }
    // The designed check fails, the generous one passes, whatever the sample.
    expect(rows.find((r) => r.test_case_id === 'credit_score#check0')?.status).toBe('fail');
    expect(rows.find((r) => r.test_case_id === 'email_address#check1')?.status).toBe('pass');
  });

  it('aggregates per attribute and per test exactly, with totals and the pass rate', async () => {
    const rows = await resultsOf(main.jobId);
    const count = (status: string, of = rows) => of.filter((r) => r.status === status).length;
    expect(main.result.testCases).toEqual({
      tests: rows.length,
      pass: count('pass'),
      fail: count('fail'),
      error: 1,
      executed: rows.length,
      carriedOver: 0,
    });
    expect(main.result.passRate).toBeCloseTo(count('pass') / rows.length, 12);
    expect(main.result.recordsUnderTest).toBe(sampleSize);
    expect(main.result.byTest).toHaveLength(rows.length);
    for (const attribute of ['credit_score', 'billing_zip', 'account_status', 'email_address', 'account_id']) {
      const mine = rows.filter((r) => r.attribute === attribute);
      // The attribute's lowest records failing any of its tests, straight from the data.
      const anyFailing = sql.join(
        mine.filter((r) => r.status !== 'error').map((r) => sql`(${expectedWhere(r.test_case_id, attribute, r.rule)})`),
        sql` or `,
      );
      const ids = (await violators(anyFailing, DEMO_TABLE, samplingJobId)).slice(0, MAX_IDS);
      expect(main.result.byAttribute.find((a: any) => a.attribute === attribute)).toEqual({
        attribute,
        tests: mine.length,
        pass: count('pass', mine),
        fail: count('fail', mine),
        error: count('error', mine),
        failingRecordIds: ids,
      });
    }
    const failing = main.result.byTest.find((t: any) => t.testCaseId === 'credit_score#check0');
    expect(failing).toMatchObject({
      attribute: 'credit_score',
      description: 'a stricter band than documented',
      status: 'fail',
      checkedRecords: sampleSize,
      executed: true,
    });
  });

  it('records an invalid regex as its test case error with the reason, while the rest pass or fail', async () => {
    const rows = await resultsOf(main.jobId);
    const bad = rows.find((r) => r.test_case_id === 'billing_zip#check2')!;
    expect(bad).toMatchObject({ status: 'error', checked_records: 0, failed_records: 0, failing_record_ids: [] });
    expect(bad.error).toMatch(/^invalid regular expression: .*parentheses/);
    expect(rows.filter((r) => r.status === 'error').map((r) => r.test_case_id)).toEqual(['billing_zip#check2']);
    expect(main.result.errors).toEqual([
      { testCaseId: 'billing_zip#check2', attribute: 'billing_zip', reason: bad.error },
    ]);
    expect(main.job.error).toMatch(
      /^1 of \d+ test cases could not run: billing_zip#check2 \(invalid regular expression/,
    );
  });

  it('re-runs only the failing and errored test cases over the same records, carrying the passing ones over', async () => {
    const before = await resultsOf(main.jobId);
    const rerun = await run({ rerunOfJobId: main.jobId });
    const after = await resultsOf(rerun.jobId);
    const redone = after.filter((r) => r.carried_over_from === null);
    const carried = after.filter((r) => r.carried_over_from !== null);
    expect(redone.map((r) => r.test_case_id)).toEqual(
      before.filter((r) => r.status !== 'pass').map((r) => r.test_case_id),
    );
    expect(carried.map((r) => r.test_case_id)).toEqual(
      before.filter((r) => r.status === 'pass').map((r) => r.test_case_id),
    );
    // Nothing changed in the data: the same findings, executed anew (later) for the re-run ones only.
    const outcome = (r: (typeof after)[number]) => [
      r.test_case_id,
      r.status,
      r.checked_records,
      r.failed_records,
      r.failing_record_ids.map(Number),
      r.error,
    ];
    expect(after.map(outcome)).toEqual(before.map(outcome));
    for (const r of redone) expect(r.executed_at.getTime()).toBeGreaterThan(main.job.completed_at!.getTime());
    for (const r of carried)
      expect({ from: r.carried_over_from, attempts: r.attempts, at: r.executed_at }).toEqual({
        from: main.jobId,
        attempts: 0,
        at: before.find((b) => b.test_case_id === r.test_case_id)!.executed_at,
      });
    expect(rerun.result.testCases).toMatchObject({
      tests: before.length,
      executed: redone.length,
      carriedOver: carried.length,
    });
    expect(rerun.result.carriedOver).toEqual({
      fromJobId: main.jobId,
      testCases: carried.length,
      note: `${carried.length} passing test cases of job ${main.jobId} carried over as they were, not re-executed`,
    });
    expect((await harness.jobs.status(principal, rerun.jobId)).total_steps).toBe(redone.length);
    recordHistory(rerun.jobId, 'test-execution-rerun');
  });

  it.each<[string, () => Record<string, unknown>, string]>([
    ['an unknown sampling job', () => ({ samplingJobId: 'nope', checks }), 'samplingJobId'],
    ['a sampling job that is a profiling job', () => ({ samplingJobId: rulesJobId, checks }), 'samplingJobId'],
    ['rules from a sampling job', () => ({ rulesFromJobId: samplingJobId }), 'rulesFromJobId'],
    ['a re-run of a job of another type', () => ({ rerunOfJobId: samplingJobId }), 'rerunOfJobId'],
    ['a re-run with checks of its own', () => ({ rerunOfJobId: main.jobId, checks }), 'checks'],
    ['an empty test set', () => ({ dataSourceId: DEMO_DATA_SOURCE_ID, checks: [] }), 'checks'],
    ['no records named at all', () => ({ checks }), 'dataSourceId'],
    [
      'a check on an unknown attribute',
      () => ({ dataSourceId: DEMO_DATA_SOURCE_ID, checks: [{ attribute: 'nope', rule: { kind: 'not_null' } }] }),
      'checks.0.attribute',
    ],
    [
      'a pattern check on an integer column',
      () => ({
        dataSourceId: DEMO_DATA_SOURCE_ID,
        checks: [checks[1], { attribute: 'credit_score', rule: { kind: 'pattern', regex: '^1' } }],
      }),
      'checks.1.rule',
    ],
    [
      'a rule outside the DSL',
      () => ({
        dataSourceId: DEMO_DATA_SOURCE_ID,
        checks: [{ attribute: 'credit_score', rule: { kind: 'sql', text: 'true' } }],
      }),
      'checks.0.rule.kind',
    ],
    ['a batch size of 0', () => ({ dataSourceId: DEMO_DATA_SOURCE_ID, checks, batchSize: 0 }), 'batchSize'],
    ['a batch size of 501', () => ({ dataSourceId: DEMO_DATA_SOURCE_ID, checks, batchSize: 501 }), 'batchSize'],
    ['a data source other than the sample', () => ({ dataSourceId: FIXTURE, samplingJobId, checks }), 'samplingJobId'],
  ])('rejects %s, naming the field', async (_name, extra, field) => {
    const attempt = harness.jobs.startJobFromJson({ jobType: 'test_execution', owner, ...extra() });
    await expect(attempt).rejects.toBeInstanceOf(InvalidJobRequestError);
    await expect(attempt).rejects.toMatchObject({ field });
  });
});

it('tests the whole data source when no sample is named', async () => {
  const { jobId, job, result } = await run({
    dataSourceId: DEMO_DATA_SOURCE_ID,
    rulesFromJobId: rulesJobId,
    checks,
    batchSize: 50,
    maxFailingIdsPerTest: MAX_IDS,
  });
  const rows = await resultsOf(jobId);
  const unique = rows.find((r) => r.test_case_id === 'account_id#check3')!;
  // The demo repeats one account id on a second record: both records fail.
  expect(unique).toMatchObject({ status: 'fail', checked_records: 10_000, failed_records: 2 });
  expect(unique.failing_record_ids.map(Number)).toEqual(await violators(sql.raw(CHECKS[3]!.violates)));
  expect(result.recordsUnderTest).toBe(10_000);
  const seconds = (job.completed_at!.getTime() - job.started_at!.getTime()) / 1000;
  console.info(
    `test execution figure: ${rows.length} test cases × 10 000 records in ${seconds.toFixed(2)} s = ${Math.round((rows.length * 10_000) / seconds)} record-tests/s (one batch, one scan)`,
  );
});

describe('test_execution under trouble and control', () => {
  const fixtureCases = CHECKS.filter((c) => c.rule.kind !== 'pattern' && c.rule.kind !== 'unique');
  const fixtureChecks = fixtureCases.map(({ attribute, rule }) => ({ attribute, rule }));
  /** Holds an exclusive lock on the fixture table, so every scan of it waits until `release`. */
  async function lockFixture(): Promise<{ release(): Promise<void> }> {
    const client = new pg.Client({ connectionString: harness.config.DATABASE_URL });
    await client.connect();
    await client.query(`begin; lock table ${FIXTURE} in access exclusive mode`);
    let released = false;
    return {
      async release() {
        if (released) return;
        released = true;
        await client.query('rollback');
        await client.end();
      },
    };
  }
  /** Attempts of the job's scans waiting on the lock (the scan names itself `test_execution:<job>:<attempt>`). */
  const blockedScans = async (jobId: string) =>
    (
      await sql<{
        name: string;
      }>`select application_name as name from pg_stat_activity where application_name like ${`test_execution:${jobId}:%`} and wait_event_type = 'Lock'`.execute(
        harness.db,
      )
    ).rows.map((r) => Number(r.name.split(':').at(-1)));
  const stored = async (jobId: string) => (await resultsOf(jobId)).length;

  it('retries a scan that hit the statement timeout and records each test case once, with the attempts it took', async () => {
    // Its own worker, whose scans give up after 1.5 s: the first attempt times out waiting on the lock.
    const impatient = await createHarness({ config: { RULE_STATEMENT_TIMEOUT_MS: 1_500 } });
    await impatient.startWorker();
    const lock = await lockFixture();
    try {
      const { jobId } = await impatient.jobs.startJob({
        jobType: 'test_execution',
        owner,
        dataSourceId: FIXTURE,
        checks: fixtureChecks,
        batchSize: 10,
      });
      await waitFor(
        () => blockedScans(jobId),
        (attempts) => attempts.includes(1),
        30_000,
        'the first attempt waiting on the lock',
      );
      await waitFor(
        () => blockedScans(jobId),
        (attempts) => attempts.includes(2),
        30_000,
        'the retry after the statement timeout waiting on the lock',
      );
      await lock.release();
      expect(await impatient.jobs.waitForJob(jobId)).toMatchObject({ status: 'completed', error: null });
      const rows = await resultsOf(jobId);
      expect(rows.map((r) => [r.test_case_id, r.attempts])).toEqual(
        fixtureChecks.map((c, i) => [`${c.attribute}#check${i}`, 2]).sort(),
      );
      for (const row of rows) {
        const all = await violators(
          sql.raw(fixtureCases[Number(/#check(\d+)$/.exec(row.test_case_id)![1])]!.violates),
          FIXTURE,
        );
        expect([row.checked_records, row.failed_records, row.failing_record_ids.map(Number)]).toEqual([
          300,
          all.length,
          all.slice(0, 10),
        ]);
      }
    } finally {
      await lock.release();
      await impatient.close();
    }
  });

  it('isolates a rule the database refuses at run time as its error, and still runs the rest of its batch', async () => {
    // A well-formed date that does not exist passes the DSL's schema but not PostgreSQL.
    const impossible = {
      attribute: 'account_open_date',
      rule: { kind: 'date_range', notBefore: '2023-02-31' } satisfies ValidationRule,
    };
    const { jobId, result } = await run({
      dataSourceId: FIXTURE,
      checks: [fixtureChecks[0]!, impossible, fixtureChecks[1]!],
      batchSize: 3,
    });
    const rows = await resultsOf(jobId);
    expect(rows.map((r) => [r.test_case_id, r.status, r.attempts])).toEqual([
      ['account_open_date#check1', 'error', 1],
      ['credit_score#check0', 'fail', 1],
      ['email_address#check2', 'pass', 1],
    ]);
    expect(rows[0]!.error).toMatch(/^cannot run: date\/time field value out of range/);
    expect(rows[1]!.failed_records).toBe((await violators(sql.raw(fixtureCases[0]!.violates), FIXTURE)).length);
    expect(result.testCases).toMatchObject({ tests: 3, pass: 1, fail: 1, error: 1 });
  });

  /**
   * Starts a job of one-check batches whose first two scans wait on the lock, pauses it and lets them finish: nothing
   * else starts.
   */
  async function startPausedWithTwoDone(): Promise<string> {
    const lock = await lockFixture();
    const hold: Hold = {
      waitUntilHeld: (jobId, count) =>
        waitFor(
          () => blockedScans(jobId),
          (attempts) => attempts.length === count,
          30_000,
          `${count} scans waiting on the lock`,
        ).then(() => undefined),
      release: () => lock.release(),
      open: () => lock.release(),
      // With the lock still held, a scan gone from pg_stat_activity was cancelled.
      waitUntilInterrupted: (jobId) =>
        waitFor(
          () => blockedScans(jobId),
          (attempts) => attempts.length === 0,
          30_000,
          'the held scans cancelled',
        ).then(() => undefined),
    };
    const many = Array.from({ length: 6 }, (_, i) => fixtureChecks[i % fixtureChecks.length]!);
    const { jobId } = await harness.jobs.startJob({
      jobType: 'test_execution',
      owner,
      dataSourceId: FIXTURE,
      checks: many,
      batchSize: 1,
    });
    try {
      await pauseWhileHeld(harness, principal, jobId, hold, 2, 'executeTestBatch');
    } finally {
      await lock.release();
    }
    expect(await stored(jobId)).toBe(2);
    return jobId;
  }

  it('starts no test case while paused and finishes every one after resume', async () => {
    const jobId = await startPausedWithTwoDone();
    await harness.jobs.resume(principal, jobId);
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', result: { testCases: { tests: 6, executed: 6 } } });
    expect((await resultsOf(jobId)).every((r) => r.attempts === 1 && r.checked_records === 300)).toBe(true);
    recordHistory(jobId, 'test-execution-paused');
  });

  it('cancels, keeping the results stored so far and executing nothing more', async () => {
    const jobId = await startPausedWithTwoDone();
    await harness.jobs.cancel(principal, jobId);
    expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'cancelled' });
    const facts = await jobHistory(harness.temporal, jobId);
    expect(factsAfter(facts, (f) => f.kind === 'cancel-requested').filter((f) => f.kind === 'scheduled')).toEqual([]);
    expect(activityCounts(facts, 'executeTestBatch')).toEqual({ scheduled: 2, completed: 2 });
    expect(await stored(jobId)).toBe(2);
  });

  it('continues as new when the history budget is spent and executes every test case once', async () => {
    const jobs = new JobsClient(harness.temporal, harness.db, { ...harness.config, JOB_HISTORY_EVENT_BUDGET: 40 });
    const many = Array.from({ length: 12 }, (_, i) => fixtureChecks[i % fixtureChecks.length]!);
    const { jobId, result } = await run({ dataSourceId: FIXTURE, checks: many, batchSize: 1 }, jobs);
    expect(result.testCases).toMatchObject({ tests: 12, executed: 12, error: 0 });
    expect((await resultsOf(jobId)).every((r) => r.attempts === 1)).toBe(true);
    const runs = await waitFor(
      async () => {
        const found = [];
        for await (const r of harness.temporal.workflow.list({ query: `WorkflowId = "${jobId}"` }))
          found.push(r.status.name);
        return found;
      },
      (r) => r.includes('COMPLETED'),
      30_000,
      'visibility to list the completed run',
    );
    expect(runs.filter((r) => r === 'CONTINUED_AS_NEW').length).toBeGreaterThan(0);
  });
});
