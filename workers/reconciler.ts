// The reconciler every worker process runs: every JOB_RECONCILE_INTERVAL_MS it writes into the jobs table
// the end of each job whose workflow ended without writing it (terminated, timed out, failed by a bug) or
// never started (client/job-reconciliation.ts). One worker per task queue does it at a time: the one holding
// a PostgreSQL advisory lock on a connection of its own, which the server releases if that process dies.

import { Client } from '@temporalio/client';
import { Runtime, type NativeConnection } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { reconcileActiveJobs, type ReconcileDeps } from '../client/job-reconciliation';
import { TemporalCalls } from '../client/temporal-calls';
import type { Config } from '../config';
import type { Database } from '../db/database';

export interface Reconciler {
  stop(): Promise<void>;
}

type ReconcilerConfig = Pick<
  Config,
  | 'DATABASE_URL'
  | 'TEMPORAL_NAMESPACE'
  | 'TEMPORAL_TASK_QUEUE'
  | 'TEMPORAL_RPC_TIMEOUT_MS'
  | 'JOB_RECONCILE_INTERVAL_MS'
  | 'JOB_START_BOUND_MS'
>;

export function startReconciler(
  config: ReconcilerConfig,
  db: Kysely<Database>,
  connection: NativeConnection,
): Reconciler {
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const deps: ReconcileDeps = {
    db,
    temporal,
    calls: new TemporalCalls(temporal, config.TEMPORAL_RPC_TIMEOUT_MS),
    startBoundMs: config.JOB_START_BOUND_MS,
    actor: 'synapse-reconciler',
  };
  const lockKey = `synapse-reconciler:${config.TEMPORAL_TASK_QUEUE}`;
  const { logger, metricMeter } = Runtime.instance();
  const reconciled = metricMeter.createCounter(
    'synapse_jobs_reconciled',
    'jobs',
    'Job rows the reconciler wrote a final state into (workflow ended or never started outside the control contract)',
  );
  let lock: pg.Client | undefined;
  let leader = false;
  let stopped = false;
  let wake: (() => void) | undefined;

  /** True while this process holds the lock; a follower asks again every interval, on the same connection. */
  async function leading(): Promise<boolean> {
    if (!lock) {
      const client = new pg.Client({ connectionString: config.DATABASE_URL });
      // A broken connection loses the lock with it (the server ends its session): drop it and start again.
      client.on('error', () => {
        if (lock === client) [lock, leader] = [undefined, false];
        void client.end().catch(() => undefined);
      });
      await client.connect();
      [lock, leader] = [client, false];
    }
    const session = lock;
    try {
      // A leader's session is checked alive each pass: a dead one no longer holds the lock.
      if (leader) await session.query('select 1');
      else
        leader =
          (await session.query<{ held: boolean }>('select pg_try_advisory_lock(hashtext($1)) as held', [lockKey]))
            .rows[0]?.held === true;
      return leader;
    } catch (error) {
      if (lock === session) [lock, leader] = [undefined, false];
      await session.end().catch(() => undefined);
      throw error;
    }
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        if (await leading()) {
          const written = await reconcileActiveJobs(deps, config.TEMPORAL_TASK_QUEUE);
          if (written > 0) reconciled.add(written);
        }
      } catch (error) {
        // Temporal or PostgreSQL not answering: nothing is written on a guess; the next pass tries again.
        logger.warn('job reconciliation pass failed', {
          error: error instanceof Error ? error.message : String(error),
        });
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, config.JOB_RECONCILE_INTERVAL_MS);
        wake = () => (clearTimeout(timer), resolve());
      });
    }
  })();

  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      await lock?.end().catch(() => undefined);
    },
  };
}
