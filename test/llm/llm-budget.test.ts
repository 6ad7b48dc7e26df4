// The fleet-wide LLM budget with two real worker processes, real PostgreSQL and a stand-in that enforces its
// own quota: no 429s, and never more than the limit (requests or tokens) in a window yet the window filled
// whenever calls wait, read round by round from the ledger's journal on PostgreSQL's clock; fairness across
// owners, priority, the provider's Retry-After and spent quota pausing every worker, limits changed at run
// time, and cancel/pause reaching calls that wait for budget. Paces and latencies: bench/llm-budget-signals.ts.

import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import { notifyBudgetChanged } from '../../activities/llm/budget/llm-budget-ledger';
import { PostgresLlmBudget } from '../../activities/llm/budget/llm-budget-postgres';
import { planGrants } from '../../activities/llm/budget/llm-budget-plan';
import { readProviderSignals } from '../../activities/llm/budget/llm-budget-provider';
import { parseResetDuration } from '../../activities/llm/llm-errors';
import type { CallRecord } from '../../llm-standin/server';
import {
  clearBudgetJournal,
  grantRounds,
  installBudgetJournal,
  pausesOf,
  readBudgetJournal,
  removeBudgetJournal,
  reservationIn,
  type GrantRound,
  type JournalPause,
} from '../support/budget-journal';
import { sql } from 'kysely';
import { createHarness, type Harness } from '../support/harness';
import { endAllSpawnedWorkers, spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { waitFor } from '../support/waiting';

const MODEL = 'budget-test-model';
const admin = { subject: 'ops', admin: true };
let harness: Harness;
let workers: WorkerProcess[] = [];
let attributes: string[] = [];

beforeAll(async () => {
  harness = await createHarness({
    faults: { latencyMs: 20 },
    config: {
      OPENAI_MODEL: MODEL,
      LLM_BUDGET_ENABLED: true,
      LLM_RPM_LIMIT: 1_000,
      LLM_TPM_LIMIT: 10_000_000,
      LLM_BUDGET_WINDOW_MS: 3_000,
      LLM_MAX_OUTPUT_TOKENS: 300,
      JOB_MAX_ACTIVE_PER_OWNER: 10,
    },
  });
  const catalogue = await demoCatalogue(harness.db);
  attributes = catalogue.map((a) => a.name);
  await installBudgetJournal(harness.db);
  workers = [spawnWorkerProcess(harness.config), spawnWorkerProcess(harness.config)];
  await Promise.all(workers.map((w) => w.ready));
}, 60_000);

afterAll(async () => {
  // SIGTERM lets the workers drain; whatever a half-finished beforeAll spawned is SIGKILLed after it, so a
  // failed setup never leaves a worker process behind.
  try {
    await Promise.all((workers ?? []).map((w) => w.kill('SIGTERM')));
  } finally {
    await endAllSpawnedWorkers();
    if (harness) {
      await removeBudgetJournal(harness.db);
      await harness.close();
    }
  }
});

/** A fresh budget and stand-in quota for each test: the same limits on both sides, nothing left in the window. */
async function limitsEverywhere(
  budget: { rpm: number; tpm: number; windowMs: number },
  standin?: { rpm: number; tpm: number },
) {
  await harness.db.deleteFrom('llm_budget_calls').where('model', '=', MODEL).execute();
  await harness.db
    .updateTable('llm_budget_limits')
    .set({ paused_until: null, provider_rpm: null, provider_tpm: null })
    .where('model', '=', MODEL)
    .execute();
  await harness.jobs.setLlmBudget(admin, MODEL, budget);
  const quota = standin ?? { rpm: budget.rpm, tpm: budget.tpm };
  harness.standin.setFaults({
    latencyMs: 20,
    limits: { requestsPerMinute: quota.rpm, tokensPerMinute: quota.tpm, windowMs: budget.windowMs },
  });
  harness.standin.reset();
  await clearBudgetJournal(harness.db, MODEL);
}

/** The ledger rounds a pause's end up to the whole millisecond (its rounds read the clock in milliseconds). */
const PAUSE_ROUNDING_MS = 1;
const journal = () => readBudgetJournal(harness.db, MODEL);
const iso = (ms: number) => new Date(ms).toISOString();
const describeRound = (r: GrantRound) =>
  `round at ${iso(r.at)} (granted ${r.granted.length}, rpm ${r.rpm}, tpm ${r.tpm}): ${r.requests} requests and ${r.tokens.least}-${r.tokens.most} tokens in the window, ${r.leftWaiting.length} left waiting`;

/**
 * Every grant round kept within the limits it read, and filled the window whenever calls were left waiting:
 * the requests limit reached, or (tokens) the next call in line would not have fitted. One failing round fails
 * the test with its figures.
 */
function expectRoundsAtTheLimit(rounds: GrantRound[], bound: 'requests' | 'tokens'): void {
  expect(rounds.length).toBeGreaterThan(0);
  for (const round of rounds) {
    const problems: string[] = [];
    if (round.requests > round.rpm) problems.push('over the requests limit');
    if (round.tokens.least > round.tpm) problems.push('over the tokens limit');
    if (round.leftWaiting.length > 0) {
      // One owner and one priority per test that reads tokens: the next in line is the oldest left waiting.
      const next = round.leftWaiting.reduce((a, b) => (a.id < b.id ? a : b));
      const full =
        bound === 'requests'
          ? round.requests >= round.rpm
          : round.requests >= round.rpm || round.tokens.most + reservationIn(round, next) > round.tpm;
      if (!full) problems.push('calls left waiting while the window had room');
    }
    expect({ round: describeRound(round), problems }).toEqual({ round: describeRound(round), problems: [] });
  }
}

/** No grant round between a pause being set and its end; and a grant at or after the end of each pause. */
function expectNothingGrantedWhilePaused(rounds: GrantRound[], pauses: JournalPause[]): void {
  for (const pause of pauses) {
    const inside = rounds.filter((r) => r.at > pause.setAt && r.at < pause.endedAt).map(describeRound);
    const span = `${iso(pause.setAt)} to ${iso(pause.endedAt)}`;
    expect({ pause: span, inside }).toEqual({ pause: span, inside: [] });
    expect(rounds.some((r) => r.at >= pause.endedAt)).toBe(true);
  }
}

const waitingCalls = async (jobId: string) =>
  (
    await harness.db
      .selectFrom('llm_budget_calls')
      .select('id')
      .where('job_id', '=', jobId)
      .where('state', '=', 'waiting')
      .execute()
  ).length;

/**
 * Holds the budget (as a provider pause would) while `setUp` brings a late job's calls into the queue, then
 * releases it and wakes every waiter. Without the hold, how soon the late job's calls reach the queue depends
 * on how busy the machine is, and so would the order under test.
 */
async function whileBudgetHeld<T>(setUp: () => Promise<T>): Promise<{ result: T; releasedAt: number }> {
  const budget = () => harness.db.updateTable('llm_budget_limits').where('model', '=', MODEL);
  await budget()
    .set({ paused_until: new Date(Date.now() + 120_000) })
    .execute();
  const result = await setUp();
  const releasedAt = Date.now();
  await budget().set({ paused_until: null }).execute();
  await notifyBudgetChanged(harness.db, MODEL);
  return { result, releasedAt };
}

let nextAttribute = 0;
/** Distinct attributes per job, so the stand-in's item keys tell the jobs' calls apart. */
function takeAttributes(count: number): string[] {
  if (nextAttribute + count > attributes.length) nextAttribute = 0;
  const taken = attributes.slice(nextAttribute, nextAttribute + count);
  nextAttribute += count;
  return taken;
}

async function start(owner: string, attributeIds: string[], extra: Record<string, unknown> = {}) {
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner,
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds,
    llmConcurrency: attributeIds.length,
    ...extra,
  });
  return jobId;
}

const keysOf = (attributeIds: string[]) => new Set(attributeIds.map((a) => `${DEMO_DATA_SOURCE_ID}.${a}`));
const callsFor = (attributeIds: string[]): CallRecord[] =>
  harness.standin.calls().filter((c) => c.itemKey !== undefined && keysOf(attributeIds).has(c.itemKey));
const finished = async (jobId: string) =>
  expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'completed' });

describe('granting order and provider signals (pure)', () => {
  const limits = { rpm: 3, tpm: 1_000, pausedUntil: null };
  const waiter = (id: number, owner: string, priority = 3, tokens = 100) => ({
    id,
    owner,
    priority,
    tokens,
    held: false,
  });

  it('grants higher priority first, then the owner granted least in the window, then the oldest', () => {
    const usage = { requests: 0, tokens: 0, byOwner: new Map([['alice', 5]]) };
    const plan = planGrants(
      { ...limits, rpm: 10 },
      usage,
      [waiter(1, 'alice'), waiter(2, 'alice'), waiter(3, 'bob'), waiter(4, 'carol', 1), waiter(5, 'bob')],
      new Date(),
    );
    expect(plan.grant).toEqual([4, 3, 5, 1, 2]);
  });

  it('stops at the first call that does not fit and names the limit it waits for', () => {
    expect(
      planGrants(limits, { requests: 2, tokens: 0, byOwner: new Map() }, [waiter(1, 'a'), waiter(2, 'b')], new Date()),
    ).toEqual({ grant: [1], blocked: 'waiting for requests-per-minute budget' });
    expect(
      planGrants(
        limits,
        { requests: 0, tokens: 850, byOwner: new Map() },
        [waiter(1, 'a', 3, 200), waiter(2, 'b', 3, 10)],
        new Date(),
      ),
    ).toEqual({ grant: [], blocked: 'waiting for tokens-per-minute budget' });
  });

  it('grants nothing while the provider has paused the model, and skips calls of paused jobs', () => {
    const now = new Date();
    expect(
      planGrants(
        { ...limits, pausedUntil: new Date(now.getTime() + 1_000) },
        { requests: 0, tokens: 0, byOwner: new Map() },
        [waiter(1, 'a')],
        now,
      ).grant,
    ).toEqual([]);
    expect(
      planGrants(
        limits,
        { requests: 0, tokens: 0, byOwner: new Map() },
        [{ ...waiter(1, 'a'), held: true }, waiter(2, 'b')],
        now,
      ).grant,
    ).toEqual([2]);
  });

  it("reads Retry-After, exhausted x-ratelimit-remaining-* and the provider's limits", () => {
    expect(parseResetDuration('6m0s')).toBe(360_000);
    expect(parseResetDuration('1.5s')).toBe(1_500);
    expect(parseResetDuration('20ms')).toBe(20);
    expect(readProviderSignals(429, new Headers({ 'retry-after': '3' }))).toMatchObject({
      pauseMs: 3_000,
      reason: '429 Retry-After',
    });
    expect(readProviderSignals(429, new Headers({ 'retry-after-ms': '250', 'retry-after': '1' }))).toMatchObject({
      pauseMs: 250,
    });
    expect(
      readProviderSignals(
        200,
        new Headers({
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': '2s',
          'x-ratelimit-limit-requests': '60',
        }),
      ),
    ).toEqual({
      pauseMs: 2_000,
      reason: 'x-ratelimit-remaining-requests is 0',
      requestLimit: 60,
      tokenLimit: undefined,
    });
    expect(
      readProviderSignals(
        200,
        new Headers({ 'x-ratelimit-remaining-requests': '5', 'x-ratelimit-limit-tokens': '1000' }),
      ),
    ).toEqual({ requestLimit: undefined, tokenLimit: 1_000 });
  });
});

describe('one budget for two worker processes', () => {
  it('grants three owners on two workers never more than the limit per window, yet fills every window while calls wait, with zero 429s', async () => {
    const R = 12;
    await limitsEverywhere({ rpm: R, tpm: 1_000_000, windowMs: 3_000 });
    const sets = [takeAttributes(24), takeAttributes(16), takeAttributes(8)];
    // Every call queues while the budget is held, so the rounds under test all start with calls waiting.
    const { result: jobIds } = await whileBudgetHeld(async () => {
      const started = await Promise.all([start('alice', sets[0]!), start('bob', sets[1]!), start('carol', sets[2]!)]);
      await waitFor(
        async () => (await Promise.all(started.map(waitingCalls))).reduce((a, b) => a + b, 0),
        (n) => n === 48,
        60_000,
        'all 48 calls waiting for budget',
      );
      return started;
    });
    for (const jobId of jobIds) await finished(jobId);

    const calls = harness.standin.calls();
    expect(calls.filter((c) => c.outcome === 'rate_limited')).toEqual([]);
    expect(calls).toHaveLength(48);
    const { calls: ledger } = await journal();
    expect(ledger.filter((c) => c.grantedAt !== null)).toHaveLength(48);
    const rounds = grantRounds(await journal());
    // 48 calls at 12 a window: the first round grants a full window, and no round more or less than the limit allows.
    expect(rounds[0]!.requests).toBe(R);
    expectRoundsAtTheLimit(rounds, 'requests');
  });

  it('grants the small job of one owner long before the large job another owner started first', async () => {
    await limitsEverywhere({ rpm: 6, tpm: 1_000_000, windowMs: 2_000 });
    const [large, small] = [takeAttributes(24), takeAttributes(4)];
    const largeJob = await start('alice', large);
    await waitFor(
      async () => callsFor(large).length,
      (n) => n >= 6,
      30_000,
      "alice's large job to make its first 6 calls",
    );
    const { result: smallJob, releasedAt } = await whileBudgetHeld(async () => {
      const job = await start('bob', small);
      await waitFor(
        async () => waitingCalls(job),
        (n) => n === 4,
        30_000,
        "bob's 4 calls waiting in the held budget",
      );
      return job;
    });
    await finished(smallJob);
    await finished(largeJob);
    const smallCalls = callsFor(small);
    const lastSmall = Math.max(...smallCalls.map((c) => c.receivedAt));
    expect(smallCalls).toHaveLength(4);
    // At the release alice has 18 calls waiting, all older than bob's 4: arrival order would send all 18 first.
    // Fair shares send bob's 4 within the first two grants of 6 (alternating when neither owner has used the
    // window, bob first while alice's earlier calls still count), whatever order one grant's calls land in.
    const largeBetween = callsFor(large).filter((c) => c.receivedAt > releasedAt && c.receivedAt < lastSmall);
    expect(largeBetween.length).toBeLessThanOrEqual(8);
    expect(callsFor(large).filter((c) => c.receivedAt > lastSmall).length).toBeGreaterThanOrEqual(10);
  });

  it('gives budget first to a high-priority job started last', async () => {
    await limitsEverywhere({ rpm: 6, tpm: 1_000_000, windowMs: 2_000 });
    const [first, second, urgent] = [takeAttributes(16), takeAttributes(16), takeAttributes(4)];
    const jobs = [await start('alice', first), await start('bob', second)];
    await waitFor(
      async () => callsFor([...first, ...second]).length,
      (n) => n >= 6,
      30_000,
      'the two earlier jobs to make their first 6 calls',
    );
    const { result: urgentJob } = await whileBudgetHeld(async () => {
      const job = await start('carol', urgent, { priority: 'high' });
      await waitFor(
        async () => waitingCalls(job),
        (n) => n === 4,
        30_000,
        "carol's 4 urgent calls waiting in the held budget",
      );
      return job;
    });
    await finished(urgentJob);
    for (const jobId of jobs) await finished(jobId);
    const urgentCalls = callsFor(urgent);
    const [firstUrgent, lastUrgent] = [
      Math.min(...urgentCalls.map((c) => c.receivedAt)),
      Math.max(...urgentCalls.map((c) => c.receivedAt)),
    ];
    const others = callsFor([...first, ...second]);
    // The 4 urgent calls take the first grant of 6, so at most its 2 other calls can land among them.
    expect(others.filter((c) => c.receivedAt > firstUrgent && c.receivedAt < lastUrgent).length).toBeLessThanOrEqual(2);
    expect(others.filter((c) => c.receivedAt > lastUrgent).length).toBeGreaterThanOrEqual(12);
  });

  it("stops every worker's grants until the reset after one worker sees a 429 with Retry-After, then grants again", async () => {
    await limitsEverywhere({ rpm: 1_000, tpm: 1_000_000, windowMs: 3_000 });
    const set = takeAttributes(16);
    harness.standin.setFaults({
      latencyMs: 20,
      rules: [
        { kind: 'rate_limit', items: [`${DEMO_DATA_SOURCE_ID}.${set[5]}`], firstCallsPerItem: 1, retryAfterSeconds: 2 },
      ],
    });
    const jobId = await start('dave', set, { llmConcurrency: 4 });
    await finished(jobId);
    const calls = callsFor(set);
    expect(calls.filter((c) => c.outcome === 'rate_limited')).toHaveLength(1);
    const recorded = await journal();
    // Every call the stand-in saw was granted once (the 429'd one too), and nothing else was sent.
    expect(recorded.calls.filter((c) => c.grantedAt !== null)).toHaveLength(calls.length);
    expect(calls).toHaveLength(17);
    // The 429's Retry-After became one pause of 2 s on PostgreSQL's clock, set after the 429'd call's grant.
    const pauses = pausesOf(recorded);
    expect(pauses).toHaveLength(1);
    expect(pauses[0]!.until - pauses[0]!.setAt).toBeLessThanOrEqual(2_000 + PAUSE_ROUNDING_MS);
    const limitedCall = recorded.calls.find((c) => c.deletedState === 'granted' && c.settledAt === null)!;
    expect(limitedCall.grantedAt!).toBeLessThan(pauses[0]!.setAt);
    // Calls granted before it may still land after the 429; no round grants anything until the pause ends, then rounds
    // go on.
    const rounds = grantRounds(recorded);
    expectNothingGrantedWhilePaused(rounds, pauses);
    expect(rounds.filter((r) => r.at >= pauses[0]!.endedAt).flatMap((r) => r.granted).length).toBeGreaterThanOrEqual(1);
    const [budget] = (await harness.jobs.llmBudget(admin)).filter((m) => m.model === MODEL);
    expect(budget!.recent_rate_limits[0]).toMatchObject({
      job_id: jobId,
      status: 429,
      pause_ms: 2_000,
      reason: '429 Retry-After',
    });
  });

  it("stops every worker's grants until the reset when an answer says the request quota is spent (x-ratelimit-remaining-requests 0)", async () => {
    await limitsEverywhere({ rpm: 1_000, tpm: 1_000_000, windowMs: 3_000 }, { rpm: 1_000, tpm: 10_000_000 });
    const set = takeAttributes(10);
    // A normal answer for the third item whose headers say the quota is spent for 2 s; nothing else limits.
    harness.standin.setFaults({
      latencyMs: 20,
      rules: [
        {
          kind: 'quota_spent',
          items: [`${DEMO_DATA_SOURCE_ID}.${set[2]}`],
          firstCallsPerItem: 1,
          retryAfterSeconds: 2,
        },
      ],
    });
    const jobId = await start('gina', set, { llmConcurrency: 2 });
    await finished(jobId);
    const calls = callsFor(set);
    expect(calls.map((c) => c.outcome)).toEqual(calls.map(() => 'ok'));
    expect(calls).toHaveLength(10);
    const recorded = await journal();
    const pauses = pausesOf(recorded);
    expect(pauses).toHaveLength(1);
    expect(pauses[0]!.until - pauses[0]!.setAt).toBeLessThanOrEqual(2_000 + PAUSE_ROUNDING_MS);
    const rounds = grantRounds(recorded);
    expectNothingGrantedWhilePaused(rounds, pauses);
    // The pause came from an answer, not a 429: it is not listed among the recent 429s.
    const [budget] = (await harness.jobs.llmBudget(admin)).filter((m) => m.model === MODEL);
    expect(budget!.recent_rate_limits.filter((r: { job_id: string }) => r.job_id === jobId)).toEqual([]);
  });

  it('follows a limit changed while jobs run: the first round after the change fills the window to the new limit', async () => {
    await limitsEverywhere({ rpm: 4, tpm: 1_000_000, windowMs: 2_000 }, { rpm: 1_000, tpm: 10_000_000 });
    const set = takeAttributes(40);
    const jobId = await start('erin', set);
    await waitFor(
      async () => callsFor(set).length,
      (n) => n >= 8,
      60_000,
      'two windows of calls at the old limit',
    );
    const status = await harness.jobs.status(admin, jobId);
    expect(status.llm_budget).toEqual({
      waiting_calls: expect.any(Number),
      reason: 'waiting for requests-per-minute budget',
    });
    const changed = await harness.jobs.setLlmBudget(admin, MODEL, { rpm: 20 });
    expect(changed.limits).toEqual({ rpm: 20, tpm: 1_000_000, window_ms: 2_000 });
    await finished(jobId);

    const recorded = await journal();
    const change = recorded.limits.find((l) => l.rpm === 20)!;
    const rounds = grantRounds(recorded);
    const before = rounds.filter((r) => r.at < change.at);
    const after = rounds.filter((r) => r.at > change.at);
    expect(before.map((r) => r.rpm)).toEqual(before.map(() => 4));
    expect(after.map((r) => r.rpm)).toEqual(after.map(() => 20));
    // The old limit's windows held 4; the first round after the change (32 or more calls still waiting) filled it to
    // 20.
    expect(before.at(-1)!.requests).toBe(4);
    expect(after[0]!.requests).toBe(20);
    expectRoundsAtTheLimit(rounds, 'requests');
  });

  it('grants a tokens-bound window never more than its tokens, and as many calls as fit, before the requests limit binds', async () => {
    await limitsEverywhere({ rpm: 1_000, tpm: 1_000_000, windowMs: 3_000 });
    const set = takeAttributes(12);
    // The calls' estimates are read from the ledger while the budget is held, and the tokens limit set to about
    // three and a half of them (on both sides), so tokens bind long before the 1 000 requests do.
    const { result: jobId } = await whileBudgetHeld(async () => {
      const job = await start('hank', set);
      await waitFor(
        async () => waitingCalls(job),
        (n) => n === 12,
        60_000,
        'all 12 calls waiting for budget',
      );
      const estimates = await harness.db
        .selectFrom('llm_budget_calls')
        .select('tokens')
        .where('job_id', '=', job)
        .execute();
      const tpm = Math.floor((3.5 * estimates.reduce((sum, e) => sum + e.tokens, 0)) / estimates.length);
      await harness.jobs.setLlmBudget(admin, MODEL, { tpm });
      harness.standin.setFaults({
        latencyMs: 20,
        limits: { requestsPerMinute: 1_000, tokensPerMinute: tpm, windowMs: 3_000 },
      });
      return job;
    });
    await finished(jobId);
    expect(callsFor(set).filter((c) => c.outcome === 'rate_limited')).toEqual([]);
    expect(callsFor(set)).toHaveLength(12);
    const rounds = grantRounds(await journal()).filter((r) => r.tpm < 1_000_000);
    expect(rounds.length).toBeGreaterThanOrEqual(3);
    expectRoundsAtTheLimit(rounds, 'tokens');
  });

  it('takes calls waiting for budget off the queue on pause-now and on cancel', async () => {
    await limitsEverywhere({ rpm: 2, tpm: 1_000_000, windowMs: 30_000 }, { rpm: 1_000, tpm: 10_000_000 });
    const set = takeAttributes(6);
    const owner = 'frank';
    const jobId = await start(owner, set);
    const waiting = () => waitingCalls(jobId);
    await waitFor(waiting, (n) => n === 4, 30_000, '4 calls waiting for budget');
    // The reason is written by the grant round each enqueue starts, which may commit just after the calls are seen.
    const budget = await waitFor(
      async () => (await harness.jobs.llmBudget(admin)).find((m) => m.model === MODEL)!,
      (b) => b.blocked_reason !== null,
      10_000,
      'a grant round to see the 4 waiting calls',
    );
    expect(budget.waiting.by_owner).toEqual({ [owner]: 4 });
    expect(budget.blocked_reason).toBe('waiting for requests-per-minute budget');

    await harness.jobs.pause({ subject: owner, admin: false }, jobId, { now: true });
    await waitFor(
      async () => (await harness.jobs.status(admin, jobId)).status,
      (s) => s === 'paused',
      30_000,
      'the job paused now',
    );
    await waitFor(waiting, (n) => n === 0, 10_000, 'the waiting calls taken off the queue by pause-now');
    await harness.jobs.resume({ subject: owner, admin: false }, jobId);
    await waitFor(waiting, (n) => n > 0, 30_000, 'calls waiting for budget again after resume');
    await harness.jobs.cancel({ subject: owner, admin: false }, jobId);
    expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'cancelled' });
    expect(await waiting()).toBe(0);
    // The ledger granted two calls in all, and every other call left it while still waiting; so only those two
    // can ever reach the provider, and they did.
    const ledger = (await journal()).calls.filter((c) => c.jobId === jobId);
    expect(ledger.filter((c) => c.grantedAt !== null)).toHaveLength(2);
    expect(ledger.filter((c) => c.grantedAt === null).map((c) => c.deletedState)).toEqual(
      ledger.filter((c) => c.grantedAt === null).map(() => 'waiting'),
    );
    await waitFor(
      async () => callsFor(set).length,
      (n) => n >= 2,
      10_000,
      'the two granted calls at the stand-in',
    );
    expect(callsFor(set)).toHaveLength(2);
  });
});

describe('reservations settled to what calls use (the ledger on real PostgreSQL)', () => {
  const model = 'budget-test-reservations';
  const ledgerRows = () =>
    harness.db
      .selectFrom('llm_budget_calls')
      .select(['job_id', 'state', 'tokens'])
      .where('model', '=', model)
      .orderBy('id')
      .execute();
  const dbNow = async () =>
    Number(
      (await sql<{ now: string }>`select extract(epoch from clock_timestamp()) * 1000 as now`.execute(harness.db))
        .rows[0]!.now,
    );

  it('frees what a settled call did not use for the call waiting behind it at once, which reserves the completion answers used instead of the most', async () => {
    await harness.db.deleteFrom('llm_budget_calls').where('model', '=', model).execute();
    // A window of ten minutes and a heartbeat of ten: no budget frees by time and no timed round runs during the
    // test, so only the settlement's NOTIFY can let the second call in.
    await harness.jobs.setLlmBudget(admin, model, { rpm: 100, tpm: 1_000, windowMs: 600_000 });
    const budget = new PostgresLlmBudget({
      db: harness.db,
      databaseUrl: harness.config.DATABASE_URL,
      defaults: { rpm: 100, tpm: 1_000, windowMs: 600_000 },
      requestTimeoutMs: 600_000,
      staleWaiterMs: 600_000,
      heartbeatIntervalMs: 600_000,
    });
    const request = (jobId: string) => ({
      model,
      jobId,
      owner: 'ivy',
      priority: 3,
      promptTokens: 100,
      maxOutputTokens: 800,
    });
    const signal = new AbortController().signal;
    try {
      const first = await budget.acquire(request('job-a'), signal, () => undefined);
      let secondGranted = false;
      const second = budget
        .acquire(request('job-b'), signal, () => undefined)
        .then((grant) => {
          secondGranted = true;
          return grant;
        });
      // Nothing answered yet, so the first reserves its prompt and the most its answer may use: 900 of 1 000, and the
      // second, reserving as much, waits.
      await waitFor(
        async () => (await harness.jobs.llmBudget(admin)).find((m) => m.model === model)?.blocked_reason,
        (reason) => reason === 'waiting for tokens-per-minute budget',
        30_000,
        'the second call waiting for tokens',
      );
      expect(await ledgerRows()).toEqual([
        { job_id: 'job-a', state: 'granted', tokens: 900 },
        { job_id: 'job-b', state: 'waiting', tokens: 900 },
      ]);
      expect(secondGranted).toBe(false);

      // The answer used 150 tokens (50 of completion) and arrived 5 s before the settlement was written.
      const before = await dbNow();
      await first.settle({ usedTokens: 150, status: 200, sinceAnswerMs: 5_000 });
      const after = await dbNow();
      const grant = await second;
      // The second reserves its prompt and the 50 completion tokens the window's answer used: 150 + 150 of 1 000.
      expect(await ledgerRows()).toEqual([
        { job_id: 'job-a', state: 'granted', tokens: 150 },
        { job_id: 'job-b', state: 'granted', tokens: 150 },
      ]);
      // The first call's window starts at its answer, not at the settlement's write.
      const { rows } = await sql<{ settled: string }>`
        select extract(epoch from settled_at) * 1000 as settled from llm_budget_calls where model = ${model} and job_id = 'job-a'`.execute(
        harness.db,
      );
      const settled = Number(rows[0]!.settled);
      expect(settled).toBeGreaterThanOrEqual(before - 5_000);
      expect(settled).toBeLessThanOrEqual(after - 5_000);
      await grant.settle({ usedTokens: 160, status: 200 });
    } finally {
      await budget.close();
      await harness.db.deleteFrom('llm_budget_calls').where('model', '=', model).execute();
    }
  });
});
