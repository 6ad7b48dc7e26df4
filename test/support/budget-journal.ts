// A journal of the fleet LLM budget's own ledger, for tests: triggers copy every call's enqueue, grant, settle
// and delete, and every change of a model's limits or provider pause, with PostgreSQL's clock, into tables in
// a schema of their own (the ledger forgets calls once they leave the window). From it a test reads each grant
// round as the budget saw it — the calls in the window, the limits and pause in force — and asserts counts and
// order instead of wall-clock pace.

import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/database';

const SCHEMA = 'test_budget_journal';

/** Creates (or re-creates) the journal and its triggers; the app never reads the schema. */
export async function installBudgetJournal(db: Kysely<Database>): Promise<void> {
  await sql
    .raw(
      `
    create schema if not exists ${SCHEMA};
    create table if not exists ${SCHEMA}.calls (
      id bigint primary key, model text not null, job_id text not null, owner text not null, priority integer not null,
      estimate integer not null, prompt_tokens integer, max_output_tokens integer, enqueued_at timestamptz not null,
      granted_at timestamptz, settled_at timestamptz, settle_written_at timestamptz, used integer, deleted_at timestamptz,
      deleted_state text);
    create table if not exists ${SCHEMA}.limits (
      seq bigserial primary key, model text not null, at timestamptz not null, rpm integer not null, tpm integer not null,
      window_ms integer not null, paused_until timestamptz, provider_rpm integer, provider_tpm integer);
    create or replace function ${SCHEMA}.on_call() returns trigger language plpgsql as $$
    begin
      if tg_op = 'INSERT' then
        insert into ${SCHEMA}.calls (id, model, job_id, owner, priority, estimate, prompt_tokens, max_output_tokens, enqueued_at)
          values (new.id, new.model, new.job_id, new.owner, new.priority, new.tokens, new.prompt_tokens, new.max_output_tokens, new.enqueued_at)
          on conflict (id) do nothing;
      elsif tg_op = 'UPDATE' then
        if old.state = 'waiting' and new.state = 'granted' then
          update ${SCHEMA}.calls set granted_at = new.granted_at, estimate = new.tokens where id = new.id;
        end if;
        if new.settled_at is distinct from old.settled_at then
          update ${SCHEMA}.calls set settled_at = new.settled_at, settle_written_at = clock_timestamp(), used = new.tokens
            where id = new.id;
        end if;
      else
        update ${SCHEMA}.calls set deleted_at = clock_timestamp(), deleted_state = old.state where id = old.id;
      end if;
      return null;
    end $$;
    create or replace function ${SCHEMA}.on_limits() returns trigger language plpgsql as $$
    begin
      if tg_op = 'INSERT' or (new.rpm, new.tpm, new.window_ms, new.paused_until, new.provider_rpm, new.provider_tpm)
          is distinct from (old.rpm, old.tpm, old.window_ms, old.paused_until, old.provider_rpm, old.provider_tpm) then
        insert into ${SCHEMA}.limits (model, at, rpm, tpm, window_ms, paused_until, provider_rpm, provider_tpm)
          values (new.model, clock_timestamp(), new.rpm, new.tpm, new.window_ms, new.paused_until, new.provider_rpm, new.provider_tpm);
      end if;
      return null;
    end $$;
    drop trigger if exists test_budget_journal on llm_budget_calls;
    create trigger test_budget_journal after insert or update or delete on llm_budget_calls for each row execute function ${SCHEMA}.on_call();
    drop trigger if exists test_budget_journal on llm_budget_limits;
    create trigger test_budget_journal after insert or update on llm_budget_limits for each row execute function ${SCHEMA}.on_limits();
  `,
    )
    .execute(db);
}

/** Drops the triggers and the journal, so later suites sharing the database run the ledger untouched. */
export async function removeBudgetJournal(db: Kysely<Database>): Promise<void> {
  await sql
    .raw(
      `
    drop trigger if exists test_budget_journal on llm_budget_calls;
    drop trigger if exists test_budget_journal on llm_budget_limits;
    drop schema if exists ${SCHEMA} cascade;
  `,
    )
    .execute(db);
}

/**
 * Forgets what the journal holds for `model` (a test starting afresh), keeping the limits in force now as its first
 * entry.
 */
export async function clearBudgetJournal(db: Kysely<Database>, model: string): Promise<void> {
  await sql`delete from ${sql.raw(SCHEMA)}.calls where model = ${model}`.execute(db);
  await sql`delete from ${sql.raw(SCHEMA)}.limits where model = ${model}`.execute(db);
  await sql`insert into ${sql.raw(SCHEMA)}.limits (model, at, rpm, tpm, window_ms, paused_until, provider_rpm, provider_tpm)
    select model, clock_timestamp(), rpm, tpm, window_ms, paused_until, provider_rpm, provider_tpm from llm_budget_limits where model = ${model}`.execute(
    db,
  );
}

/** Times are milliseconds since the epoch on PostgreSQL's clock, with its microseconds kept as the fraction. */
export interface JournalCall {
  id: number;
  jobId: string;
  owner: string;
  priority: number;
  /** Tokens the budget counted before the provider's answer: enqueued with the most, reserved at its grant. */
  estimate: number;
  /** The prompt's tokens and the most the answer may use, as enqueued (null on rows from before they were kept). */
  promptTokens: number | null;
  maxOutputTokens: number | null;
  /** Tokens the budget counted once settled (the provider's usage). */
  used: number | null;
  enqueuedAt: number;
  grantedAt: number | null;
  /** When its window starts: the answer's arrival. */
  settledAt: number | null;
  /** When the settlement was written (after the usage row): from then on a round sees `used`. */
  settleWrittenAt: number | null;
  deletedAt: number | null;
  deletedState: 'waiting' | 'granted' | null;
}

export interface JournalLimits {
  at: number;
  rpm: number;
  tpm: number;
  windowMs: number;
  pausedUntil: number | null;
  providerRpm: number | null;
  providerTpm: number | null;
}

export interface BudgetJournal {
  calls: JournalCall[];
  /** Every change of the model's limits row, oldest first. */
  limits: JournalLimits[];
}

/** A timestamptz as fractional milliseconds: a JS Date would drop the microseconds that order two nearby writes. */
const ms = (column: string) => sql.raw(`extract(epoch from ${column}) * 1000 as ${column}`);

export async function readBudgetJournal(db: Kysely<Database>, model: string): Promise<BudgetJournal> {
  const { rows: calls } = await sql<Record<string, any>>`
    select id, job_id, owner, priority, estimate, prompt_tokens, max_output_tokens, used, deleted_state, ${ms('enqueued_at')},
      ${ms('granted_at')}, ${ms('settled_at')}, ${ms('settle_written_at')}, ${ms('deleted_at')}
    from ${sql.raw(SCHEMA)}.calls where model = ${model} order by id`.execute(db);
  const { rows: limits } = await sql<Record<string, any>>`
    select rpm, tpm, window_ms, provider_rpm, provider_tpm, ${ms('at')}, ${ms('paused_until')}
    from ${sql.raw(SCHEMA)}.limits where model = ${model} order by seq`.execute(db);
  const time = (value: unknown) => (value === null ? null : Number(value));
  return {
    calls: calls.map((r) => ({
      id: Number(r.id),
      jobId: r.job_id,
      owner: r.owner,
      priority: r.priority,
      estimate: r.estimate,
      promptTokens: r.prompt_tokens,
      maxOutputTokens: r.max_output_tokens,
      used: r.used,
      enqueuedAt: Number(r.enqueued_at),
      grantedAt: time(r.granted_at),
      settledAt: time(r.settled_at),
      settleWrittenAt: time(r.settle_written_at),
      deletedAt: time(r.deleted_at),
      deletedState: r.deleted_state,
    })),
    limits: limits.map((r) => ({
      at: Number(r.at),
      rpm: r.rpm,
      tpm: r.tpm,
      windowMs: r.window_ms,
      pausedUntil: time(r.paused_until),
      providerRpm: r.provider_rpm,
      providerTpm: r.provider_tpm,
    })),
  };
}

/**
 * How far apart (on PostgreSQL's clock) a write's timestamp and its commit may be on a busy machine: a write
 * stamped this close to a round may or may not have been visible to it, so both readings are allowed.
 */
const VISIBILITY_SLACK_MS = 500;

/** One grant round as the budget saw it, rebuilt from the journal. */
export interface GrantRound {
  at: number;
  granted: number[];
  /** The limits row the round read (the last change journaled before it). */
  limits: JournalLimits;
  rpm: number;
  tpm: number;
  /** Calls counting against the window after the round (its own grants included). */
  requests: number;
  /** Tokens counting against the window after the round: the fewest and the most the budget may have counted. */
  tokens: { least: number; most: number };
  /** Calls enqueued well before the round and granted after it: they were waiting and were left waiting. */
  leftWaiting: JournalCall[];
  /**
   * The completion tokens this round reserved per call (its grants' reservations less their prompts); null when
   * it granted only calls whose prompts were not kept apart.
   */
  reservedCompletion: number | null;
}

/** What `call` would have reserved in `round`: its prompt plus the round's completion, at most its most. */
export function reservationIn(round: GrantRound, call: JournalCall): number {
  if (call.promptTokens === null || call.maxOutputTokens === null || round.reservedCompletion === null)
    return call.estimate;
  return call.promptTokens + Math.min(call.maxOutputTokens, round.reservedCompletion);
}

/**
 * Rebuilds every grant round of the journal: a round is the set of calls granted at one instant (`now` of one
 * dispatch transaction, under the model's row lock, so rounds never overlap). A call counts against the window
 * from its grant until one window after it settled; one deleted unsettled (a 429, an abort) until its delete.
 */
export function grantRounds(journal: BudgetJournal): GrantRound[] {
  const byInstant = new Map<number, JournalCall[]>();
  for (const call of journal.calls)
    if (call.grantedAt !== null) byInstant.set(call.grantedAt, [...(byInstant.get(call.grantedAt) ?? []), call]);
  return [...byInstant.keys()]
    .sort((a, b) => a - b)
    .map((t) => {
      const limits = limitsAt(journal, t);
      const inWindow = journal.calls.filter((c) => {
        if (c.grantedAt === null || c.grantedAt > t) return false;
        if (c.settledAt !== null) return c.settledAt > t - limits.windowMs;
        return c.deletedAt === null || c.deletedAt > t - VISIBILITY_SLACK_MS;
      });
      let least = 0;
      let most = 0;
      for (const c of inWindow) {
        const used = c.used ?? c.estimate;
        // The window starts at the answer (settledAt), but a round sees the usage only once it is written.
        const written = c.settleWrittenAt ?? c.settledAt;
        if (written === null || written > t + VISIBILITY_SLACK_MS) {
          least += c.estimate;
          most += c.estimate;
        } else if (written < t - VISIBILITY_SLACK_MS) {
          least += used;
          most += used;
        } else {
          least += Math.min(c.estimate, used);
          most += Math.max(c.estimate, used);
        }
      }
      const leftWaiting = journal.calls.filter(
        (c) =>
          c.enqueuedAt < t - VISIBILITY_SLACK_MS &&
          (c.grantedAt === null || c.grantedAt > t) &&
          (c.deletedAt === null || c.deletedAt > t),
      );
      const completions = byInstant
        .get(t)!
        .filter((c) => c.promptTokens !== null)
        .map((c) => c.estimate - c.promptTokens!);
      return {
        at: t,
        granted: byInstant.get(t)!.map((c) => c.id),
        reservedCompletion: completions.length > 0 ? Math.max(...completions) : null,
        limits,
        rpm: Math.min(limits.rpm, limits.providerRpm ?? Infinity),
        tpm: Math.min(limits.tpm, limits.providerTpm ?? Infinity),
        requests: inWindow.length,
        tokens: { least, most },
        leftWaiting,
      };
    });
}

/** The limits row in force at `t`: the last change journaled before it (a change waits for the round's row lock). */
export function limitsAt(journal: BudgetJournal, t: number): JournalLimits {
  const last = journal.limits.filter((l) => l.at < t).at(-1);
  if (!last)
    throw new Error(
      `no limits journaled before ${new Date(t).toISOString()}: clear the journal before the model's first call`,
    );
  return last;
}

export interface JournalPause {
  setAt: number;
  until: number;
  /** `until`, or earlier when the row was changed again before it (a test releasing its hold). */
  endedAt: number;
}

/** Pauses as journaled (a provider's 429 or spent quota, or a test holding the budget), oldest first. */
export function pausesOf(journal: BudgetJournal): JournalPause[] {
  const pauses: JournalPause[] = [];
  journal.limits.forEach((change, i) => {
    const until = change.pausedUntil;
    if (until === null || until <= change.at) return;
    if (i > 0 && journal.limits[i - 1]!.pausedUntil === until) return;
    const next = journal.limits.slice(i + 1).find((l) => l.pausedUntil !== until);
    pauses.push({ setAt: change.at, until, endedAt: next && next.at < until ? next.at : until });
  });
  return pauses;
}
