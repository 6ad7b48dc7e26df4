// Token usage and the answer cache: every LLM call is recorded with its tokens, status reports them with
// their cost, and a repeated job with the cache on pays for nothing — no call reaches the LLM.

import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { createHarness, type Harness } from './support/harness';

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
  const { jobId } = await harness.jobs.startJob({ jobType: 'data_profiling_llm_generation', owner, dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds, llmConcurrency: 5, ...extra });
  expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'completed' });
  return jobId;
};
const standinCalls = () => attributeIds.reduce((sum, a) => sum + harness.standin.callCount(`${DEMO_DATA_SOURCE_ID}.${a}`), 0);

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
      costUsd: expect.closeTo(calls.reduce((sum, c) => sum + (c.prompt_tokens * 0.15 + c.completion_tokens * 0.6) / 1e6, 0), 6),
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
    const rules = await harness.db.selectFrom('profiling_rules').select('attribute').where('job_id', '=', cachedJob).execute();
    expect(new Set(rules.map((r) => r.attribute))).toEqual(new Set(attributeIds));

    await generate({ useLlmCache: false });
    expect(standinCalls()).toBe(5);
  });
});
