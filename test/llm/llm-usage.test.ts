// Token usage and the answer cache: every LLM call is recorded with its tokens (once, by call id, even when
// the database connection is lost at the write), status reports them with their cost, and a repeated job
// with the cache on pays for nothing — no call reaches the LLM.

import { sql } from 'kysely';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/waiting';

let harness: Harness;
const owner = 'usage';
const principal = { subject: owner, admin: false };
const attributeIds = ['credit_score', 'apr_rate', 'account_status', 'email_address', 'billing_zip'];

beforeAll(async () => {
  harness = await createHarness({ faults: { latencyMs: 50 } });
  await harness.startWorker();
});
afterAll(() => harness.close());

const generate = async (extra: Record<string, unknown>) => {
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner,
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds,
    llmConcurrency: 5,
    ...extra,
  });
  expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'completed' });
  return jobId;
};
const standinCalls = () =>
  attributeIds.reduce((sum, a) => sum + harness.standin.callCount(`${DEMO_DATA_SOURCE_ID}.${a}`), 0);

describe('LLM token usage', () => {
  it("reports each job's calls, tokens and cost, matching the calls recorded", async () => {
    harness.standin.reset();
    const jobId = await generate({ useLlmCache: false });
    const { llm_usage: usage } = await harness.jobs.status(principal, jobId);
    const calls = await harness.db.selectFrom('llm_calls').selectAll().where('job_id', '=', jobId).execute();
    expect(calls).toHaveLength(5);
    expect(usage).toEqual({
      calls: 5,
      cachedCalls: 0,
      promptTokens: calls.reduce((sum, c) => sum + c.prompt_tokens, 0),
      completionTokens: calls.reduce((sum, c) => sum + c.completion_tokens, 0),
      // gpt-4o-mini at the default price table: $0.15 and $0.60 per million prompt/completion tokens.
      costUsd: expect.closeTo(
        calls.reduce((sum, c) => sum + (c.prompt_tokens * 0.15 + c.completion_tokens * 0.6) / 1e6, 0),
        6,
      ),
    });
    expect(usage!.promptTokens).toBeGreaterThan(0);
    expect(standinCalls()).toBe(5);
  });
});

describe('LLM answer cache', () => {
  it('answers a repeated job from the cache with zero LLM calls, and asks again when the job turns it off', async () => {
    await generate({ useLlmCache: true }); // fills the cache (or finds it filled)
    harness.standin.reset();
    const cachedJob = await generate({ useLlmCache: true });
    expect(standinCalls()).toBe(0);
    const { llm_usage: usage, result } = await harness.jobs.status(principal, cachedJob);
    expect(usage).toMatchObject({ calls: 5, cachedCalls: 5, promptTokens: 0, completionTokens: 0, costUsd: 0 });
    expect(result).toMatchObject({ attributesProfiled: 5, rulesGenerated: expect.any(Number) });
    const rules = await harness.db
      .selectFrom('profiling_rules')
      .select('attribute')
      .where('job_id', '=', cachedJob)
      .execute();
    expect(new Set(rules.map((r) => r.attribute))).toEqual(new Set(attributeIds));

    await generate({ useLlmCache: false });
    expect(standinCalls()).toBe(5);
  });
});

describe('usage when the database connection is lost at its write', () => {
  /**
   * The worker's inserts into llm_calls (a usable answer's cache row in the same statement, before it) waiting for the
   * test's lock: their backends are what the test terminates.
   */
  const blockedUsageWrites = async () =>
    (
      await sql<{
        pid: number;
      }>`select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike '%insert into "llm_calls"%'`.execute(
        harness.db,
      )
    ).rows.map((r) => r.pid);

  it('records every paid answer exactly once, by its call id, and stores each result once', async () => {
    harness.standin.reset();
    const { jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      llmConcurrency: 5,
      useLlmCache: false,
    });
    let terminated = 0;
    // SHARE mode holds back inserts (ROW EXCLUSIVE) and nothing that only reads: each paid answer's usage write
    // waits here, so its connection is terminated exactly while the write is under way.
    await harness.db.transaction().execute(async (trx) => {
      await sql`lock table llm_calls in share mode`.execute(trx);
      for (let round = 0; round < 2; round++) {
        const pids = await waitFor(
          blockedUsageWrites,
          (p) => p.length === attributeIds.length,
          30_000,
          `${attributeIds.length} usage writes waiting for the lock (round ${round + 1})`,
        );
        await sql`select pg_terminate_backend(pid) from unnest(${pids}::int[]) as pid`.execute(harness.db);
        terminated += pids.length;
      }
    });
    expect(await harness.jobs.waitForJob(jobId)).toMatchObject({
      status: 'completed',
      result: expect.objectContaining({ attributesProfiled: attributeIds.length }),
    });
    expect(terminated).toBe(2 * attributeIds.length);

    const answered = harness.standin.calls().filter((c) => c.jobId === jobId && c.outcome === 'ok');
    const recorded = await harness.db
      .selectFrom('llm_calls')
      .select(['call_id', 'prompt_tokens'])
      .where('job_id', '=', jobId)
      .execute();
    expect(recorded).toHaveLength(answered.length);
    expect(recorded.map((r) => r.call_id).sort()).toEqual(answered.map((c) => c.callId).sort());
    expect(Object.fromEntries(recorded.map((r) => [r.call_id, r.prompt_tokens]))).toEqual(
      Object.fromEntries(answered.map((c) => [c.callId, c.promptTokens])),
    );
    // One answer per attribute: a lost write neither asked the LLM again nor stored a result twice.
    expect(answered).toHaveLength(attributeIds.length);
    const results = await harness.db
      .selectFrom('attribute_results')
      .select('attribute')
      .where('job_id', '=', jobId)
      .execute();
    expect(results.map((r) => r.attribute).sort()).toEqual([...attributeIds].sort());
  });
});
