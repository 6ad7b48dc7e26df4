// How fast the fleet LLM budget follows its signals (the figures test/llm/llm-budget.test.ts used to assert): the
// pace achieved against the requests limit with every call queued, the time from a limit change at run time to
// the window filled at the new limit, and from a provider's pause (a 429 with Retry-After, a spent quota) to
// the next grant. Two worker processes, grant times from a journal of the ledger on PostgreSQL's clock.
//   npm run bench:llm-budget-signals -- [--repeats 1] [--window-ms 3000]

import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../db/demo-data';
import { notifyBudgetChanged } from '../activities/llm/budget/llm-budget-ledger';
import {
  clearBudgetJournal,
  grantRounds,
  installBudgetJournal,
  pausesOf,
  readBudgetJournal,
} from '../test/support/budget-journal';
import { log, startBenchEnvironment, type BenchEnvironment } from './support/environment';
import { numberArg, round, runBench, sleep, writeResult } from './support/report';

const MODEL = 'bench-budget-signals-model';
const admin = { subject: 'bench', admin: true };
const repeats = numberArg('repeats', 1);
const windowMs = numberArg('window-ms', 3_000);
const LATENCY_MS = 20;

async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await sleep(20);
  }
}

async function main(): Promise<void> {
  const env = await startBenchEnvironment('llm-budget-signals', {
    faults: { latencyMs: LATENCY_MS },
    config: {
      OPENAI_MODEL: MODEL,
      LLM_BUDGET_ENABLED: true,
      LLM_RPM_LIMIT: 1_000,
      LLM_TPM_LIMIT: 10_000_000,
      LLM_BUDGET_WINDOW_MS: windowMs,
      LLM_MAX_OUTPUT_TOKENS: 300,
    },
  });
  try {
    await installBudgetJournal(env.db);
    const workers = [env.spawnWorker(), env.spawnWorker()];
    await Promise.all(workers.map((w) => w.ready));
    const catalogue = await demoCatalogue(env.db);
    const attributes = catalogue.map((a) => a.name);
    let next = 0;
    const take = (n: number) => {
      if (next + n > attributes.length) next = 0;
      return attributes.slice(next, (next += n));
    };
    const figures: Record<string, number[]> = {
      'pace achieved / limit (stand-in arrivals)': [],
      'pace achieved / limit (ledger grants)': [],
      'limit change -> first grant ms': [],
      'limit change -> window at new limit ms': [],
      'calls in the window after a change (old 4, new 20)': [],
      '429 pause set -> next grant ms': [],
      'pause end -> next grant ms (429)': [],
      '429 answered -> its item asked again ms': [],
      'spent quota pause set -> next grant ms': [],
      'pause end -> next grant ms (spent quota)': [],
    };
    for (let i = 0; i < repeats; i++) {
      await pace(env, take, figures);
      await limitChange(env, take, figures);
      await providerPause(env, take, figures, 'rate_limit');
      await providerPause(env, take, figures, 'quota_spent');
      log(
        `run ${i + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, v.at(-1)])))}`,
      );
    }
    for (const worker of workers) await worker.kill('SIGTERM');
    writeResult('llm-budget-signals', { windowMs, repeats, latencyMs: LATENCY_MS, workers: 2 }, figures, [
      'pace: 3 owners, 48 calls queued while the budget is held, rpm 12 per window; 48 / (span of arrivals or grants + one window) x window / rpm (1.0 = a full window every window)',
      "limit change: rpm 4 -> 20 at a 2 s window while a 40-item job waits; times on PostgreSQL's clock from the limits row changing",
      "pauses: Retry-After 2 s (429) and x-ratelimit-remaining-requests 0 with a 2 s reset (quota_spent); times on PostgreSQL's clock from the pause being written",
    ]);
  } finally {
    await env.close();
  }
}

async function fresh(env: BenchEnvironment, budget: { rpm: number; tpm: number; windowMs: number }) {
  await env.db.deleteFrom('llm_budget_calls').where('model', '=', MODEL).execute();
  await env.db
    .updateTable('llm_budget_limits')
    .set({ paused_until: null, provider_rpm: null, provider_tpm: null })
    .where('model', '=', MODEL)
    .execute();
  await env.jobs.setLlmBudget(admin, MODEL, budget);
  env.standin.setFaults({ latencyMs: LATENCY_MS });
  env.standin.reset();
  await clearBudgetJournal(env.db, MODEL);
}

const start = async (
  env: BenchEnvironment,
  owner: string,
  attributeIds: string[],
  llmConcurrency = attributeIds.length,
) =>
  (
    await env.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      llmConcurrency,
    })
  ).jobId;

const finished = async (env: BenchEnvironment, jobIds: string[]) => {
  for (const jobId of jobIds) {
    const row = await env.jobs.waitForJob(jobId);
    if (row?.status !== 'completed') throw new Error(`job ${jobId} ended ${row?.status}`);
  }
};

const waiting = async (env: BenchEnvironment) =>
  (
    await env.db
      .selectFrom('llm_budget_calls')
      .select('id')
      .where('model', '=', MODEL)
      .where('state', '=', 'waiting')
      .execute()
  ).length;

async function pace(env: BenchEnvironment, take: (n: number) => string[], figures: Record<string, number[]>) {
  const R = 12;
  await fresh(env, { rpm: R, tpm: 1_000_000, windowMs });
  const budget = () => env.db.updateTable('llm_budget_limits').where('model', '=', MODEL);
  await budget()
    .set({ paused_until: new Date(Date.now() + 120_000) })
    .execute();
  const jobIds = [
    await start(env, 'alice', take(24)),
    await start(env, 'bob', take(16)),
    await start(env, 'carol', take(8)),
  ];
  await until(
    () => waiting(env),
    (n) => n === 48,
    'all 48 calls waiting',
  );
  await budget().set({ paused_until: null }).execute();
  await notifyBudgetChanged(env.db, MODEL);
  await finished(env, jobIds);
  const arrivals = env.standin
    .calls()
    .map((c) => c.receivedAt)
    .sort((a, b) => a - b);
  const grants = (await readBudgetJournal(env.db, MODEL)).calls
    .flatMap((c) => (c.grantedAt === null ? [] : [c.grantedAt]))
    .sort((a, b) => a - b);
  const achieved = (times: number[]) => round((times.length / (times.at(-1)! - times[0]! + windowMs)) * (windowMs / R));
  figures['pace achieved / limit (stand-in arrivals)']!.push(achieved(arrivals));
  figures['pace achieved / limit (ledger grants)']!.push(achieved(grants));
}

async function limitChange(env: BenchEnvironment, take: (n: number) => string[], figures: Record<string, number[]>) {
  await fresh(env, { rpm: 4, tpm: 1_000_000, windowMs: 2_000 });
  const jobId = await start(env, 'erin', take(40));
  await until(
    async () => env.standin.calls().length,
    (n) => n >= 8,
    'two windows at the old limit',
  );
  await env.jobs.setLlmBudget(admin, MODEL, { rpm: 20 });
  await finished(env, [jobId]);
  const journal = await readBudgetJournal(env.db, MODEL);
  const change = journal.limits.find((l) => l.rpm === 20)!;
  const after = grantRounds(journal).filter((r) => r.at > change.at);
  figures['limit change -> first grant ms']!.push(round(after[0]!.at - change.at, 1));
  figures['limit change -> window at new limit ms']!.push(
    round(after.find((r) => r.requests >= 20)!.at - change.at, 1),
  );
  const before = grantRounds(journal).filter((r) => r.at < change.at);
  figures['calls in the window after a change (old 4, new 20)']!.push(before.at(-1)!.requests, after[0]!.requests);
}

async function providerPause(
  env: BenchEnvironment,
  take: (n: number) => string[],
  figures: Record<string, number[]>,
  kind: 'rate_limit' | 'quota_spent',
) {
  await fresh(env, { rpm: 1_000, tpm: 1_000_000, windowMs });
  const set = take(16);
  env.standin.setFaults({
    latencyMs: LATENCY_MS,
    rules: [{ kind, items: [`${DEMO_DATA_SOURCE_ID}.${set[5]}`], firstCallsPerItem: 1, retryAfterSeconds: 2 }],
  });
  const jobId = await start(env, kind === 'rate_limit' ? 'dave' : 'gina', set, 4);
  await finished(env, [jobId]);
  const journal = await readBudgetJournal(env.db, MODEL);
  const [pause] = pausesOf(journal);
  if (!pause) throw new Error(`no pause journaled for ${kind}`);
  const nextGrant = grantRounds(journal).find((r) => r.at > pause.setAt)!;
  const label = kind === 'rate_limit' ? '429' : 'spent quota';
  figures[`${label} pause set -> next grant ms`]!.push(round(nextGrant.at - pause.setAt, 1));
  figures[`pause end -> next grant ms (${label})`]!.push(round(nextGrant.at - pause.endedAt, 1));
  if (kind === 'rate_limit') {
    const itemCalls = env.standin.calls().filter((c) => c.itemKey === `${DEMO_DATA_SOURCE_ID}.${set[5]}`);
    const limited = itemCalls.find((c) => c.outcome === 'rate_limited')!;
    const retry = itemCalls.find((c) => c.receivedAt > limited.receivedAt)!;
    figures['429 answered -> its item asked again ms']!.push(retry.receivedAt - limited.finishedAt!);
  }
}

runBench(main);
