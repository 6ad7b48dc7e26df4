// Statements against a data source, run from an activity on one pinned connection: the activity heartbeats
// while they run (a long scan cannot heartbeat itself, and cancellation reaches an activity only in the answer
// to a heartbeat), its cancellation cancels the running statement, and errors that never heal fail it at once.

import { Context } from '@temporalio/activity';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/database';
import type { ScanQueue } from './scan-queue';
import { asDataSourceFailure } from './sql-errors';

export interface DataSourceWork {
  /** The data source's table, named in the reason of an error that never heals. */
  table: string;
  /** The connection's application_name while the work runs, so pg_stat_activity shows who scans (≤ 63 characters). */
  label: string;
  /** Heartbeat details while the work runs (a resumable scan passes its checkpoint). */
  details?: () => unknown;
  /**
   * The queue this kind of scan waits its turn in (e.g. column profiles, PROFILE_CONCURRENCY at once), heartbeating
   * and cancellable while it waits; the connection is taken only once its turn comes.
   */
  queue?: ScanQueue;
}

/**
 * Every second: with the worker's heartbeat throttle (WORKER_HEARTBEAT_THROTTLE_MS, 1 s) a cancel or pause-now
 * reaches the statement about one to two seconds after it was requested.
 */
const HEARTBEAT_EVERY_MS = 1_000;

/** PostgreSQL ignores a cancel that lands between two statements, so it is repeated until the work stops. */
const CANCEL_REPEAT_MS = 250;

/**
 * Runs `work` on one connection of `db`. When the activity is cancelled (cancel, pause-now, worker shutdown,
 * heartbeat timeout), the running statement is cancelled with pg_cancel_backend from another connection and
 * the activity ends cancelled. An error of a class that never heals becomes a non-retryable DataSourceError
 * naming the SQLSTATE (activities/data-sources/sql-errors.ts); any other error is thrown as it is, for the retry
 * policy.
 */
export async function onDataSource<T>(
  db: Kysely<Database>,
  options: DataSourceWork,
  work: (conn: Kysely<Database>) => Promise<T>,
): Promise<T> {
  const ctx = Context.current();
  if (ctx.cancellationSignal.aborted) await ctx.cancelled;
  if (options.queue) {
    const queue = options.queue;
    const waiting = () => ({ waitingFor: 'a scan turn', ...queue.load });
    return queue
      .run(() => onDataSource(db, { ...options, queue: undefined }, work), {
        signal: ctx.cancellationSignal,
        heartbeat: () => ctx.heartbeat(waiting()),
        heartbeatMs: HEARTBEAT_EVERY_MS,
      })
      .catch(async (error: unknown) => {
        // Cancelled while waiting: the activity ends cancelled, as it would have from inside the scan.
        if (ctx.cancellationSignal.aborted) await ctx.cancelled;
        throw error;
      });
  }
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{
      pid: number;
    }>`select pg_backend_pid() as pid, set_config('application_name', ${options.label.slice(0, 63)}, false)`.execute(
      conn,
    );
    const pid = rows[0]!.pid;
    let settled = false;
    let cancels: Promise<unknown> = Promise.resolve();
    // Only while this work holds the connection, and only a statement that is running: never someone else's.
    const cancel = () => {
      if (settled) return;
      cancels = cancels
        .then(() =>
          sql`select pg_cancel_backend(pid) from pg_stat_activity where pid = ${pid} and state = 'active'`.execute(db),
        )
        .catch(() => undefined);
    };
    let repeat: NodeJS.Timeout | undefined;
    const onCancelled = () => {
      cancel();
      repeat ??= setInterval(cancel, CANCEL_REPEAT_MS);
    };
    ctx.cancellationSignal.addEventListener('abort', onCancelled);
    // Cancelled while the connection was being set up: the event has fired already.
    if (ctx.cancellationSignal.aborted) onCancelled();
    const heartbeat = setInterval(() => ctx.heartbeat(options.details?.()), HEARTBEAT_EVERY_MS);
    try {
      return await work(conn);
    } catch (error) {
      if (ctx.cancellationSignal.aborted) {
        settled = true;
        await cancels;
        // A cancel that landed on the transaction's own ROLLBACK would leave it open: the pool gets the connection
        // clean.
        await sql`rollback`.execute(conn).catch(() => undefined);
        await ctx.cancelled;
      }
      throw asDataSourceFailure(error, options.table);
    } finally {
      settled = true;
      clearInterval(heartbeat);
      clearInterval(repeat);
      ctx.cancellationSignal.removeEventListener('abort', onCancelled);
      await cancels;
      await sql`reset application_name`.execute(conn).catch(() => undefined);
    }
  });
}
