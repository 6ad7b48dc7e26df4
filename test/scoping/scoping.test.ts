// The scoping jobs end to end (real server, PostgreSQL, the stand-in): exact stored assessments and scores,
// profiling results raising an attribute's score, scope optimisation within a budget (and what it leaves
// uncovered), per-attribute failures, pause/resume, cancel, the answer cache and continue-as-new.
// RECORD_HISTORIES=1 saves replay histories.

import { msToNumber } from '@temporalio/common/lib/time';
import { scopingItemKey } from '../../activities/scoping/scoping-prompts';
import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import { LLM_ACTIVITY } from '../../workflows/control/activity-options';
import { cancelWhileHeld, heldAtGate, pauseWhileHeld } from '../support/control-checks';
import { createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/waiting';
import { recordHistoryIfAsked } from '../support/histories';

let harness: Harness;
let firstTwenty: string[];

beforeAll(async () => {
  // A 50-event budget (the least allowed): a 20-attribute job spans several runs. At 80 about one run in eight
  // started all 20 before its history reached the budget (answers arriving together make fewer events).
  harness = await createHarness({ faults: { latencyMs: 20 }, config: { JOB_HISTORY_EVENT_BUDGET: 50 } });
  await harness.startWorker();
  const catalogue = await demoCatalogue(harness.db);
  firstTwenty = catalogue.slice(0, 20).map((a) => a.name);
});
afterAll(() => harness.close());
beforeEach(() => {
  harness.standin.reset();
  harness.standin.setFaults({ latencyMs: 20 });
});

const recordHistory = (jobId: string, name: string) =>
  recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, jobId, name);

async function startScoping(
  jobType: 'scoping_recommendations' | 'generate_scoping_recommendations',
  owner: string,
  extra: Record<string, unknown> = {},
) {
  return (
    await harness.jobs.startJob({
      jobType,
      owner,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: firstTwenty,
      llmConcurrency: 4,
      ...extra,
    })
  ).jobId;
}

const assessmentsOf = async (jobId: string) =>
  (
    await harness.db
      .selectFrom('scoping_assessments')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('attribute')
      .execute()
  ).map((a) => ({
    attribute: a.attribute,
    inScope: a.in_scope,
    risk: a.risk,
    score: a.score,
    tests: a.recommended_tests.map((t) => t.test),
  }));

const selectionOf = (jobId: string) =>
  harness.db
    .selectFrom('scoping_selection')
    .select(['test_kind', 'cost', 'covers', 'applies_to'])
    .where('job_id', '=', jobId)
    .orderBy('test_kind')
    .execute();

const row = (attribute: string, risk: string, score: number, tests: string[]) => ({
  attribute,
  inScope: risk !== 'low',
  risk,
  score,
  tests,
});

/**
 * The stand-in's answers for the first 20 demo columns, scored by activities/scoping/risk-score.ts (see
 * docs/scoping.md).
 */
const EXPECTED_FIRST_TWENTY = [
  row('account_id', 'high', 55, ['completeness', 'validity', 'uniqueness']), // 50 + identifier 5
  row('account_open_date', 'medium', 30, ['completeness']),
  row('account_status', 'medium', 30, ['validity', 'consistency']),
  row('acquisition_channel', 'low', 5, []), // (10) halved: out of scope
  row('annual_income', 'medium', 37, ['accuracy']), // 30 + financial 7
  row('apr_rate', 'medium', 37, ['accuracy']),
  row('billing_state', 'low', 5, []),
  row('billing_zip', 'high', 60, ['validity', 'consistency']), // 50 + personal 10
  row('cardholder_age', 'low', 5, []),
  row('credit_limit', 'medium', 37, ['accuracy', 'reconciliation']),
  row('credit_score', 'medium', 30, ['accuracy']),
  row('current_balance', 'medium', 37, ['accuracy', 'reconciliation']),
  row('customer_id', 'high', 55, ['completeness', 'validity']),
  row('days_past_due', 'medium', 37, ['accuracy', 'reconciliation']),
  row('email_address', 'high', 60, ['validity']),
  row('last_payment_date', 'medium', 37, ['reconciliation']),
  row('last_statement_date', 'medium', 30, ['timeliness']),
  row('minimum_payment_due', 'medium', 37, ['accuracy', 'reconciliation']),
  row('phone_number', 'high', 60, ['validity']),
  row('product_type', 'low', 5, []),
];

describe('generate_scoping_recommendations', () => {
  it('assesses every attribute once across continued runs, storing the exact recommendations and scores', async () => {
    const jobId = await startScoping('generate_scoping_recommendations', 'scoper');
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', error: null });
    expect(await assessmentsOf(jobId)).toEqual(EXPECTED_FIRST_TWENTY);
    expect(job?.result).toEqual({
      dataSourceId: DEMO_DATA_SOURCE_ID,
      profilingJobId: null,
      attributesTotal: 20,
      attributesAssessed: 20,
      attributesFailed: 0,
      byRisk: { low: 4, medium: 11, high: 5 },
      inScope: 16,
      topRecommendations: [
        { attribute: 'billing_zip', score: 60, risk: 'high', inScope: true, tests: ['validity', 'consistency'] },
        { attribute: 'email_address', score: 60, risk: 'high', inScope: true, tests: ['validity'] },
        { attribute: 'phone_number', score: 60, risk: 'high', inScope: true, tests: ['validity'] },
        {
          attribute: 'account_id',
          score: 55,
          risk: 'high',
          inScope: true,
          tests: ['completeness', 'validity', 'uniqueness'],
        },
        { attribute: 'customer_id', score: 55, risk: 'high', inScope: true, tests: ['completeness', 'validity'] },
        ...['annual_income', 'apr_rate', 'credit_limit', 'current_balance', 'days_past_due'].map((a) =>
          expect.objectContaining({ attribute: a, score: 37 }),
        ),
      ],
      failedAttributes: [],
      llm: { calls: 20, cachedCalls: 0, promptTokens: expect.any(Number), completionTokens: expect.any(Number) },
    });
    expect(job?.progress).toMatchObject({ completedSteps: 20, totalSteps: 20, progressPercentage: 100 });
    expect(await selectionOf(jobId)).toEqual([]);
    for (const attribute of firstTwenty)
      expect(harness.standin.callCount(scopingItemKey(DEMO_DATA_SOURCE_ID, attribute))).toBe(1);

    const runs: string[] = [];
    const listRuns = async () => {
      runs.length = 0;
      for await (const run of harness.temporal.workflow.list({ query: `WorkflowId = "${jobId}"` }))
        runs.push(run.status.name);
      return runs;
    };
    // Visibility lags a little behind the runs themselves.
    await waitFor(listRuns, (r) => r.includes('COMPLETED'), 30_000, 'visibility to list the completed run');
    expect(runs.length).toBeGreaterThan(1);
    expect(runs.filter((r) => r === 'CONTINUED_AS_NEW')).toHaveLength(runs.length - 1);
    recordHistory(jobId, 'scoping-generate');
  });

  it('rejects a budget, unknown attributes and unusable profiling jobs, naming the field', async () => {
    const start = (extra: Record<string, unknown>) => startScoping('generate_scoping_recommendations', 'scoper', extra);
    await expect(start({ testBudget: 5 })).rejects.toMatchObject({ field: 'testBudget' });
    await expect(start({ attributeIds: ['credit_score', 'nope'] })).rejects.toMatchObject({ field: 'attributeIds.1' });
    await expect(start({ profilingJobId: 'no-such-job' })).rejects.toMatchObject({ field: 'profilingJobId' });
    await expect(startScoping('scoping_recommendations', 'scoper', { testBudget: -1 })).rejects.toMatchObject({
      field: 'testBudget',
    });
    const other = await startScoping('generate_scoping_recommendations', 'scoper', { attributeIds: ['product_type'] });
    await harness.jobs.waitForJob(other);
    await expect(start({ profilingJobId: other })).rejects.toMatchObject({
      field: 'profilingJobId',
      message: expect.stringContaining('generate_scoping_recommendations job'),
    });
  });
});

describe('scoping_recommendations', () => {
  it('chooses the single cheapest test covering every high-risk attribute when the budget allows', async () => {
    const jobId = await startScoping('scoping_recommendations', 'optimiser', { testBudget: 10 });
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', error: null });
    expect(job?.result).toMatchObject({
      byRisk: { low: 4, medium: 11, high: 5 },
      inScope: 16,
      selection: {
        budget: 10,
        budgetUsed: 2,
        method: 'exact',
        tests: [{ test: 'validity', cost: 2, covers: 5, appliesTo: 6 }],
        highRiskInScope: 5,
        covered: 5,
        uncoveredCount: 0,
        uncoveredHighRisk: [],
      },
    });
    expect(job?.progress).toMatchObject({ completedSteps: 21, totalSteps: 21 });
    expect(await selectionOf(jobId)).toEqual([
      {
        test_kind: 'validity',
        cost: 2,
        covers: ['billing_zip', 'email_address', 'phone_number', 'account_id', 'customer_id'],
        applies_to: ['billing_zip', 'email_address', 'phone_number', 'account_id', 'customer_id', 'account_status'],
      },
    ]);
    recordHistory(jobId, 'scoping-recommendations');
  });

  it('completes within a budget too small for every high-risk attribute and names those left uncovered', async () => {
    const jobId = await startScoping('scoping_recommendations', 'optimiser', { testBudget: 1 });
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', error: null });
    expect(job?.result).toMatchObject({
      selection: {
        budget: 1,
        budgetUsed: 1,
        tests: [{ test: 'completeness', cost: 1, covers: 2, appliesTo: 3 }],
        covered: 2,
        uncoveredCount: 3,
        uncoveredHighRisk: ['billing_zip', 'email_address', 'phone_number'],
      },
    });
    expect(await selectionOf(jobId)).toEqual([
      {
        test_kind: 'completeness',
        cost: 1,
        covers: ['account_id', 'customer_id'],
        applies_to: ['account_id', 'customer_id', 'account_open_date'],
      },
    ]);
  });

  it('records an attribute whose answers stay invalid as failed with the reason, and goes on', async () => {
    harness.standin.setFaults({
      latencyMs: 20,
      rules: [{ kind: 'malformed', items: [scopingItemKey(DEMO_DATA_SOURCE_ID, 'email_address')] }],
    });
    const jobId = await startScoping('scoping_recommendations', 'optimiser', {
      attributeIds: ['email_address', 'phone_number', 'product_type'],
    });
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({
      status: 'completed',
      error: expect.stringContaining('1 of 3 attributes failed: email_address (invalid LLM output after 3 attempts'),
    });
    expect(job?.result).toMatchObject({
      attributesAssessed: 2,
      attributesFailed: 1,
      selection: { tests: [{ test: 'validity' }], covered: 1, uncoveredCount: 0 },
    });
    const failed = await harness.db
      .selectFrom('scoping_assessments')
      .selectAll()
      .where('job_id', '=', jobId)
      .where('attribute', '=', 'email_address')
      .executeTakeFirstOrThrow();
    expect(failed).toMatchObject({
      status: 'failed',
      score: null,
      llm_attempts: 3,
      failure_reason: expect.stringContaining('not JSON'),
    });
  });
});

describe('scoping with profiling results', () => {
  it("puts the profiling job's failing rules into the prompt and the score", async () => {
    const profiled = ['credit_score', 'annual_income', 'product_type'];
    const { jobId: profilingJobId } = await harness.jobs.startJob({
      jobType: 'data_profiling',
      owner: 'scoper',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: profiled,
      llmConcurrency: 3,
    });
    expect(await harness.jobs.waitForJob(profilingJobId)).toMatchObject({ status: 'completed' });

    const jobId = await startScoping('generate_scoping_recommendations', 'scoper', {
      attributeIds: profiled,
      profilingJobId,
    });
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', error: null, result: { profilingJobId } });
    const stored = new Map(
      (await harness.db.selectFrom('scoping_assessments').selectAll().where('job_id', '=', jobId).execute()).map(
        (a) => [a.attribute, a],
      ),
    );
    const plain = new Map(EXPECTED_FIRST_TWENTY.map((r) => [r.attribute, r]));

    // credit_score fails its range (999s) and not-null rules, both high severity: high risk, scored higher.
    const creditScore = stored.get('credit_score')!;
    expect(creditScore).toMatchObject({
      risk: 'high',
      in_scope: true,
      rationale: expect.stringMatching(/fails .*range/),
    });
    expect(creditScore.score!).toBeGreaterThan(plain.get('credit_score')!.score);
    expect(creditScore.recommended_tests.map((t) => t.test)).toEqual(['completeness', 'accuracy']);
    expect(
      (creditScore.profiling as { rules: { kind: string; failedRows: number }[] }).rules
        .filter((r) => r.failedRows > 0)
        .map((r) => r.kind)
        .sort(),
    ).toEqual(['not_null', 'range']);
    // product_type's rare nulls put an otherwise out-of-scope attribute in scope.
    expect(stored.get('product_type')).toMatchObject({ risk: 'high', in_scope: true });
    expect(stored.get('product_type')!.score!).toBeGreaterThan(plain.get('product_type')!.score);
    // annual_income passes every rule it has: the same answer and score as without profiling.
    expect(stored.get('annual_income')).toMatchObject({ risk: 'medium', score: plain.get('annual_income')!.score });
  });
});

describe('scoping job control', () => {
  const owner = 'controller';
  const principal = { subject: owner, admin: false };

  it('pauses without starting new assessments and resumes with every attribute assessed exactly once', async () => {
    const attributeIds = firstTwenty.slice(0, 12);
    // The first two assessments go through; the pause lands while the next two are held.
    const gate = harness.standin.gate({ fromCall: 3 });
    const jobId = await startScoping('scoping_recommendations', owner, { attributeIds, llmConcurrency: 2 });
    await pauseWhileHeld(harness, principal, jobId, heldAtGate(gate), 2, 'assessAttributeScope');
    expect(harness.standin.calls()).toHaveLength(4);

    gate.open();
    await harness.jobs.resume(principal, jobId);
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({
      status: 'completed',
      result: { attributesAssessed: 12, selection: { uncoveredCount: 0 } },
    });
    for (const attribute of attributeIds)
      expect(harness.standin.callCount(scopingItemKey(DEMO_DATA_SOURCE_ID, attribute))).toBe(1);
    recordHistory(jobId, 'scoping-recommendations-paused');
  });

  it('cancels a running scoping job, keeping the assessments made so far and choosing no tests', async () => {
    // The first two assessments go through; the cancel lands while the next two are held.
    const gate = harness.standin.gate({ fromCall: 3 });
    const jobId = await startScoping('scoping_recommendations', owner, { llmConcurrency: 2 });
    await cancelWhileHeld(
      harness,
      principal,
      jobId,
      heldAtGate(gate),
      2,
      'assessAttributeScope',
      msToNumber(LLM_ACTIVITY.heartbeatTimeout!),
    );
    const assessed = await harness.db
      .selectFrom('scoping_assessments')
      .select('attribute')
      .where('job_id', '=', jobId)
      .execute();
    expect(assessed.map((a) => a.attribute).sort()).toEqual(firstTwenty.slice(0, 2).sort());
    expect(await selectionOf(jobId)).toEqual([]);
  });
});

describe('scoping with the answer cache', () => {
  it('answers a repeated job from the cache with zero stand-in calls and the same results', async () => {
    const attributeIds = firstTwenty.slice(0, 6);
    const first = await startScoping('scoping_recommendations', 'cached', { attributeIds, useLlmCache: true });
    expect(await harness.jobs.waitForJob(first)).toMatchObject({ status: 'completed' });
    harness.standin.reset();
    const second = await startScoping('scoping_recommendations', 'cached', { attributeIds, useLlmCache: true });
    const job = await harness.jobs.waitForJob(second);
    expect(job).toMatchObject({
      status: 'completed',
      result: { llm: { calls: 6, cachedCalls: 6, promptTokens: 0, completionTokens: 0 } },
    });
    expect(harness.standin.calls()).toHaveLength(0);
    expect(await assessmentsOf(second)).toEqual(await assessmentsOf(first));
  });
});
