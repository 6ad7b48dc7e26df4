// The fleet-wide LLM budget as one worker process sees it: its calls wait in the shared PostgreSQL ledger
// (llm-budget-ledger.ts) and wake on NOTIFY or when budget is due to free up, never by busy polling; a call
// granted by any worker's round goes at once (the grant's NOTIFY names it). While waiting they heartbeat, so
// cancel and pause-now reach them, and an abort takes them off the queue.

import { hostname } from 'node:os';
import { Context } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import pg from 'pg';
import type { Database } from '../../../db/database';
import type { BudgetGrant, BudgetRequest, LlmBudget } from './llm-budget';
import {
  BUDGET_CHANNEL,
  GRANTED_CHANNEL,
  dispatch,
  enqueueCall,
  refreshCalls,
  releaseCall,
  settleCall,
  type DispatchOutcome,
  type GrantedNotice,
  type LedgerSettings,
} from './llm-budget-ledger';

export interface PostgresBudgetOptions extends LedgerSettings {
  db: Kysely<Database>;
  /** For the LISTEN connection, which must stay open outside the pool. */
  databaseUrl: string;
  /** How often a waiting call heartbeats and re-checks the ledger when no NOTIFY arrives. */
  heartbeatIntervalMs: number;
}

interface LocalWaiter {
  id: number;
  model: string;
  granted(): void;
  failed(error: Error): void;
}

export class PostgresLlmBudget implements LlmBudget {
  private readonly worker = `${hostname()}:${process.pid}`;
  private readonly waiters = new Map<number, LocalWaiter>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly rounds = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private listener: Promise<pg.Client> | undefined;
  private closed = false;

  constructor(private readonly options: PostgresBudgetOptions) {}

  async acquire(
    request: BudgetRequest,
    signal: AbortSignal,
    heartbeat: (details: Record<string, unknown>) => void,
  ): Promise<BudgetGrant> {
    signal.throwIfAborted();
    await this.listen();
    const { db } = this.options;
    const id = await enqueueCall(db, request, this.worker);
    const waitingSince = Date.now();
    await new Promise<void>((resolve, reject) => {
      const beat = () => heartbeat({ budget: 'waiting', model: request.model });
      const timer = setInterval(beat, this.options.heartbeatIntervalMs);
      const done = () => {
        clearInterval(timer);
        signal.removeEventListener('abort', onAbort);
        this.waiters.delete(id);
      };
      const onAbort = () => {
        done();
        // Off the queue (or, if granted meanwhile, back into the window) before the activity reports cancelled.
        // Temporal aborts an activity's signal with its CancelledFailure, so the reason is an Error.
        const cancelled = () => reject(signal.reason as Error);
        releaseCall(db, id, request.model).then(cancelled, cancelled);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(id, {
        id,
        model: request.model,
        granted: () => (done(), resolve()),
        failed: (error) => (done(), reject(error)),
      });
      beat();
      this.kick(request.model);
    });
    observe((meter) =>
      meter
        .createHistogram('synapse_llm_budget_wait', 'int', 'ms', 'Time an LLM call waited for the fleet-wide budget')
        .record(Date.now() - waitingSince, { model: request.model }),
    );
    const call = { id, model: request.model, jobId: request.jobId, worker: this.worker };
    return {
      settle: async (outcome) => {
        if (outcome.status === 429)
          observe((meter) =>
            meter
              .createCounter('synapse_llm_budget_provider_429s', '1', '429s that paused the budget for every worker')
              .add(1, { model: request.model }),
          );
        await settleCall(db, call, outcome);
      },
    };
  }

  /** Stops listening and waking; waiting calls fail (their activities are being cancelled by shutdown anyway). */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    for (const waiter of [...this.waiters.values()])
      waiter.failed(new Error('LLM budget closed: the worker is shutting down'));
    const listener = await this.listener?.catch(() => undefined);
    await listener?.end().catch(() => undefined);
  }

  private listen(): Promise<pg.Client> {
    this.listener ??= (async () => {
      const client = new pg.Client({ connectionString: this.options.databaseUrl });
      client.on('notification', (message) => {
        if (!message.payload) return;
        if (message.channel === BUDGET_CHANNEL) this.kick(message.payload);
        else if (message.channel === GRANTED_CHANNEL) this.grantedNotice(message.payload);
      });
      // A broken LISTEN connection is replaced on the next acquire; meanwhile the timed re-checks carry on.
      client.on('error', () => {
        this.listener = undefined;
      });
      await client.connect();
      await client.query(`listen ${BUDGET_CHANNEL}; listen ${GRANTED_CHANNEL}`);
      return client;
    })();
    this.listener.catch(() => {
      this.listener = undefined;
    });
    return this.listener;
  }

  /** A payload that is not a notice (written by hand with pg_notify) is ignored: the next round sees the grants. */
  private grantedNotice(payload: string): void {
    let notice: GrantedNotice;
    try {
      notice = JSON.parse(payload) as GrantedNotice;
    } catch {
      return;
    }
    if (Array.isArray(notice.ids)) this.granted(notice);
  }

  /** Sends this process's calls among those a round (here or in another worker) just granted. */
  private granted(notice: GrantedNotice): void {
    for (const id of notice.ids) this.waiters.get(id)?.granted();
  }

  /** Runs a grant round for `model` now; rounds do not overlap, and a kick during one runs another after it. */
  private kick(model: string): void {
    if (this.closed || ![...this.waiters.values()].some((w) => w.model === model)) return;
    if (this.rounds.has(model)) {
      this.again.add(model);
      return;
    }
    const round = this.round(model)
      .catch(() => undefined) // the next timed round tries again; a database blip must not fail the calls
      .finally(() => {
        this.rounds.delete(model);
        if (this.again.delete(model)) this.kick(model);
      });
    this.rounds.set(model, round);
  }

  private async round(model: string): Promise<void> {
    clearTimeout(this.timers.get(model));
    let outcome: DispatchOutcome | undefined;
    // The next check is due counted from the round's start (the ledger read its clock then), not from its end.
    const startedAt = Date.now();
    try {
      outcome = await dispatch(this.options.db, model, this.options);
      this.granted({ model, ids: outcome.granted });
      const mine = [...this.waiters.values()].filter((w) => w.model === model);
      const states = await refreshCalls(
        this.options.db,
        mine.map((w) => w.id),
      );
      for (const waiter of mine) {
        const state = states.get(waiter.id);
        if (state === 'granted') waiter.granted();
        // Dropped as stale (this process stalled longer than staleWaiterMs): Temporal retries the activity.
        else if (state === undefined) waiter.failed(new Error('LLM budget wait lost its place in the queue'));
      }
    } finally {
      const nextCheckInMs = outcome?.nextCheckInMs;
      this.schedule(
        model,
        nextCheckInMs === undefined || nextCheckInMs === null ? null : nextCheckInMs - (Date.now() - startedAt),
      );
    }
  }

  /**
   * Next look: when budget frees up, or after a heartbeat interval at the latest (a missed NOTIFY, a dead worker's
   * calls).
   */
  private schedule(model: string, nextCheckInMs: number | null): void {
    if (this.closed || ![...this.waiters.values()].some((w) => w.model === model)) return;
    // A check a few milliseconds early (PostgreSQL read its clock a little after the round started) finds nothing
    // freed and schedules the next; one late leaves the freed budget idle.
    const timer = setTimeout(
      () => this.kick(model),
      Math.max(0, Math.min(nextCheckInMs ?? Infinity, this.options.heartbeatIntervalMs)),
    );
    timer.unref();
    this.timers.set(model, timer);
  }
}

/** Worker metrics through the activity's meter (docs/llm.md, Visible); outside an activity (a bench) there is none. */
function observe(record: (meter: Context['metricMeter']) => void): void {
  try {
    record(Context.current().metricMeter);
  } catch {
    // Not in an activity: nothing to record to.
  }
}
