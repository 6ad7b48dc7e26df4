// The LLM misbehaving: each fault alone (429s with Retry-After, 5xx bursts, hangs, refusals, malformed output),
// storms across whole jobs (half of all calls answered 429, 5xx, hangs and garbage mixed together), and every call
// answered 429 for minutes (with and without the fleet budget). Every job ends — completed, or with each failed
// attribute and its reason — and never hangs (the Jest timeout is that bound). Nothing is stored twice or asked
// again once stored.

import type { FaultPlan } from '../../llm-standin/server';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import type { Config } from '../../config';
import { createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/waiting';
import { demoAttributes, expectEachItemStoredOnce, itemKey, slowIt, waitUntilFinal } from './support/evidence';
import { activityRunsFor } from './support/history';

let harness: Harness;
beforeAll(async () => {
  // A hung request is abandoned after 1.5 s instead of the default minute.
  harness = await createHarness({ config: { LLM_REQUEST_TIMEOUT_MS: 1_500 } });
  await harness.startWorker();
});
afterAll(() => harness.close());
beforeEach(() => harness.standin.reset());

/** A small job of eight attributes through whatever faults the stand-in was given. */
async function runJob(attributeIds: string[]) {
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner: 'faults',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds,
    llmConcurrency: 10,
  });
  const job = await harness.jobs.waitForJob(jobId);
  const results = await harness.db
    .selectFrom('attribute_results')
    .selectAll()
    .where('job_id', '=', jobId)
    .orderBy('attribute')
    .execute();
  return { job, results };
}

const attributes = [
  'credit_score',
  'apr_rate',
  'credit_limit',
  'account_status',
  'billing_zip',
  'email_address',
  'phone_number',
  'cardholder_age',
];

describe('each LLM fault alone', () => {
  it('waits at least the Retry-After of every 429 before asking again, and completes', async () => {
    harness.standin.setFaults({ rules: [{ kind: 'rate_limit', firstCallsPerItem: 2, retryAfterSeconds: 2 }] });
    const { job, results } = await runJob(attributes);
    expect(job?.status).toBe('completed');
    expect(results.every((r) => r.status === 'completed')).toBe(true);
    for (const attribute of attributes) {
      const calls = harness.standin.calls().filter((c) => c.itemKey === itemKey(attribute));
      expect(calls.map((c) => c.outcome)).toEqual(['rate_limited', 'rate_limited', 'ok']);
      for (let i = 1; i < calls.length; i++)
        expect(calls[i]!.receivedAt - calls[i - 1]!.receivedAt).toBeGreaterThanOrEqual(2_000);
    }
  });

  it('rides out 5xx bursts and hung requests', async () => {
    harness.standin.setFaults({
      rules: [
        {
          kind: 'server_error',
          items: [itemKey('credit_score'), itemKey('apr_rate')],
          firstCallsPerItem: 2,
          status: 503,
        },
        { kind: 'hang', items: [itemKey('credit_limit')], firstCallsPerItem: 1 },
      ],
    });
    const { job, results } = await runJob(attributes);
    expect(job?.status).toBe('completed');
    expect(results.filter((r) => r.status === 'completed')).toHaveLength(attributes.length);
    expect(harness.standin.callCount(itemKey('credit_score'))).toBe(3);
    const hung = harness.standin.calls().filter((c) => c.itemKey === itemKey('credit_limit'));
    expect(hung.map((c) => c.outcome)).toEqual(['client_aborted', 'ok']);
  });

  it('records malformed and wrongly shaped output as failed attributes with the reason, and completes the rest', async () => {
    harness.standin.setFaults({
      rules: [
        { kind: 'malformed', items: [itemKey('credit_score')] },
        { kind: 'wrong_shape', items: [itemKey('apr_rate')] },
      ],
    });
    const { job, results } = await runJob(attributes);
    expect(job?.status).toBe('completed');
    expect(job?.error).toMatch(/^2 of 8 attributes failed: /);
    const failed = results.filter((r) => r.status === 'failed');
    expect(failed.map((r) => r.attribute)).toEqual(['apr_rate', 'credit_score']);
    expect(failed.find((r) => r.attribute === 'credit_score')?.failure_reason).toMatch(
      /invalid LLM output after 3 attempts: not JSON/,
    );
    expect(failed.find((r) => r.attribute === 'apr_rate')?.failure_reason).toMatch(
      /invalid LLM output after 3 attempts: does not match the schema \(rules: /,
    );
    // Re-asking is bounded: three tries, no more.
    expect(harness.standin.callCount(itemKey('credit_score'))).toBe(3);
    expect(job?.result).toMatchObject({ attributesFailed: 2, attributesProfiled: 6 });
  });

  it('does not retry a request the provider rejects, and says why', async () => {
    harness.standin.setFaults({ rules: [{ kind: 'server_error', items: [itemKey('billing_zip')], status: 400 }] });
    const { job, results } = await runJob(attributes);
    expect(job?.status).toBe('completed');
    expect(harness.standin.callCount(itemKey('billing_zip'))).toBe(1);
    expect(results.find((r) => r.attribute === 'billing_zip')).toMatchObject({
      status: 'failed',
      failure_reason: expect.stringMatching(/LLM rejected the request \(400\)/),
    });
  });

  it('fails the job when every attribute fails, with the reasons', async () => {
    harness.standin.setFaults({ rules: [{ kind: 'malformed' }] });
    const { job } = await runJob(['credit_score', 'apr_rate']);
    expect(job?.status).toBe('failed');
    expect(job?.error).toMatch(/2 of 2 attributes failed/);
  });
});

/**
 * A storm in which every attribute's first call is a 429 with Retry-After (half of all calls when nothing
 * else goes wrong) and the attributes take turns at the other faults: 5xx bursts, a hung request, garbage
 * that clears, and garbage that never clears. Chosen per item and call index rather than by the stand-in's
 * `fraction`, so that which attributes must fail, and why, is known exactly.
 */
function storm(attributes: string[], mix: boolean): FaultPlan {
  const group = (n: number) => attributes.filter((_, i) => mix && i % 5 === n).map(itemKey);
  return {
    latencyMs: 20,
    rules: [
      { kind: 'rate_limit', firstCallsPerItem: 1, retryAfterSeconds: 1 },
      { kind: 'server_error', items: group(1), firstCallsPerItem: 3, status: 503 },
      { kind: 'hang', items: group(2), firstCallsPerItem: 2 },
      { kind: 'malformed', items: group(3), firstCallsPerItem: 2 },
      { kind: 'malformed', items: group(4) },
    ],
  };
}

async function runThroughStorm(attributeCount: number, mix: boolean) {
  const attributes = await demoAttributes(harness, attributeCount);
  harness.standin.setFaults(storm(attributes, mix));
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner: 'llm-storm',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: attributes,
    llmConcurrency: 10,
  });
  const job = await waitUntilFinal(harness, jobId);
  const results = await harness.db
    .selectFrom('attribute_results')
    .select(['attribute', 'status', 'failure_reason'])
    .where('job_id', '=', jobId)
    .execute();
  const outcomes: Record<string, number> = {};
  for (const call of harness.standin.calls()) outcomes[call.outcome] = (outcomes[call.outcome] ?? 0) + 1;
  return { jobId, job, attributes, results, outcomes };
}

async function expectEveryItemEndedOnce(run: Awaited<ReturnType<typeof runThroughStorm>>) {
  await expectEachItemStoredOnce(harness, run.jobId, run.attributes);
  const failed = run.results.filter((r) => r.status === 'failed');
  for (const result of failed) expect(result.failure_reason).toMatch(/invalid LLM output after \d+ attempts|LLM/);
  if (failed.length === 0) expect(run.job.status).toBe('completed');
  else expect(run.job.error).toMatch(new RegExp(`^${failed.length} of ${run.attributes.length} attributes failed: `));
}

it('absorbs a 429 with Retry-After on half of all calls and completes every attribute', async () => {
  const run = await runThroughStorm(20, false);
  expect(run.job.status).toBe('completed');
  expect(run.results.every((r) => r.status === 'completed')).toBe(true);
  // Exactly one 429 and one answer per attribute: each 429 waited out once, nothing answered twice.
  expect(run.outcomes).toEqual({ rate_limited: 20, ok: 20 });
  await expectEveryItemEndedOnce(run);
}, 180_000);

it('ends a job through 429s, 5xx bursts, hangs and garbage, failing only the attributes whose answers never parse, with the reason', async () => {
  const run = await runThroughStorm(15, true);
  const neverParses = run.attributes.filter((_, i) => i % 5 === 4);
  expect(run.job.status).toBe('completed');
  const failed = run.results.filter((r) => r.status === 'failed');
  expect(failed.map((r) => r.attribute).sort()).toEqual([...neverParses].sort());
  for (const result of failed) expect(result.failure_reason).toMatch(/^invalid LLM output after 3 attempts: not JSON/);
  for (const kind of ['rate_limited', 'server_error', 'client_aborted', 'malformed', 'ok'])
    expect(run.outcomes[kind] ?? 0).toBeGreaterThan(0);
  await expectEveryItemEndedOnce(run);
  console.info(
    `mixed storm: ${failed.length} of ${run.attributes.length} failed; calls ${JSON.stringify(run.outcomes)}`,
  );
}, 240_000);

slowIt(
  'ends a 100-attribute job through the same storm, every attribute stored once',
  async () => {
    const run = await runThroughStorm(100, true);
    expect(run.job.status).toBe('completed');
    expect(run.results.filter((r) => r.status === 'failed')).toHaveLength(20);
    await expectEveryItemEndedOnce(run);
    console.info(`big storm: calls ${JSON.stringify(run.outcomes)}`);
  },
  900_000,
);

/**
 * LLM_ACTIVITY's maximumAttempts before transient failures were retried by time: a storm this long failed every
 * attribute.
 */
const OLD_ATTEMPTS = 10;

/**
 * Every call answered 429 (Retry-After 1 s) until every attribute has been refused `rateLimits` times, then the
 * provider is back. Before transient failures were retried by time, more than ten 429s failed every attribute;
 * the default LLM_RETRY_SPAN_MS (30 min) rides them out on each activity's first attempt. The storm is measured
 * in 429s per attribute at the stand-in, not in seconds, and the job must still be running when it ends.
 */
describe.each([
  ['without a budget', {}],
  [
    'with the fleet budget',
    { LLM_BUDGET_ENABLED: true, OPENAI_MODEL: 'storm-budget-model', LLM_RPM_LIMIT: 1_000, LLM_TPM_LIMIT: 10_000_000 },
  ],
] as [string, Partial<Config>][])('a storm of nothing but 429s (%s)', (_label, budget) => {
  let stormHarness: Harness;
  beforeAll(async () => {
    stormHarness = await createHarness({ config: { ...budget, LLM_REQUEST_TIMEOUT_MS: 1_500 } });
    await stormHarness.startWorker();
  });
  afterAll(() => stormHarness.close());

  async function surviveStorm(rateLimits: number, boundMs: number) {
    const attributes = await demoAttributes(stormHarness, 10);
    stormHarness.standin.setFaults({ latencyMs: 20, rules: [{ kind: 'rate_limit', retryAfterSeconds: 1 }] });
    const { jobId } = await stormHarness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: 'llm-429-storm',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: attributes,
      llmConcurrency: 10,
    });
    const refusals = () =>
      attributes.map(
        (a) =>
          stormHarness.standin.calls().filter((c) => c.itemKey === itemKey(a) && c.outcome === 'rate_limited').length,
      );
    const during = await waitFor(
      async () => ({ refusals: refusals(), status: (await stormHarness.jobs.job(jobId))?.status }),
      (s) => s.refusals.every((n) => n >= rateLimits) || ['completed', 'failed', 'cancelled'].includes(s.status ?? ''),
      boundMs,
      `${rateLimits} 429s for every attribute (or the job ending in the storm)`,
    );
    expect(during.status).toBe('running');
    stormHarness.standin.setFaults({ latencyMs: 20 });
    const job = await waitUntilFinal(stormHarness, jobId);

    expect(job).toMatchObject({
      status: 'completed',
      error: null,
      result: expect.objectContaining({ attributesProfiled: attributes.length, attributesFailed: 0 }),
    });
    await expectEachItemStoredOnce(stormHarness, jobId, attributes);
    for (const attribute of attributes) {
      const outcomes = stormHarness.standin
        .calls()
        .filter((c) => c.itemKey === itemKey(attribute))
        .map((c) => c.outcome);
      // At least the storm's 429s (a call on the wire when it ended may add one), then exactly one answer, last.
      expect(outcomes.filter((o) => o === 'rate_limited').length).toBeGreaterThanOrEqual(rateLimits);
      expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
      expect(outcomes.at(-1)).toBe('ok');
      const runs = await activityRunsFor(stormHarness.temporal, jobId, attribute);
      expect(runs.map((r) => r.attempt)).toEqual([1]);
    }
    stormHarness.standin.reset();
  }

  // About one 429 a second per attribute: the bounds leave the storm several times the time it needs.
  it(
    'completes every attribute once through twice the old ten attempts of 429s',
    () => surviveStorm(2 * OLD_ATTEMPTS, 90_000),
    150_000,
  );

  slowIt(
    'completes every attribute once through 120 429s each (a two-minute storm)',
    () => surviveStorm(120, 400_000),
    500_000,
  );
});
