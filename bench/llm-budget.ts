// The fleet-wide LLM budget under load: 2 and 4 worker processes, four owners' jobs over all 110 demo
// attributes, against a stand-in enforcing the same requests and tokens per window. Prints the requests and
// tokens per window achieved as a fraction of the limits, the 429s the stand-in sent, and from a journal of the
// ledger where budget went unused (what calls reserved, how long a call counts past its answer).
// Regimes: the requests limit binding (short window), then the tokens limit (short window, then a real minute).
//   npm run bench:llm-budget -- [--window-ms 6000] [--long-window-ms 60000] [--only tokens-bound-60s] [--workers 2]

import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../db/demo-data';
import {
  clearBudgetJournal,
  installBudgetJournal,
  readBudgetJournal,
  type JournalCall,
} from '../test/support/budget-journal';
import { startBenchEnvironment, type BenchEnvironment } from './support/environment';
import { aim, numberArg, percentile, round, runBench, writeResult } from './support/report';

const shortWindowMs = numberArg('window-ms', 6_000);
const longWindowMs = numberArg('long-window-ms', 60_000);
/** `--only a,b` runs only the named regimes (a smoke run); `--workers 2` only that fleet size. */
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1]!.split(',') : null;
const workerCounts = process.argv.includes('--workers') ? [numberArg('workers', 2)] : [2, 4];
const MAX_OUTPUT_TOKENS = 300;
/** Four owners of very different sizes, as in production: one bulk job and three small ones. */
const JOB_SIZES = [60, 30, 15, 5];

/**
 * Calls use about 420 tokens here (110 calls, ~46 000 tokens in all). Requests-bound: 30 calls a window and
 * tokens for 57, so requests bind. Tokens-bound: room for ~14 calls of tokens a window and 60 requests, so tokens
 * bind; the run spans ~8 windows of 6 s. With a real 60 s window the same 110 calls would take 8 minutes per run
 * at that limit, so both limits grow with the window: 14 000 tokens (~33 calls) a window, the run spans ~3.3
 * windows (about 3.5 minutes; the whole bench about 12).
 */
const REGIMES = {
  'requests-bound': { rpm: 30, tpm: 24_000, windowMs: shortWindowMs },
  'tokens-bound': { rpm: 60, tpm: 6_000, windowMs: shortWindowMs },
  'tokens-bound-60s': { rpm: 140, tpm: 14_000, windowMs: longWindowMs },
};
type Regime = keyof typeof REGIMES;

interface Arrival {
  at: number;
  tokens: number;
}

/**
 * Requests: a sliding window lets call i in no earlier than a window after call i-R, so W divided by the
 * mean gap between them is the fraction of the limit achieved while calls were queued (1.0 = no slack).
 */
function requestPacing(arrivals: Arrival[], rpm: number, windowMs: number): number | null {
  const gaps = arrivals.slice(rpm).map((a, i) => a.at - arrivals[i]!.at);
  // Fewer calls than the requests limit (the 60 s window's): no call ever waited for one to leave.
  if (gaps.length === 0) return null;
  return windowMs / (gaps.reduce((a, b) => a + b, 0) / gaps.length);
}

/**
 * The provider's sliding window over time: at every instant from a full window after the first admitted call to the
 * last one (calls were waiting all along), the tokens (or requests) admitted in the window ending there, averaged
 * over time, as a fraction of the limit. Tokens per window achieved = throughput × window / limit.
 */
function slidingFraction(
  arrivals: Arrival[],
  limit: number,
  windowMs: number,
  measure: (a: Arrival) => number,
): number {
  const [from, to] = [arrivals[0]!.at + windowMs, arrivals.at(-1)!.at];
  const step = windowMs / 600;
  let sum = 0;
  let samples = 0;
  for (let t = from; t <= to; t += step, samples++)
    for (const a of arrivals) if (a.at > t - windowMs && a.at <= t) sum += measure(a);
  return sum / Math.max(1, samples) / limit;
}

/**
 * Mean use of each full window starting at an admitted call, leaving out the last window's tail, as a fraction of the
 * limit. Each is the provider's window just before that call leaves it, an instant its replacement cannot have
 * arrived yet (it is granted only once the call left the ledger, a window after its answer), so calls admitted
 * together (the first window's burst, repeating a window later) weigh these samples towards the dips: kept as
 * the figure measured before, read beside `slidingFraction`.
 */
function windowFraction(arrivals: Arrival[], limit: number, windowMs: number, measure: (a: Arrival) => number): number {
  const last = arrivals.at(-1)!.at;
  const fractions: number[] = [];
  for (const start of arrivals) {
    if (start.at + 2 * windowMs > last) break;
    const inside = arrivals.filter((a) => a.at >= start.at && a.at < start.at + windowMs);
    fractions.push(inside.reduce((sum, a) => sum + measure(a), 0) / limit);
  }
  return fractions.reduce((a, b) => a + b, 0) / Math.max(1, fractions.length);
}

/**
 * The ledger's own view over the same span as `windowFraction`: tokens it counted (reserved until the answer, then
 * used, until a window after the answer), averaged over time, as a fraction of the limit. Read beside the
 * provider's fraction, it tells budget the ledger left free from budget it counted longer than the provider does.
 */
function ledgerFill(calls: JournalCall[], tpm: number, windowMs: number, from: number, to: number): number {
  const step = windowMs / 600;
  let sum = 0;
  let samples = 0;
  for (let t = from; t < to; t += step, samples++)
    for (const c of calls) {
      if (c.grantedAt === null || c.grantedAt > t) continue;
      const end = c.settledAt !== null ? c.settledAt + windowMs : (c.deletedAt ?? Infinity);
      if (t >= end) continue;
      sum += c.settledAt !== null && t >= c.settledAt ? (c.used ?? c.estimate) : c.estimate;
    }
  return sum / Math.max(1, samples) / tpm;
}

async function runWith(env: BenchEnvironment, workerCount: number, attributes: string[], regime: Regime) {
  const { rpm, tpm, windowMs } = REGIMES[regime];
  const model = `bench-budget-${regime}-${workerCount}w`;
  await env.jobs.setLlmBudget({ subject: 'bench', admin: true }, model, { rpm, tpm, windowMs });
  await clearBudgetJournal(env.db, model);
  env.standin.setFaults({
    latencyMs: 50,
    latencyJitterMs: 50,
    limits: { requestsPerMinute: rpm, tokensPerMinute: tpm, windowMs },
  });
  env.standin.reset();
  // Five connections a worker carry its budget rounds and writes (most of its 20 calls wait for budget, holding none);
  // the machine's PostgreSQL (100 connections) is shared with other benchmarks and tests.
  const workers = Array.from({ length: workerCount }, () =>
    env.spawnWorker({ OPENAI_MODEL: model, WORKER_DB_POOL_SIZE: 5 }),
  );
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
  const requestsFraction = slidingFraction(admitted, rpm, windowMs, () => 1);
  const tokensFraction = slidingFraction(admitted, tpm, windowMs, (a) => a.tokens);
  const ledger = (await readBudgetJournal(env.db, model)).calls.filter((c) => c.grantedAt !== null);
  const settled = ledger.filter((c) => c.settledAt !== null);
  // The same span slidingFraction averages over: from a window after the first admitted call to the last.
  const [from, to] = [admitted[0]!.at + windowMs, admitted.at(-1)!.at];
  return {
    regime,
    limits: { rpm, tpm, windowMs },
    workers: workerCount,
    calls: calls.length,
    rateLimited429s: calls.length - admitted.length,
    requestsPerWindowFraction: round(requestsFraction),
    requestPacingFraction: ((p) => (p === null ? null : round(p)))(requestPacing(admitted, rpm, windowMs)),
    tokensPerWindowFraction: round(tokensFraction),
    tokensPerWindowStartingAtACallFraction: round(windowFraction(admitted, tpm, windowMs, (a) => a.tokens)),
    bindingLimitFraction: round(Math.max(requestsFraction, tokensFraction)),
    meanTokensPerCall: round(admitted.reduce((s, a) => s + a.tokens, 0) / admitted.length, 0),
    ledger: {
      meanTokensReservedPerCall: round(ledger.reduce((s, c) => s + c.estimate, 0) / ledger.length, 0),
      tokensFillFraction: round(ledgerFill(ledger, tpm, windowMs, from, to)),
      grantToAnswerMs: {
        p50: round(
          percentile(
            settled.map((c) => c.settledAt! - c.grantedAt!),
            50,
          ),
          0,
        ),
        p95: round(
          percentile(
            settled.map((c) => c.settledAt! - c.grantedAt!),
            95,
          ),
          0,
        ),
      },
    },
    secondsToFinish: finishedAt,
  };
}

runBench(async () => {
  const env = await startBenchEnvironment('llm-budget', {
    faults: { latencyMs: 50 },
    config: {
      LLM_BUDGET_ENABLED: true,
      LLM_MAX_OUTPUT_TOKENS: MAX_OUTPUT_TOKENS,
      LLM_BUDGET_WINDOW_MS: shortWindowMs,
    },
  });
  try {
    await installBudgetJournal(env.db);
    const catalogue = await demoCatalogue(env.db);
    const attributes = catalogue.map((a) => a.name);
    for (const regime of Object.keys(REGIMES) as Regime[]) {
      if (only && !only.includes(regime)) continue;
      for (const workers of workerCounts) {
        const figures = await runWith(env, workers, attributes, regime);
        const { windowMs } = REGIMES[regime];
        const label = `fleet LLM budget, ${regime.replace('-60s', '')}, ${windowMs / 1000} s window, ${workers} workers`;
        const aims = regime.startsWith('tokens-bound')
          ? [
              aim(`${label}: tokens per window / limit`, figures.tokensPerWindowFraction, 'min', 0.9),
              aim(`${label}: provider 429s`, figures.rateLimited429s, 'max', 0),
            ]
          : [];
        writeResult(
          `llm-budget-${regime}-${workers}-workers`,
          { ...REGIMES[regime], jobSizes: JOB_SIZES, llmMaxOutputTokens: MAX_OUTPUT_TOKENS },
          figures,
          [
            'per-window fractions: the provider’s sliding window (tokens or requests admitted in the window ending at each instant) averaged over time, from a full window after the first call to the last (1.0 = at the limit)',
            'tokensPerWindowStartingAtACallFraction: the measure before, the mean of windows starting at each admitted call (two windows before the last); it samples the instants just before a call leaves, when calls admitted together are not yet replaced',
            'request pacing: window length over the mean gap between call i and call i-rpm (1.0 = the sliding window never idles)',
            'the stand-in enforces the same limits and window as the budget, counting each call from its arrival',
            'ledger: tokens a call reserved at its grant; the tokens the ledger counted over the same span, as a fraction of the limit; grant to answer (a call counts a window from its answer)',
            'the 60 s window: limits of 14 000 tokens and 140 requests a window, so the same 110 calls span ~3.3 windows (about 3.5 minutes a run) instead of 8 minutes at the short window’s limits',
          ],
          aims,
        );
      }
    }
  } finally {
    await env.close();
  }
});
