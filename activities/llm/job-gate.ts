// A job's LLM concurrency, held on the worker side: a workflow may schedule more of a job's LLM activities than the job
// may have calls in flight (their column profiles and stored-result checks run ahead), and each call waits here for
// one of the job's `llmConcurrency` slots. The slots are rows in PostgreSQL (llm_job_slots), so the limit holds across
// every worker; a slot freed on this worker goes straight to a call of the same job waiting here, with no round trip,
// and slots freed elsewhere are found by a short poll. A slot is leased: a worker that dies loses its slots when the
// lease runs out. A call waiting for a slot of a paused job gives up with LlmCallDeferred, and the workflow puts
// its item back in the queue: a paused job sends no new call. The worker hears of a pause as PostgreSQL pushes the job's
// changes (job_events, activities/jobs/job-events.ts), so handing a slot on costs no query.

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import { sql, type Kysely } from 'kysely';
import { FailureType } from '../../common/failures';
import type { Database } from '../../db/database';
import { JobEvents, type JobEventsOptions } from '../jobs/job-events';

export interface JobGateOptions {
  /** A pool of the gate's own, so a slot is never claimed behind the activities' queries. */
  db: Kysely<Database>;
  /**
   * A slot held by a worker that stopped renewing it (its process died) comes free this long after its last renewal.
   * Renewed every third of it, so a worker that is merely busy never loses one.
   */
  leaseMs: number;
  /** How often calls waiting here look for slots freed by other workers, and whether their job was paused. */
  pollMs: number;
  /** How often a waiting call heartbeats (so cancel and pause-now reach it). */
  heartbeatIntervalMs: number;
  /**
   * The worker's feed of its jobs' changes, reading whether each is paused (watchPauses). With it, a hand-over trusts
   * the status last heard until the next change is heard; without it, or while its connection is down, a hand-over
   * reads the status (one read serving PAUSE_READ_REUSE_MS of hand-overs).
   */
  pauses?: JobEvents<boolean>;
}

/**
 * Gives the slot back; calling it again does nothing. `aborted`: the call was cancelled (the job cancelled or paused
 * now), and the job's other calls waiting here are about to be too: for two heartbeats no slot of the job is handed on
 * or claimed here, so none of them is sent in the moment before its own cancel reaches it.
 */
export type ReleaseSlot = (outcome?: { aborted?: boolean }) => void;

export interface LlmJobGate {
  /**
   * Resolves when the job has a slot for this call; while waiting it calls `heartbeat`, gives up when `signal` aborts,
   * and fails with LlmCallDeferred when the job is paused.
   */
  acquire(
    jobId: string,
    limit: number,
    signal: AbortSignal,
    heartbeat: (details: Record<string, unknown>) => void,
  ): Promise<ReleaseSlot>;
}

interface Waiter {
  granted(slot: number): void;
  failed(error: Error): void;
}

interface JobSlots {
  limit: number;
  /** Slots this worker holds for the job (in use, or being handed to a waiter). */
  held: Set<number>;
  /** Calls waiting on this worker, first come first served. */
  waiters: Waiter[];
  /**
   * Whether the job is paused, as last read or heard: valid until the feed hears of a change while the feed's connection
   * stays up (`epoch`, the feed's connection it was read under), else for PAUSE_READ_REUSE_MS.
   */
  pausedRead?: { at: number; paused: Promise<boolean>; epoch?: number };
  /** The job followed on the feed of changes; resolves to the unsubscribe. */
  watch?: Promise<() => void>;
  /** Until when (ms since the epoch) no slot of the job is handed on or claimed here: a call of it was cancelled. */
  quietUntil: number;
  /** Making sure the job's slot rows exist, once per worker (calls arriving meanwhile wait for the same). */
  rowsMade: Promise<void> | undefined;
  /** A claim from the ledger under way for the calls waiting here (claimForWaiting). */
  claiming?: Promise<void>;
}

/** The job was paused while the call waited: nothing was sent, the item goes back to the workflow's queue. */
export function callDeferred(jobId: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.LlmCallDeferred,
    nonRetryable: true,
    message: `job ${jobId} is paused: the LLM call was not sent and its item goes back to the queue`,
  });
}

export class PostgresJobGate implements LlmJobGate {
  /** This process, as the holder of its slots: host, pid and a random part, so a restarted pid is a new holder. */
  readonly holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly jobs = new Map<string, JobSlots>();
  private pollTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: JobGateOptions) {}

  acquire(
    jobId: string,
    limit: number,
    signal: AbortSignal,
    heartbeat: (details: Record<string, unknown>) => void,
  ): Promise<ReleaseSlot> {
    signal.throwIfAborted();
    const job = this.job(jobId, limit);
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const beat = () => heartbeat({ slots: 'waiting', limit: job.limit });
      const timer = setInterval(beat, this.options.heartbeatIntervalMs);
      const done = () => {
        clearInterval(timer);
        signal.removeEventListener('abort', onAbort);
        const at = job.waiters.indexOf(waiter);
        if (at >= 0) job.waiters.splice(at, 1);
        this.forgetIfIdle(jobId, job);
      };
      const waiter: Waiter = {
        granted: (slot) => {
          const release = this.hold(jobId, limit, slot);
          done();
          resolve(release);
        },
        failed: (error) => {
          done();
          reject(error);
        },
      };
      const onAbort = () => {
        done();
        // Temporal aborts an activity's signal with its CancelledFailure, so the reason is an Error.
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // In line first, so a slot freed here while the ledger is asked comes to this call all the same.
      job.waiters.push(waiter);
      this.claimForWaiting(jobId, job);
    });
  }

  /**
   * Asks the ledger for the calls waiting here: as many slots as there are such calls (at most the job's limit less
   * what this worker holds), in one statement, given in line order. While it got all it asked for and calls are still
   * waiting (they came meanwhile), it asks again at once, so a job's first calls all go out together instead of one a
   * poll. Calls arriving while it asks are served by it; a paused job's calls are all deferred; none free, the poll
   * (and the hand-overs) take over.
   */
  private claimForWaiting(jobId: string, job: JobSlots): void {
    if (job.claiming) return;
    job.claiming = (async () => {
      try {
        while (!this.closed && !quiet(job)) {
          const wanted = Math.min(job.waiters.length, job.limit - job.held.size);
          if (wanted <= 0) break;
          const got = await this.claimAndGrant(jobId, job, wanted);
          if (got === 'paused' || got < wanted) break;
        }
      } catch {
        // The database is unreachable: the poll asks again.
      } finally {
        job.claiming = undefined;
      }
      if (job.waiters.length > 0) this.startPolling();
    })();
  }

  /**
   * One claim of up to `wanted` of the job's slots, given to the calls waiting here in line order; a paused job's
   * waiting calls are all deferred instead. Returns how many slots the ledger gave, or 'paused'.
   */
  private async claimAndGrant(jobId: string, job: JobSlots, wanted: number): Promise<number | 'paused'> {
    await this.makeRows(jobId, job);
    const { paused, slots } = await this.claim(jobId, job.limit, wanted);
    if (paused) {
      for (const waiter of job.waiters.splice(0)) waiter.failed(callDeferred(jobId));
      return 'paused';
    }
    for (const slot of slots) {
      // A call may have given up (or been handed a slot freed here) meanwhile: a slot nobody waits for goes back.
      const next = job.waiters.shift();
      if (next) next.granted(slot);
      else await this.free(jobId, slot);
    }
    return slots.length;
  }

  /** Gives every slot this worker holds back, and stops its timers (the worker is shutting down). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearInterval(this.renewTimer);
    await this.polling;
    await this.options.db
      .updateTable('llm_job_slots')
      .set({ holder: null, held_until: null })
      .where('holder', '=', this.holder)
      .execute();
  }

  private job(jobId: string, limit: number): JobSlots {
    let job = this.jobs.get(jobId);
    if (!job) {
      const made: JobSlots = { limit, held: new Set(), waiters: [], quietUntil: 0, rowsMade: undefined };
      const feed = this.options.pauses;
      // Followed from now on (the subscription is registered before subscribe's first await): every change to the
      // job's row from here is heard, and what is heard replaces what was read.
      made.watch = feed?.subscribe(jobId, (paused) => {
        made.pausedRead = { at: Date.now(), paused: Promise.resolve(paused === true), epoch: feed.epoch };
      });
      made.watch?.catch(() => undefined); // the feed is closed (the worker is stopping): hand-overs read instead
      job = made;
      this.jobs.set(jobId, job);
    }
    return job;
  }

  private forgetIfIdle(jobId: string, job: JobSlots): void {
    if (job.held.size === 0 && job.waiters.length === 0 && this.jobs.get(jobId) === job) {
      this.jobs.delete(jobId);
      void job.watch?.then(
        (stop) => stop(),
        () => undefined,
      );
    }
  }

  /** Counts `slot` as held here, in the job's current entry (which is kept while it holds a slot). */
  private hold(jobId: string, limit: number, slot: number): ReleaseSlot {
    this.job(jobId, limit).held.add(slot);
    this.startRenewing();
    let released = false;
    return (outcome) => {
      if (released) return;
      released = true;
      if (outcome?.aborted) this.job(jobId, limit).quietUntil = Date.now() + 2 * this.options.heartbeatIntervalMs;
      void this.handOver(jobId, limit, slot);
    };
  }

  /**
   * A slot this worker no longer uses: to the first call of the same job waiting here, unless the job is now paused
   * (then every call waiting here is deferred), or back to the ledger.
   */
  private async handOver(jobId: string, limit: number, slot: number): Promise<void> {
    const job = this.job(jobId, limit);
    try {
      if (job.waiters.length > 0 && !this.closed && !quiet(job)) {
        // Read now, not as the last poll saw it: a job paused a moment ago sends no further call. One small query on the
        // gate's own connections, where a round trip through the ledger would be three.
        if (await this.pausedNow(jobId, job))
          for (const waiter of job.waiters.splice(0)) waiter.failed(callDeferred(jobId));
        const next = job.waiters.shift();
        if (next) return next.granted(slot);
      }
      job.held.delete(slot);
      this.forgetIfIdle(jobId, job);
      await this.free(jobId, slot);
    } catch {
      // The database is unreachable: the slot stays leased to us until its lease runs out, then comes free.
      job.held.delete(slot);
      this.forgetIfIdle(jobId, job);
    }
  }

  private makeRows(jobId: string, job: JobSlots): Promise<void> {
    job.rowsMade ??= sql`insert into llm_job_slots (job_id, slot)
      select ${jobId}, g from generate_series(0, ${job.limit - 1}::int) as g
      on conflict do nothing`
      .execute(this.options.db)
      .then(
        () => undefined,
        (error: unknown) => {
          job.rowsMade = undefined; // the next call tries again
          throw error;
        },
      );
    return job.rowsMade;
  }

  /**
   * Unless the job is paused, takes up to `count` of its free slots (or slots whose holder's lease ran out) for this
   * worker: one statement, as every call not handed a slot here makes one.
   */
  private async claim(jobId: string, limit: number, count: number): Promise<{ paused: boolean; slots: number[] }> {
    const { rows } = await sql<{ paused: boolean; slots: number[] | null }>`
      with paused as (select exists (select 1 from jobs where id = ${jobId} and status = 'paused') as paused),
      free as (
        select job_id, slot from llm_job_slots
        where job_id = ${jobId} and slot < ${limit}::int and (holder is null or held_until < clock_timestamp())
          and not (select paused from paused)
        order by slot
        limit ${count}::int
        for update skip locked
      ),
      claimed as (
        update llm_job_slots as s
        set holder = ${this.holder}, held_until = clock_timestamp() + ${this.options.leaseMs}::int * interval '1 millisecond'
        from free
        where s.job_id = free.job_id and s.slot = free.slot
        returning s.slot
      )
      select (select paused from paused) as paused, (select array_agg(slot) from claimed) as slots`.execute(
      this.options.db,
    );
    return { paused: rows[0]?.paused ?? false, slots: rows[0]?.slots ?? [] };
  }

  private async free(jobId: string, slot: number): Promise<void> {
    await this.options.db
      .updateTable('llm_job_slots')
      .set({ holder: null, held_until: null })
      .where('job_id', '=', jobId)
      .where('slot', '=', slot)
      .where('holder', '=', this.holder)
      .execute();
  }

  /**
   * Whether the job is paused. With the feed listening, as last read or heard under its current connection: a pause is
   * heard as soon as it is written (plus one read), and a hand-over costs no query. Otherwise read at most
   * PAUSE_READ_REUSE_MS ago: at 50 answers a second one read serves a few hand-overs, and a call is handed a slot at
   * most that long after its job's pause was written.
   */
  private pausedNow(jobId: string, job: JobSlots): Promise<boolean> {
    const now = Date.now();
    const feed = this.options.pauses;
    const listening = feed !== undefined && feed.listening && job.watch !== undefined;
    const last = job.pausedRead;
    const heard = listening && last?.epoch === feed.epoch;
    if (!last || (!heard && now - last.at >= PAUSE_READ_REUSE_MS)) {
      const paused = jobIsPaused(this.options.db, jobId).then((p) => p === true);
      const read = { at: now, paused, epoch: listening ? feed.epoch : undefined };
      job.pausedRead = read;
      paused.catch(() => {
        if (job.pausedRead === read) job.pausedRead = undefined;
      });
    }
    return job.pausedRead!.paused;
  }

  private startPolling(): void {
    if (this.pollTimer || this.closed) return;
    this.pollTimer = setInterval(() => {
      this.polling ??= this.poll().finally(() => (this.polling = undefined));
    }, this.options.pollMs).unref();
  }

  /** For each job with calls waiting here: defer them all if it was paused, else claim what other workers freed. */
  private async poll(): Promise<void> {
    const waiting = [...this.jobs].filter(([, job]) => job.waiters.length > 0);
    // A job whose claim is under way is served by it.
    const ready = waiting.filter(([, job]) => !quiet(job) && !job.claiming);
    if (waiting.length === 0) {
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
      return;
    }
    for (const [jobId, job] of ready) {
      try {
        await this.claimAndGrant(jobId, job, job.waiters.length);
      } catch {
        // The database is unreachable: the calls keep waiting (heartbeating) and the next poll tries again.
      }
    }
  }

  private startRenewing(): void {
    if (this.renewTimer || this.closed) return;
    this.renewTimer = setInterval(() => {
      if (![...this.jobs.values()].some((job) => job.held.size > 0)) {
        clearInterval(this.renewTimer);
        this.renewTimer = undefined;
        return;
      }
      this.options.db
        .updateTable('llm_job_slots')
        .set({ held_until: sql`clock_timestamp() + ${this.options.leaseMs}::int * interval '1 millisecond'` })
        .where('holder', '=', this.holder)
        .execute()
        .catch(() => undefined); // unreachable now: the next renewal, well inside the lease, tries again
    }, this.options.leaseMs / 3).unref();
  }
}

const quiet = (job: JobSlots) => Date.now() < job.quietUntil;

/** Whether the job is paused, from its row; undefined when there is no such job. */
async function jobIsPaused(db: Kysely<Database>, jobId: string): Promise<boolean | undefined> {
  const row = await db.selectFrom('jobs').select('status').where('id', '=', jobId).executeTakeFirst();
  return row === undefined ? undefined : row.status === 'paused';
}

/**
 * A worker's feed of whether its jobs are paused, for PostgresJobGate's `pauses`: one LISTEN connection of its own, and
 * one read of a job's row per change heard. Every followed job is read again every `rereadEveryMs` besides.
 */
export function watchPauses(options: {
  db: Kysely<Database>;
  connectionString: string;
  rereadEveryMs: number;
  log: JobEventsOptions<boolean>['log'];
}): JobEvents<boolean> {
  return new JobEvents<boolean>({
    connectionString: options.connectionString,
    statusOf: (jobId) => jobIsPaused(options.db, jobId),
    rereadEveryMs: options.rereadEveryMs,
    log: options.log,
  });
}

/** How long one read of a job's status serves its hand-overs (pausedNow). */
const PAUSE_READ_REUSE_MS = 50;
