// The budget's state in PostgreSQL, shared by every worker process: limits per model, the calls waiting for
// or holding budget, recent 429s. Granting runs under a row lock on the model, so two workers never hand
// out the same budget; every change is announced on NOTIFY llm_budget so waiters elsewhere look at once, and
// every grant on NOTIFY llm_budget_granted with the granted ids, so their workers send them without a round.

import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../../../db/database';
import type { BudgetRequest, BudgetSettlement } from './llm-budget';
import { planGrants, type BlockedReason, type Waiter, type WindowUsage } from './llm-budget-plan';
import { readProviderSignals } from './llm-budget-provider';

export const BUDGET_CHANNEL = 'llm_budget';
export const GRANTED_CHANNEL = 'llm_budget_granted';

/** NOTIFY llm_budget_granted's payload. */
export interface GrantedNotice {
  model: string;
  ids: number[];
}

/** PostgreSQL refuses a NOTIFY payload of 8 000 bytes or more; a larger grant is announced as a plain change. */
const MAX_NOTICE_BYTES = 7_900;

export interface LedgerSettings {
  /** Limits a model gets the first time it is used; later changes go through the API (client/llm-budget.ts). */
  defaults: { rpm: number; tpm: number; windowMs: number };
  /** A granted call never settled (its worker died) stops counting this long after it was granted, plus a window. */
  requestTimeoutMs: number;
  /** A waiting call whose worker stopped refreshing it this long ago is dropped (the worker is gone). */
  staleWaiterMs: number;
}

export interface DispatchOutcome {
  granted: number[];
  blocked: BlockedReason;
  /**
   * In how long budget may next free up (a granted call leaving the window, the provider's pause ending); by the
   * database's clock, so worker clocks may differ.
   */
  nextCheckInMs: number | null;
}

/** How many waiting calls one grant round looks at; the rest wait their turn behind them. */
const DISPATCH_BATCH = 500;

/** Wakes every worker's waiters for `model` to look at the ledger and limits again. */
export const notifyBudgetChanged = (db: Kysely<Database> | Transaction<Database>, model: string) =>
  sql`select pg_notify(${BUDGET_CHANNEL}, ${model})`.execute(db);

export async function enqueueCall(db: Kysely<Database>, request: BudgetRequest, worker: string): Promise<number> {
  const row = await db
    .insertInto('llm_budget_calls')
    .values({
      model: request.model,
      job_id: request.jobId,
      owner: request.owner,
      priority: request.priority,
      // Until a grant round knows what recent answers used, the most the call may use.
      tokens: request.promptTokens + request.maxOutputTokens,
      prompt_tokens: request.promptTokens,
      max_output_tokens: request.maxOutputTokens,
      state: 'waiting',
      worker,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** A call that will not be sent (cancelled while waiting, or granted but aborted before sending). */
export async function releaseCall(db: Kysely<Database>, id: number, model: string): Promise<void> {
  await db.deleteFrom('llm_budget_calls').where('id', '=', id).execute();
  await notifyBudgetChanged(db, model);
}

/** Proves the waiting calls' worker is alive; returns the states of those still in the ledger. */
export async function refreshCalls(db: Kysely<Database>, ids: number[]): Promise<Map<number, 'waiting' | 'granted'>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .updateTable('llm_budget_calls')
    .set({ seen_at: sql`clock_timestamp()` })
    .where('id', 'in', ids)
    .returning(['id', 'state'])
    .execute();
  return new Map(rows.map((r) => [r.id, r.state]));
}

/** Grants waiting calls of `model` in fairness order while its window has room. */
export async function dispatch(
  db: Kysely<Database>,
  model: string,
  settings: LedgerSettings,
): Promise<DispatchOutcome> {
  return db.transaction().execute(async (trx) => {
    const { rpm, tpm, windowMs } = settings.defaults;
    await trx
      .insertInto('llm_budget_limits')
      .values({ model, rpm, tpm, window_ms: windowMs })
      .onConflict((oc) => oc.column('model').doNothing())
      .execute();
    const limits = await trx
      .selectFrom('llm_budget_limits')
      .selectAll()
      .where('model', '=', model)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const { rows } = await sql<{ now: Date }>`select clock_timestamp() as now`.execute(trx);
    const now = rows[0]!.now;
    const windowStart = new Date(now.getTime() - limits.window_ms);
    const unsettledCutoff = new Date(windowStart.getTime() - settings.requestTimeoutMs);
    await trx
      .deleteFrom('llm_budget_calls')
      .where('model', '=', model)
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'granted'), eb('settled_at', '<=', windowStart)]),
          eb.and([eb('state', '=', 'granted'), eb('settled_at', 'is', null), eb('granted_at', '<=', unsettledCutoff)]),
          eb.and([eb('state', '=', 'waiting'), eb('seen_at', '<', new Date(now.getTime() - settings.staleWaiterMs))]),
        ]),
      )
      .execute();
    const usage = await windowUsage(trx, model);
    const expectedCompletion = await recentCompletion(trx, model);
    const waiters = await waitingCalls(trx, model, expectedCompletion);
    const effective = {
      rpm: Math.min(limits.rpm, limits.provider_rpm ?? Infinity),
      tpm: Math.min(limits.tpm, limits.provider_tpm ?? Infinity),
      pausedUntil: limits.paused_until,
    };
    const plan = planGrants(effective, usage.window, waiters, now);
    if (plan.grant.length > 0) {
      await trx
        .updateTable('llm_budget_calls')
        .set({ state: 'granted', granted_at: now, tokens: reservation(expectedCompletion) })
        .where('id', 'in', plan.grant)
        .execute();
      const notice = JSON.stringify({ model, ids: plan.grant } satisfies GrantedNotice);
      if (Buffer.byteLength(notice) < MAX_NOTICE_BYTES)
        await sql`select pg_notify(${GRANTED_CHANNEL}, ${notice})`.execute(trx);
      else await notifyBudgetChanged(trx, model);
    }
    if (plan.blocked !== limits.blocked_reason)
      await trx
        .updateTable('llm_budget_limits')
        .set({ blocked_reason: plan.blocked })
        .where('model', '=', model)
        .execute();
    const paused = limits.paused_until && limits.paused_until > now ? limits.paused_until : null;
    const freesAt = usage.nextExpiry ? new Date(usage.nextExpiry.getTime() + limits.window_ms) : null;
    const nextCheckAt = paused ?? freesAt;
    return {
      granted: plan.grant,
      blocked: plan.blocked,
      nextCheckInMs: nextCheckAt ? Math.max(0, nextCheckAt.getTime() - now.getTime()) : null,
    };
  });
}

async function windowUsage(
  trx: Transaction<Database>,
  model: string,
): Promise<{ window: WindowUsage; nextExpiry: Date | null }> {
  const rows = await trx
    .selectFrom('llm_budget_calls')
    .select((eb) => [
      'owner',
      eb.fn.countAll<number>().as('requests'),
      eb.fn.sum<number>('tokens').as('tokens'),
      eb.fn.min('settled_at').as('first_settled'),
    ])
    .where('model', '=', model)
    .where('state', '=', 'granted')
    .groupBy('owner')
    .execute();
  const window: WindowUsage = { requests: 0, tokens: 0, byOwner: new Map() };
  let nextExpiry: Date | null = null;
  for (const row of rows) {
    window.requests += Number(row.requests);
    window.tokens += Number(row.tokens);
    window.byOwner.set(row.owner, Number(row.requests));
    const settled = row.first_settled;
    if (settled && (!nextExpiry || settled < nextExpiry)) nextExpiry = settled;
  }
  return { window, nextExpiry };
}

/**
 * The most completion tokens an answer in the window used (calls count there for a window after their answer):
 * what the next call reserves for its answer, so a reservation is the size of a real call rather than the most
 * any call may use. The most rather than the mean, so a waiting call is rarely reserved short; null when the
 * window holds no answer yet.
 */
async function recentCompletion(trx: Transaction<Database>, model: string): Promise<number | null> {
  const row = await trx
    .selectFrom('llm_budget_calls')
    .select((eb) => eb.fn.max<number | null>(sql<number>`greatest(0, tokens - prompt_tokens)`).as('completion'))
    .where('model', '=', model)
    .where('state', '=', 'granted')
    .where('settled_at', 'is not', null)
    .where('prompt_tokens', 'is not', null)
    .executeTakeFirst();
  return row?.completion ?? null;
}

/**
 * A call's reservation: its prompt plus the completion recent answers used, capped by the most it may use (all of
 * it while nothing is known). Calls enqueued before prompts were counted apart keep what they were enqueued with.
 */
const reservation = (expectedCompletion: number | null) =>
  sql<number>`case when prompt_tokens is null then tokens
    else prompt_tokens + least(max_output_tokens, coalesce(${expectedCompletion}::integer, max_output_tokens)) end`;

async function waitingCalls(
  trx: Transaction<Database>,
  model: string,
  expectedCompletion: number | null,
): Promise<Waiter[]> {
  const rows = await trx
    .selectFrom('llm_budget_calls as c')
    .leftJoin('jobs as j', 'j.id', 'c.job_id')
    .select(['c.id', 'c.owner', 'c.priority', 'c.tokens', 'c.prompt_tokens', 'c.max_output_tokens', 'j.status'])
    .where('c.model', '=', model)
    .where('c.state', '=', 'waiting')
    .orderBy('c.priority')
    .orderBy('c.id')
    .limit(DISPATCH_BATCH)
    .execute();
  // A paused job's waiting calls keep their place but take no budget until it resumes.
  return rows.map((r) => ({
    id: r.id,
    owner: r.owner,
    priority: r.priority,
    tokens:
      r.prompt_tokens === null || r.max_output_tokens === null
        ? r.tokens
        : r.prompt_tokens + Math.min(r.max_output_tokens, expectedCompletion ?? r.max_output_tokens),
    held: r.status === 'paused',
  }));
}

/**
 * Corrects the call's tokens with what the provider reports it used and starts its window from the answer's
 * arrival (the provider counted it from its own arrival, earlier still); a 429 or an exhausted quota pauses the
 * model for every worker until the provider's reset.
 */
export async function settleCall(
  db: Kysely<Database>,
  call: { id: number; model: string; jobId: string; worker: string },
  outcome: BudgetSettlement,
): Promise<void> {
  const signals = readProviderSignals(outcome.status, outcome.headers);
  if (outcome.status === 429) {
    // The provider did not admit it, so it takes no room in the window.
    await db.deleteFrom('llm_budget_calls').where('id', '=', call.id).execute();
  } else {
    await db
      .updateTable('llm_budget_calls')
      .set((eb) => ({
        // Durations only cross from the worker's clock: the answer arrived this long before PostgreSQL's now.
        settled_at: sql`clock_timestamp() - make_interval(secs => ${Math.max(0, outcome.sinceAnswerMs ?? 0) / 1000})`,
        tokens: outcome.usedTokens ?? eb.ref('tokens'),
      }))
      .where('id', '=', call.id)
      .execute();
  }
  if (signals.pauseMs) {
    await db
      .updateTable('llm_budget_limits')
      .set({
        // Rounded up to the whole millisecond: a round reads its clock into a JS Date, which drops the microseconds,
        // so a pause kept finer than that could look ended up to a millisecond before it is.
        paused_until: sql`date_trunc('milliseconds', greatest(coalesce(paused_until, clock_timestamp()), clock_timestamp() + make_interval(secs => ${signals.pauseMs / 1000})) + interval '999 microseconds')`,
      })
      .where('model', '=', call.model)
      .execute();
    if (outcome.status === 429) await recordRateLimit(db, call, Math.round(signals.pauseMs), signals.reason ?? '429');
  }
  await adoptProviderLimits(db, call.model, signals.requestLimit, signals.tokenLimit);
  await notifyBudgetChanged(db, call.model);
}

async function recordRateLimit(
  db: Kysely<Database>,
  call: { model: string; jobId: string; worker: string },
  pauseMs: number,
  reason: string,
): Promise<void> {
  await db
    .insertInto('llm_budget_rate_limits')
    .values({ model: call.model, status: 429, pause_ms: pauseMs, reason, job_id: call.jobId, worker: call.worker })
    .execute();
  // "Recent" 429s: an hour is plenty to explain a slow job, and keeps the table small.
  await db
    .deleteFrom('llm_budget_rate_limits')
    .where('at', '<', sql<Date>`clock_timestamp() - interval '1 hour'`)
    .execute();
}

/** The account's real quota (x-ratelimit-limit-*) caps the configured one; written only when it changes. */
async function adoptProviderLimits(
  db: Kysely<Database>,
  model: string,
  rpm: number | undefined,
  tpm: number | undefined,
): Promise<void> {
  if (rpm === undefined && tpm === undefined) return;
  await db
    .updateTable('llm_budget_limits')
    .set((eb) => ({ provider_rpm: rpm ?? eb.ref('provider_rpm'), provider_tpm: tpm ?? eb.ref('provider_tpm') }))
    .where('model', '=', model)
    .where((eb) =>
      eb.or([eb('provider_rpm', 'is distinct from', rpm ?? null), eb('provider_tpm', 'is distinct from', tpm ?? null)]),
    )
    .execute();
}
