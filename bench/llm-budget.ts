// The fleet-wide LLM budget under load: 2 and 4 worker processes, four owners' jobs over all 110 demo
// attributes, against a stand-in enforcing the same requests and tokens per window. Prints the requests and
// tokens per window achieved as a fraction of the limits, and the 429s the stand-in sent.
// Regimes: the requests limit binding, then the tokens limit.
//   npm run bench:llm-budget -- [--window-ms 6000]

import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../db/demo-data';
import { startBenchEnvironment, type BenchEnvironment } from './support/environment';
import { numberArg, round, runBench, writeResult } from './support/report';

const windowMs = numberArg('window-ms', 6_000);
/** Calls use about 420 tokens here: the first keeps tokens well under their limit, the second requests. */
const REGIMES = { 'requests-bound': { rpm: 30, tpm: 24_000 }, 'tokens-bound': { rpm: 60, tpm: 6_000 } };
/** Four owners of very different sizes, as in production: one bulk job and three small ones. */
const JOB_SIZES = [60, 30, 15, 5];

interface Arrival {
  at: number;
  tokens: number;
}

/**
 * Requests: a sliding window lets call i in no earlier than a window after call i-R, so W divided by the
 * mean gap between them is the fraction of the limit achieved while calls were queued (1.0 = no slack).
 */
function requestPacing(arrivals: Arrival[], rpm: number): number {
  const gaps = arrivals.slice(rpm).map((a, i) => a.at - arrivals[i]!.at);
  return windowMs / (gaps.reduce((a, b) => a + b, 0) / Math.max(1, gaps.length));
}

/**
 * Mean use of each full window starting at an admitted call, leaving out the last window's tail, as a fraction of the
 * limit.
 */
function windowFraction(arrivals: Arrival[], limit: number, measure: (a: Arrival) => number): number {
  const last = arrivals.at(-1)!.at;
  const fractions: number[] = [];
  for (const start of arrivals) {
    if (start.at + 2 * windowMs > last) break;
    const inside = arrivals.filter((a) => a.at >= start.at && a.at < start.at + windowMs);
    fractions.push(inside.reduce((sum, a) => sum + measure(a), 0) / limit);
  }
  return fractions.reduce((a, b) => a + b, 0) / Math.max(1, fractions.length);
}

async function runWith(env: BenchEnvironment, workerCount: number, attributes: string[], regime: keyof typeof REGIMES) {
  const { rpm, tpm } = REGIMES[regime];
  const model = `bench-budget-${regime}-${workerCount}w`;
  await env.jobs.setLlmBudget({ subject: 'bench', admin: true }, model, { rpm, tpm, windowMs });
  env.standin.setFaults({
    latencyMs: 50,
    latencyJitterMs: 50,
    limits: { requestsPerMinute: rpm, tokensPerMinute: tpm, windowMs },
  });
  env.standin.reset();
  const workers = Array.from({ length: workerCount }, () => env.spawnWorker({ OPENAI_MODEL: model }));
  await Promise.all(workers.map((w) => w.ready));
  const startedAt = Date.now();
  let offset = 0;
  const jobIds: string[] = [];
  for (const [i, size] of JOB_SIZES.entries()) {
    const attributeIds = attributes.slice(offset, (offset += size));
    const started = await env.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: `owner-${i}`,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      llmConcurrency: 20,
    });
    jobIds.push(started.jobId);
  }
  const finishedAt: Record<string, number> = {};
  await Promise.all(
    jobIds.map(async (jobId, i) => {
      const row = await env.jobs.waitForJob(jobId);
      if (row?.status !== 'completed') throw new Error(`job ${jobId} ended ${row?.status}`);
      finishedAt[`owner-${i} (${JOB_SIZES[i]} items)`] = round((Date.now() - startedAt) / 1000, 1);
    }),
  );
  for (const worker of workers) await worker.kill('SIGTERM');

  const used = await env.db
    .selectFrom('llm_calls')
    .select(['item', 'prompt_tokens', 'completion_tokens'])
    .where('job_id', 'in', jobIds)
    .execute();
  const tokensOf = new Map(
    used.map((c) => [`${DEMO_DATA_SOURCE_ID}.${c.item}`, c.prompt_tokens + c.completion_tokens]),
  );
  const calls = env.standin.calls().sort((a, b) => a.receivedAt - b.receivedAt);
  const admitted = calls
    .filter((c) => c.outcome !== 'rate_limited')
    .map((c) => ({ at: c.receivedAt, tokens: tokensOf.get(c.itemKey ?? '') ?? c.promptTokens }));
  const requestsFraction = windowFraction(admitted, rpm, () => 1);
  const tokensFraction = windowFraction(admitted, tpm, (a) => a.tokens);
  return {
    regime,
    limits: { rpm, tpm, windowMs },
    workers: workerCount,
    calls: calls.length,
    rateLimited429s: calls.length - admitted.length,
    requestsPerWindowFraction: round(requestsFraction),
    requestPacingFraction: round(requestPacing(admitted, rpm)),
    tokensPerWindowFraction: round(tokensFraction),
    bindingLimitFraction: round(Math.max(requestsFraction, tokensFraction)),
    meanTokensPerCall: round(admitted.reduce((s, a) => s + a.tokens, 0) / admitted.length, 0),
    secondsToFinish: finishedAt,
  };
}

runBench(async () => {
  const env = await startBenchEnvironment('llm-budget', {
    faults: { latencyMs: 50 },
    config: { LLM_BUDGET_ENABLED: true, LLM_MAX_OUTPUT_TOKENS: 300, LLM_BUDGET_WINDOW_MS: windowMs },
  });
  try {
    const catalogue = await demoCatalogue(env.db);
    const attributes = catalogue.map((a) => a.name);
    for (const regime of Object.keys(REGIMES) as (keyof typeof REGIMES)[])
      for (const workers of [2, 4]) {
        const figures = await runWith(env, workers, attributes, regime);
        writeResult(
          `llm-budget-${regime}-${workers}-workers`,
          { ...REGIMES[regime], windowMs, jobSizes: JOB_SIZES, llmMaxOutputTokens: 300 },
          figures,
          [
            'per-window fractions: mean use of every full window starting at an admitted call, the last window left out (1.0 = at the limit)',
            'request pacing: window length over the mean gap between call i and call i-rpm (1.0 = the sliding window never idles)',
            'the stand-in enforces the same limits and window as the budget, counting each call from its arrival',
          ],
        );
      }
  } finally {
    await env.close();
  }
});
