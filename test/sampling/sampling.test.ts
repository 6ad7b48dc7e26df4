// intelligent_sampling end to end (real server, PostgreSQL, the stand-in for the profiling rules): exact
// sample sizes and allocations on the demo table, reproducibility by seed, guaranteed edge cases, bad
// requests naming their field, pause/resume and cancel. RECORD_HISTORIES=1 saves replay histories.

import { msToNumber } from '@temporalio/common/lib/time';
import { sql } from 'kysely';
import { countViolationsPerRule, violationPredicate, type RuleToRun } from '../../activities/rules/rule-sql';
import { InvalidJobRequestError } from '../../client/job-requests';
import { DEMO_DATA_SOURCE_ID, DEMO_TABLE } from '../../db/demo-data';
import { SAMPLING_SCAN_ACTIVITY } from '../../workflows/control/activity-options';
import { cancelWhileHeld, pauseWhileHeld } from '../support/control-checks';
import { createHarness, type Harness } from '../support/harness';
import { recordHistoryIfAsked } from '../support/histories';
import { createScanHold, type ScanHold } from '../support/scan-hold';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness({ faults: { latencyMs: 10 } });
  await harness.startWorker();
});
afterAll(() => harness.close());

const recordHistory = (jobId: string, name: string) =>
  recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, jobId, name);

const owner = 'sampler';
const principal = { subject: owner, admin: false };
const base = {
  jobType: 'intelligent_sampling',
  owner,
  dataSourceId: DEMO_DATA_SOURCE_ID,
  confidenceLevel: 0.95,
  marginOfError: 0.05,
  seed: 7,
} as const;

async function sample(extra: Record<string, unknown>) {
  const { jobId } = await harness.jobs.startJob({ ...base, ...extra });
  const job = await harness.jobs.waitForJob(jobId);
  expect(job).toMatchObject({ status: 'completed', error: null });
  return { jobId, result: job!.result as Record<string, any> };
}

const sampleOf = async (jobId: string) =>
  (
    await harness.db
      .selectFrom('sample_records')
      .select(['row_id', 'stratum', 'reason'])
      .where('job_id', '=', jobId)
      .orderBy('row_id')
      .execute()
  ).map((r) => `${r.row_id}:${r.stratum}:${r.reason}`);

/** Per stratum (as the job names them), how many records the demo table holds: the check of the job's own count. */
async function strataBySql(column: string): Promise<Record<string, number>> {
  const { rows } = await sql<{
    s: string;
    n: number;
  }>`select json_build_array(${sql.id(column)})::text as s, count(*)::int as n from ${sql.table(DEMO_TABLE)} group by 1`.execute(
    harness.db,
  );
  return Object.fromEntries(rows.map((r) => [r.s, r.n]));
}

const allocated = (result: Record<string, any>) =>
  Object.fromEntries(result.strata.map((s: any) => [s.stratum, s.allocated]));

describe('intelligent_sampling', () => {
  it('sizes the sample by Cochran and allocates it proportionally over product_type, exactly', async () => {
    const { jobId, result } = await sample({
      strataColumns: ['product_type'],
      allocation: 'proportional',
      chunkSize: 700,
    });
    // n0 = 1.959964² · 0.25 / 0.05² = 384.146; n = 384.146 / (1 + 383.146/10 000) = 369.97 → 370.
    expect(result.sampleSize).toMatchObject({ population: 10_000, n: 370 });
    expect(result.sampleSize.n0).toBeCloseTo(384.1459, 3);
    const populations = await strataBySql('product_type');
    expect(Object.fromEntries(result.strata.map((s: any) => [s.stratum, s.population]))).toEqual(populations);
    // Quotas 370·N_h/10 000 with N = 2541, 2475, 2470, 2501, 13: 94.02, 91.58, 91.39, 92.54, 0.48; floors
    // 94 + 91 + 91 + 92 + 0 = 368, the two left go to the largest fractions, CLASSIC (.58) and PLATINUM (.54).
    expect(allocated(result)).toEqual({
      '["BUSINESS"]': 94,
      '["CLASSIC"]': 92,
      '["GOLD"]': 91,
      '["PLATINUM"]': 93,
      '[null]': 0,
    });
    const stored = await harness.db
      .selectFrom('sample_records')
      .select(['stratum', (eb) => eb.fn.countAll<number>().as('n')])
      .where('job_id', '=', jobId)
      .groupBy('stratum')
      .execute();
    expect(Object.fromEntries(stored.map((s) => [s.stratum, Number(s.n)]))).toEqual({
      '["BUSINESS"]': 94,
      '["CLASSIC"]': 92,
      '["GOLD"]': 91,
      '["PLATINUM"]': 93,
    });
    // Every sampled record really is in the stratum it is filed under.
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from sample_records s join ${sql.table(DEMO_TABLE)} t using (row_id)
      where s.job_id = ${jobId} and s.stratum = json_build_array(t.product_type)::text`.execute(harness.db);
    expect(rows[0]!.n).toBe(370);
    expect(result).toMatchObject({
      population: 10_000,
      sampleTotal: 370,
      edgeCasesAdded: 0,
      rowsScanned: 20_000,
      seed: 7,
    });
    console.info(
      `sampling figure: ${result.rowsPerSecond} rows/s scanned on the demo table (2 passes of 10 000 rows, chunks of 700, no throttle)`,
    );
    recordHistory(jobId, 'sampling-proportional');
  });

  it('allocates by Neyman (N_h·S_h of current_balance) over account_status, exactly', async () => {
    const { result } = await sample({
      strataColumns: ['account_status'],
      allocation: 'neyman',
      neymanColumn: 'current_balance',
    });
    expect(Object.fromEntries(result.strata.map((s: any) => [s.stratum, s.population]))).toEqual(
      await strataBySql('account_status'),
    );
    const { rows } = await sql<{
      s: string;
      sd: number;
    }>`select json_build_array(account_status)::text as s, stddev_samp(current_balance)::float8 as sd from ${sql.table(DEMO_TABLE)} group by 1`.execute(
      harness.db,
    );
    for (const { s, sd } of rows) expect(result.strata.find((x: any) => x.stratum === s).stddev).toBeCloseTo(sd, 4);
    // N_h·S_h (S_h from stddev_samp): ACTIVE 2473·4020366.66, CLOSED 2489·4009841.54, DELINQUENT 2434·4052438.95,
    // SUSPENDED 2530·3441640.01, active 50·8599.83, null 24·8351.12 → quotas 95.56, 95.93, 94.81, 83.69,
    // 0.004, 0.002; floors sum to 367; the three left go to CLOSED (.93), DELINQUENT (.81), SUSPENDED (.69).
    expect(allocated(result)).toEqual({
      '["ACTIVE"]': 95,
      '["CLOSED"]': 96,
      '["DELINQUENT"]': 95,
      '["SUSPENDED"]': 84,
      '["active"]': 0,
      '[null]': 0,
    });
    expect(result.sampleTotal).toBe(370);
  });

  it('draws the same sample for the same seed whatever the chunking, and another for another seed', async () => {
    const first = await sample({ strataColumns: ['risk_grade'], chunkSize: 1_000, chunksPerUnit: 2 });
    const again = await sample({ strataColumns: ['risk_grade'], chunkSize: 137, chunksPerUnit: 3 });
    const other = await sample({ strataColumns: ['risk_grade'], chunkSize: 1_000, chunksPerUnit: 2, seed: 8 });
    const firstSample = await sampleOf(first.jobId);
    expect(firstSample).toHaveLength(370);
    expect(await sampleOf(again.jobId)).toEqual(firstSample);
    const otherSample = await sampleOf(other.jobId);
    expect(otherSample).toHaveLength(370);
    expect(otherSample).not.toEqual(firstSample);
  });

  it('puts a null, the minimum and maximum of each edge column and a violator of every violated rule in the sample', async () => {
    const rulesJob = await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: ['credit_score', 'billing_zip', 'account_status', 'email_address'],
    });
    expect(await harness.jobs.waitForJob(rulesJob.jobId)).toMatchObject({ status: 'completed' });
    const edgeCaseColumns = ['credit_score', 'annual_income', 'account_open_date'];
    // A small sample (99 %, ±20 %: 42 records) so that most edge cases are not there by chance.
    const { jobId, result } = await sample({
      marginOfError: 0.2,
      confidenceLevel: 0.99,
      edgeCaseColumns,
      rulesFromJobId: rulesJob.jobId,
      strataColumns: ['product_type'],
    });
    expect(result.sampleSize.n).toBe(42);

    const inSample = async (where: ReturnType<typeof sql>) =>
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from sample_records s join ${sql.table(DEMO_TABLE)} t using (row_id) where s.job_id = ${jobId} and (${where})`.execute(
          harness.db,
        )
      ).rows[0]!.n;
    for (const column of edgeCaseColumns) {
      const col = sql.id(column);
      const hasNulls =
        (
          await sql<{
            n: number;
          }>`select count(*)::int as n from ${sql.table(DEMO_TABLE)} where ${col} is null`.execute(harness.db)
        ).rows[0]!.n > 0;
      if (hasNulls) expect(await inSample(sql`t.${col} is null`)).toBeGreaterThan(0);
      expect(await inSample(sql`t.${col} = (select min(${col}) from ${sql.table(DEMO_TABLE)})`)).toBeGreaterThan(0);
      expect(await inSample(sql`t.${col} = (select max(${col}) from ${sql.table(DEMO_TABLE)})`)).toBeGreaterThan(0);
    }

    const stored = await harness.db
      .selectFrom('profiling_rules')
      .select(['attribute', 'rule_index', 'rule'])
      .where('job_id', '=', rulesJob.jobId)
      .execute();
    const rules: RuleToRun[] = stored.map((r) => ({
      attribute: { name: r.attribute, dataType: 'text', description: '' },
      ruleIndex: r.rule_index,
      rule: r.rule,
    }));
    const { counts } = await countViolationsPerRule(harness.db, DEMO_TABLE, rules, 60_000);
    const violated = rules.filter((_, i) => counts[i]!.failedRows > 0);
    expect(violated.length).toBeGreaterThan(0);
    for (const { attribute, rule } of violated)
      expect(await inSample(violationPredicate(rule, attribute.name, DEMO_TABLE))).toBeGreaterThan(0);

    // Added records are named by the case they show, never duplicate a sampled one, and sit in their stratum.
    const reasons = (await sampleOf(jobId)).map((r) => r.split(':').slice(2).join(':'));
    expect(reasons.filter((r) => r === 'random')).toHaveLength(42);
    expect(result.edgeCasesAdded).toBe(reasons.length - 42);
    expect(result.edgeCasesAdded).toBeGreaterThan(0);
    for (const edge of result.edgeCases)
      expect(edge.reason).toMatch(
        /^edge:(null|min|max):(credit_score|annual_income|account_open_date)$|^edge:rule:[a-z_]+#\d+$/,
      );
    expect(result.coverage.absent).toContain('edge:null:account_open_date'); // the demo generates no null open dates
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown strata column', { strataColumns: ['product_type', 'no_such_column'] }, 'strataColumns.1'],
    ['an unknown edge column', { edgeCaseColumns: ['credit_score"; drop table jobs; --'] }, 'edgeCaseColumns.0'],
    ['Neyman without its column', { strataColumns: ['product_type'], allocation: 'neyman' }, 'neymanColumn'],
    [
      'Neyman on a text column',
      { strataColumns: ['product_type'], allocation: 'neyman', neymanColumn: 'email_address' },
      'neymanColumn',
    ],
    ['a margin of error of 0.5', { marginOfError: 0.5 }, 'marginOfError'],
    ['a confidence level of 1', { confidenceLevel: 1 }, 'confidenceLevel'],
    ['a fractional seed', { seed: 1.5 }, 'seed'],
    ['rules from a missing job', { rulesFromJobId: 'nope' }, 'rulesFromJobId'],
  ])('rejects %s, naming the field', async (_name, extra, field) => {
    const attempt = harness.jobs.startJobFromJson({ ...base, ...extra });
    await expect(attempt).rejects.toBeInstanceOf(InvalidJobRequestError);
    await expect(attempt).rejects.toMatchObject({ field });
  });
});

describe('sampling job control', () => {
  let held: ScanHold;
  beforeAll(async () => {
    // Every demo row, read through a view whose scans the test holds: the same sample as the demo table's.
    held = await createScanHold(harness, 'sampling_held', 10_000);
  });
  afterAll(() => held?.end());
  afterEach(() => held.open());
  const throughHold = {
    dataSourceId: 'sampling_held',
    strataColumns: ['product_type'],
    chunkSize: 100,
    chunksPerUnit: 4,
  };
  const scanned = async (jobId: string) =>
    Number(
      (
        await sql<{
          n: number;
        }>`select coalesce(sum(rows_scanned), 0)::int as n from sampling_scan_progress where job_id = ${jobId}`.execute(
          harness.db,
        )
      ).rows[0]!.n,
    );

  it('stops scanning while paused and resumes to the same sample an uninterrupted run draws', async () => {
    await held.close();
    const { jobId } = await harness.jobs.startJob({ ...base, ...throughHold });
    // The first unit is held when the pause lands; it finishes, and nothing more is scanned while paused.
    await pauseWhileHeld(harness, principal, jobId, held, 1, 'scanSamplingUnit');
    const paused = await harness.jobs.status(principal, jobId);
    expect(paused.completed_steps).toBe(400);
    expect(paused.completed_steps ?? 0).toBeLessThan(paused.total_steps ?? 0);
    await harness.jobs.resume(principal, jobId);
    expect(await harness.jobs.waitForJob(jobId)).toMatchObject({
      status: 'completed',
      result: { rowsScanned: 20_000, sampleTotal: 370 },
    });

    const reference = await sample({ strataColumns: ['product_type'] });
    expect(await sampleOf(jobId)).toEqual(await sampleOf(reference.jobId));
    recordHistory(jobId, 'sampling-paused');
  });

  it('cancels a running scan, keeping no sample', async () => {
    await held.close();
    const { jobId } = await harness.jobs.startJob({ ...base, ...throughHold });
    await cancelWhileHeld(
      harness,
      principal,
      jobId,
      held,
      1,
      'scanSamplingUnit',
      msToNumber(SAMPLING_SCAN_ACTIVITY.heartbeatTimeout!),
    );
    expect(await scanned(jobId)).toBe(0);
    expect(await sampleOf(jobId)).toEqual([]);
  });
});

describe('a data source whose stored values do not fit its catalogue', () => {
  it('fails at once, naming the SQLSTATE, when the Neyman column holds a value that is not a number', async () => {
    const table = 'sampling_mistyped_rate';
    await sql`create table ${sql.table(table)} as select * from ${sql.table(DEMO_TABLE)} where row_id <= 500`.execute(
      harness.db,
    );
    // The catalogue still says numeric.
    await sql`alter table ${sql.table(table)} alter column apr_rate type text`.execute(harness.db);
    await sql`update ${sql.table(table)} set apr_rate = 'n/a' where row_id = 250`.execute(harness.db);
    await harness.db
      .insertInto('data_sources')
      .values({ id: table, table_name: table, description: 'apr_rate stored as text', record_id_column: 'row_id' })
      .execute();
    await sql`insert into data_source_attributes (data_source_id, name, data_type, description, position)
      select ${table}, name, data_type, description, position from data_source_attributes where data_source_id = ${DEMO_DATA_SOURCE_ID}`.execute(
      harness.db,
    );

    const { jobId } = await harness.jobs.startJob({
      ...base,
      dataSourceId: table,
      strataColumns: ['product_type'],
      allocation: 'neyman',
      neymanColumn: 'apr_rate',
    });
    expect(await harness.jobs.waitForJob(jobId)).toMatchObject({
      status: 'failed',
      error: `invalid input syntax for type double precision: "n/a" (table ${table}, SQLSTATE 22P02)`,
    });
    // The scan unit that met the value failed on its first attempt: the same rows give the same error every time.
    const { events } = await harness.jobs.handle(jobId).fetchHistory();
    const failedScans = (events ?? []).filter(
      (e) => e.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type === 'DataSourceError',
    );
    expect(failedScans).toHaveLength(1);
    const started = (events ?? []).find(
      (e) => String(e.eventId) === String(failedScans[0]!.activityTaskFailedEventAttributes!.startedEventId),
    );
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(1);
  }, 60_000);
});
