// One process's feed of job changes: ONE PostgreSQL connection LISTENs on `job_events` (the job-row writers NOTIFY it
// with the job id, job-notify.ts), and each notification about a job someone follows is turned into one read of what
// the process needs of the job, handed to every subscriber of that job. The API's event streams
// (GET /api/v1/jobs/{id}/events) and `synapse-jobs watch` read the status as the status endpoint answers it; a worker's
// LLM gate (activities/llm/job-gate.ts) reads whether the job is paused. Each process has its own listening connection.

import pg from 'pg';
import type { Logger } from '../../config/logging';
import { JOB_EVENTS_CHANNEL } from './job-notify';

/** A subscriber's callback: what was read of the job after a change (or after a read again), undefined if it is gone. */
export type JobEventListener<S> = (status: S | undefined) => void;

export interface JobEventsOptions<S> {
  /** Where to LISTEN (DATABASE_URL). */
  connectionString: string;
  /**
   * What a subscriber needs of the job, read after each change: for a stream, the status as the status endpoint
   * answers it, without an owner check (the stream checked when it opened).
   */
  statusOf: (jobId: string) => Promise<S | undefined>;
  /**
   * JOB_EVENTS_HEARTBEAT_MS: every followed job is read again this often even without a notification, so a NOTIFY
   * missed (the connection was down) or progress a worker has but has not stored yet reaches the streams.
   */
  rereadEveryMs: number;
  log: Pick<Logger, 'warn' | 'info'>;
}

/** Waits before the listening connection is made again: short at first (a blip), at most 30 s (a long outage). */
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 30_000;
/** How long a new stream waits for the listening connection before going on without it (the rereads still come). */
const LISTEN_READY_WAIT_MS = 5_000;

interface FollowedJob<S> {
  listeners: Set<JobEventListener<S>>;
  /** A status read under way for the job; `again` when a notification came meanwhile and asks for one more read. */
  reading?: Promise<void>;
  again: boolean;
}

export class JobEvents<S> {
  private readonly jobs = new Map<string, FollowedJob<S>>();
  private client: pg.Client | undefined;
  private ready: Promise<void> | undefined;
  private reconnectMs = RECONNECT_FIRST_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private rereadTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private connected = false;
  private connections = 0;

  constructor(private readonly options: JobEventsOptions<S>) {}

  /** Whether the LISTEN connection is up now: while it is not, followed jobs change only at each read again. */
  get listening(): boolean {
    return this.connected;
  }

  /**
   * How many times the listening connection has come up. A read made while listening tells the truth until a
   * notification says otherwise, unless the connection dropped meanwhile (this count moved on), when a change may have
   * gone unheard.
   */
  get epoch(): number {
    return this.connections;
  }

  /** How many streams follow a job in this process (for tests and metrics). */
  get subscribers(): number {
    let count = 0;
    for (const job of this.jobs.values()) count += job.listeners.size;
    return count;
  }

  /**
   * Follows `jobId`: `listener` gets its status after every change this process hears of. Resolves once the listening
   * connection is up (or after LISTEN_READY_WAIT_MS without it), so that a status read after this is not followed by
   * a change nobody hears. Returns the unsubscribe.
   */
  async subscribe(jobId: string, listener: JobEventListener<S>): Promise<() => void> {
    if (this.closed) throw new Error('the job event feed is closed');
    const job = this.jobs.get(jobId) ?? { listeners: new Set<JobEventListener<S>>(), again: false };
    job.listeners.add(listener);
    this.jobs.set(jobId, job);
    this.start();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.ready,
      new Promise((resolve) => (timer = setTimeout(resolve, LISTEN_READY_WAIT_MS))),
    ]).finally(() => clearTimeout(timer));
    return () => {
      job.listeners.delete(listener);
      if (job.listeners.size === 0 && this.jobs.get(jobId) === job) this.jobs.delete(jobId);
    };
  }

  /** Stops listening; every subscriber is told nothing more (the streams end themselves). */
  async close(): Promise<void> {
    this.closed = true;
    this.connected = false;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.rereadTimer);
    this.jobs.clear();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** The listening connection and the reread timer, made on the first subscription (an API nobody streams from opens neither). */
  private start(): void {
    if (this.closed) return;
    this.rereadTimer ??= setInterval(() => this.rereadAll(), this.options.rereadEveryMs);
    // Timers of their own must not keep a process (or a test) alive: the server's close ends the feed.
    this.rereadTimer.unref();
    if (!this.client && !this.reconnectTimer) this.ready = this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.connectionString });
    this.client = client;
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      this.connected = false;
      if (this.client === client) this.client = undefined;
      void client.end().catch(() => undefined);
      if (this.closed) return;
      this.options.log.warn(
        { err: error, retryInMs: this.reconnectMs },
        'job events: the LISTEN connection was lost; connecting again',
      );
      this.scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => {
      if (message.channel === JOB_EVENTS_CHANNEL && message.payload) this.changed(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${JOB_EVENTS_CHANNEL}`);
    } catch (error) {
      onLost(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (this.closed) return void client.end().catch(() => undefined);
    this.reconnectMs = RECONNECT_FIRST_MS;
    this.connected = true;
    this.connections++;
    // Whatever changed while nobody listened was never heard: every followed job is read again.
    this.rereadAll();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const wait = this.reconnectMs;
    this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.jobs.size === 0 && !this.closed) {
        // Nobody follows a job any more: the next subscription connects.
        return;
      }
      this.ready = this.connect();
    }, wait);
    this.reconnectTimer.unref();
  }

  private rereadAll(): void {
    for (const jobId of this.jobs.keys()) this.changed(jobId);
  }

  /**
   * The job changed: one status read for all of its subscribers. Notifications that come while a read is under way
   * ask for one more read after it (never more than one waiting), so a burst costs two reads and the last change is
   * never missed.
   */
  private changed(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    if (job.reading) {
      job.again = true;
      return;
    }
    job.reading = (async () => {
      do {
        job.again = false;
        let status: S | undefined;
        try {
          status = await this.options.statusOf(jobId);
        } catch (error) {
          // The next notification or reread tries again; a stream is never ended by one failed read.
          this.options.log.warn({ err: error, jobId }, 'job events: reading the status failed');
          continue;
        }
        for (const listener of [...job.listeners]) {
          try {
            listener(status);
          } catch (error) {
            // One subscriber's failure (a stream already torn down) is its own; the others still get the status.
            this.options.log.warn({ err: error, jobId }, 'job events: a subscriber failed');
          }
        }
      } while (job.again && !this.closed);
    })().finally(() => (job.reading = undefined));
  }
}
