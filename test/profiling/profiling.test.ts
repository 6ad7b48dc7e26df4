// A data-profiling job end to end: real dev server, real PostgreSQL, the real openai client against the
// stand-in. Checks that every attribute's rules and results are stored exactly once and are correct.

import { sql } from 'kysely';
import { DEMO_DATA_SOURCE_ID, DEMO_TABLE, demoCatalogue } from '../../db/demo-data';
import { progressQuery } from '../../workflows/control/control';
import { createHarness, type Harness } from '../support/harness';
import { recordHistoryIfAsked } from '../support/histories';

let harness: Harness;

beforeAll(async () => {
  harness = await createHarness({ faults: { latencyMs: 50 } });
  await harness.startWorker();
});
afterAll(() => harness.close());

describe('data_profiling job', () => {
  const attributeCount = 60;
  let jobId: string;
  let attributes: string[];

  beforeAll(async () => {
    const catalogue = await demoCatalogue(harness.db);
    attributes = catalogue.slice(0, attributeCount).map((a) => a.name);
    ({ jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling',
      owner: 'analyst-1',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: attributes,
      llmConcurrency: 8,
      metadata: { cycle_id: 3, report_id: 12 },
    }));
    await harness.jobs.waitForJob(jobId);
  });

  it('completes with every attribute profiled and no error', async () => {
    const job = await harness.jobs.job(jobId);
    expect(job).toMatchObject({ status: 'completed', error: null, type: 'data_profiling', owner: 'analyst-1' });
    expect(job?.started_at).toBeInstanceOf(Date);
    expect(job?.completed_at).toBeInstanceOf(Date);
    expect(job?.result).toMatchObject({
      attributesTotal: attributeCount,
      attributesProfiled: attributeCount,
      attributesFailed: 0,
    });
  });

  it('stores rules and results for every attribute exactly once', async () => {
    const results = await harness.db.selectFrom('attribute_results').selectAll().where('job_id', '=', jobId).execute();
    expect(results.map((r) => r.attribute).sort()).toEqual([...attributes].sort());
    expect(results.every((r) => r.status === 'completed' && r.rules_count > 0 && r.llm_attempts === 1)).toBe(true);

    const rules = await harness.db
      .selectFrom('profiling_rules')
      .select(['attribute', 'rule_index'])
      .where('job_id', '=', jobId)
      .execute();
    expect(rules.length).toBe(results.reduce((sum, r) => sum + r.rules_count, 0));
    const ruleResults = await harness.db
      .selectFrom('rule_results')
      .select(['attribute', 'rule_index', 'checked_rows'])
      .where('job_id', '=', jobId)
      .execute();
    expect(ruleResults.length).toBe(rules.length);
    expect(new Set(ruleResults.map((r) => r.checked_rows))).toEqual(new Set([10_000]));
  });

  it('asks the LLM once per attribute', () => {
    for (const attribute of attributes)
      expect(harness.standin.callCount(`${DEMO_DATA_SOURCE_ID}.${attribute}`)).toBe(1);
  });

  it('counts rule violations exactly as a hand-written query does', async () => {
    const stored = await harness.db
      .selectFrom('rule_results as rr')
      .innerJoin('profiling_rules as pr', (join) =>
        join
          .onRef('pr.job_id', '=', 'rr.rules_job_id')
          .onRef('pr.attribute', '=', 'rr.attribute')
          .onRef('pr.rule_index', '=', 'rr.rule_index'),
      )
      .select(['rr.failed_rows', 'pr.rule'])
      .where('rr.job_id', '=', jobId)
      .where('rr.attribute', '=', 'credit_score')
      .execute();
    const range = stored.find((r) => (r.rule as { kind: string }).kind === 'range');
    expect(range?.rule).toEqual({ kind: 'range', min: 300, max: 850 });
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from ${sql.table(DEMO_TABLE)} where credit_score < 300 or credit_score > 850`.execute(
      harness.db,
    );
    expect(rows[0]?.n).toBeGreaterThan(0);
    expect(range?.failed_rows).toBe(rows[0]?.n);
  });

  it('reports full progress through the query and the stored snapshot alike', async () => {
    const full = {
      status: 'completed',
      progressPercentage: 100,
      completedSteps: attributeCount * 2,
      totalSteps: attributeCount * 2,
      failedSteps: 0,
      inFlight: 0,
    };
    // The workflow's own answer (a closed workflow is replayed to answer it) and the jobs row's snapshot.
    expect(await harness.jobs.handle(jobId).query(progressQuery)).toMatchObject(full);
    expect((await harness.jobs.job(jobId))?.progress).toMatchObject(full);
  });
});

describe('data_profiling_rule_execution job', () => {
  let generationJobId: string;
  let executionJobId: string;

  it("runs an earlier generation job's stored rules, with the same counts and no LLM call", async () => {
    const attributeIds = ['credit_score', 'apr_rate', 'email_address', 'account_status'];
    const generation = await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: 'analyst-2',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      llmConcurrency: 4,
    });
    expect(await harness.jobs.waitForJob(generation.jobId)).toMatchObject({ status: 'completed' });
    harness.standin.reset();

    const execution = await harness.jobs.startJob({
      jobType: 'data_profiling_rule_execution',
      owner: 'analyst-2',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      rulesFromJobId: generation.jobId,
      ruleBatchSize: 2,
    });
    [generationJobId, executionJobId] = [generation.jobId, execution.jobId];
    const job = await harness.jobs.waitForJob(execution.jobId);
    expect(job).toMatchObject({ status: 'completed', error: null });
    recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, execution.jobId, 'data-profiling-rule-execution');
    expect(harness.standin.calls()).toHaveLength(0);

    const rules = await harness.db
      .selectFrom('profiling_rules')
      .select(['attribute', 'rule_index'])
      .where('job_id', '=', generation.jobId)
      .execute();
    const results = await harness.db
      .selectFrom('rule_results')
      .select(['attribute', 'rule_index', 'rules_job_id', 'checked_rows'])
      .where('job_id', '=', execution.jobId)
      .execute();
    expect(results.map((r) => `${r.attribute}#${r.rule_index}`).sort()).toEqual(
      rules.map((r) => `${r.attribute}#${r.rule_index}`).sort(),
    );
    expect(results.every((r) => r.rules_job_id === generation.jobId && r.checked_rows === 10_000)).toBe(true);
    expect(job?.result).toMatchObject({
      attributesTotal: 4,
      rulesExecuted: rules.length,
      rowsChecked: rules.length * 10_000,
    });
    expect(job?.progress).toMatchObject({ completedSteps: 4, totalSteps: 4 });
  });

  it('refuses rules from a job that is not a completed rules job of the same data source, starting nothing', async () => {
    // A generation job cancelled while its one call is held at the gate, so it cannot complete first.
    const gate = harness.standin.gate({ items: [`${DEMO_DATA_SOURCE_ID}.credit_score`], limit: 1 });
    const cancelled = await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: 'analyst-2',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: ['credit_score'],
    });
    await gate.waitUntilHeld(1, 30_000);
    await harness.jobs.handle(cancelled.jobId).cancel();
    expect(await harness.jobs.waitForJob(cancelled.jobId)).toMatchObject({ status: 'cancelled' });
    gate.open();
    // The completed generation job's row as if it had profiled another data source.
    const elsewhere = `${generationJobId}-elsewhere`;
    const moved = sql`to_jsonb(j) || jsonb_build_object('id', ${elsewhere}::text, 'workflow_id', ${elsewhere}::text, 'metadata', j.metadata || '{"data_source_id": "another_source"}')`;
    await sql`insert into jobs select (jsonb_populate_record(null::jobs, ${moved})).* from jobs j where j.id = ${generationJobId}`.execute(
      harness.db,
    );

    const refusals: [string, RegExp][] = [
      [cancelled.jobId, /is cancelled, not completed/],
      [executionJobId, /names a data_profiling_rule_execution job/],
      [elsewhere, /profiled another data source/],
    ];
    const before = await harness.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    for (const [rulesFromJobId, message] of refusals) {
      const attempt = harness.jobs.startJob({
        jobType: 'data_profiling_rule_execution',
        owner: 'analyst-2',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        rulesFromJobId,
      });
      await expect(attempt).rejects.toMatchObject({ field: 'rulesFromJobId', message: expect.stringMatching(message) });
    }
    expect(
      await harness.db
        .selectFrom('jobs')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow(),
    ).toEqual(before);
  });
});
