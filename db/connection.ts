// Opens the kysely database over a pg pool, creates the target database when it does not exist yet
// (tests and the demo use throwaway databases) and runs the migrations through kysely's Migrator.

import { inspect } from 'node:util';
import { Kysely, Migrator, PostgresDialect, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import type { Database } from './database';
import * as jobsAndProfiling from './migrations/0001_jobs_and_profiling';
import * as demoDataSource from './migrations/0002_demo_data_source';
import * as jobControl from './migrations/0003_job_control';
import * as llmUsageAndCache from './migrations/0004_llm_usage_and_cache';
import * as planning from './migrations/0005_planning';
import * as scoping from './migrations/0006_scoping';
import * as sampling from './migrations/0007_sampling';
import * as testExecution from './migrations/0008_test_execution';
import * as llmBudget from './migrations/0009_llm_budget';
import * as jobReconciliation from './migrations/0010_job_reconciliation';
import * as ruleResultsSqlstate from './migrations/0011_rule_results_sqlstate';
import * as llmCallIds from './migrations/0012_llm_call_ids';
import * as jobAdmission from './migrations/0013_job_admission';
import * as requestHashAndStarter from './migrations/0014_request_hash_and_starter';
import * as llmBudgetReservations from './migrations/0015_llm_budget_reservations';
import * as jobCallbacks from './migrations/0016_job_callbacks';
import * as llmJobSlots from './migrations/0017_llm_job_slots';

// pg returns bigint and numeric as strings to avoid precision loss; our counts and rates fit in doubles.
pg.types.setTypeParser(pg.types.builtins.INT8, Number);
pg.types.setTypeParser(pg.types.builtins.NUMERIC, Number);

/** Imported statically (not read from a folder) so the same list works under tsx, SWC and bundlers. */
const MIGRATIONS: Record<string, Migration> = {
  '0001_jobs_and_profiling': jobsAndProfiling,
  '0002_demo_data_source': demoDataSource,
  '0003_job_control': jobControl,
  '0004_llm_usage_and_cache': llmUsageAndCache,
  '0005_planning': planning,
  '0006_scoping': scoping,
  '0007_sampling': sampling,
  '0008_test_execution': testExecution,
  '0009_llm_budget': llmBudget,
  '0010_job_reconciliation': jobReconciliation,
  '0011_rule_results_sqlstate': ruleResultsSqlstate,
  '0012_llm_call_ids': llmCallIds,
  '0013_job_admission': jobAdmission,
  '0014_request_hash_and_starter': requestHashAndStarter,
  '0015_llm_budget_reservations': llmBudgetReservations,
  '0016_job_callbacks': jobCallbacks,
  '0017_llm_job_slots': llmJobSlots,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** PostgreSQL SQLSTATE classes and codes that mean the connection, not the statement, failed. */
const LOST_CONNECTION_SQLSTATES = /^(08|57P0[1-3]|53300)/;
/** Node's socket errors on the way to PostgreSQL. */
const SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);

/**
 * True when a database error says the connection was lost or could not be made (terminated by an operator or
 * a failover, server restarting, refused, too many connections) rather than that the statement was wrong.
 */
export function isLostConnection(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (LOST_CONNECTION_SQLSTATES.test(code) || SOCKET_ERRORS.has(code))) return true;
  // pg's own wording when the socket closes under a query or a connect attempt times out.
  return typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect/i.test(message);
}

export function openDatabase(databaseUrl: string, maxConnections = 10): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: maxConnections });
  pool.on('connect', (client) => {
    // A connection that dies while checked out (database restart, pg_terminate_backend) emits 'error' with
    // no listener (pg-pool only listens to idle ones) and would crash the process; the query in progress
    // still rejects, which is what the activity's retry needs.
    client.on('error', () => undefined);
    // The statement learns of a terminated session before the client sees its socket close, and pg-pool would
    // hand the dead client out again (a retry would fail on it too): marked unusable, it is dropped on release.
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      const result = query(...args);
      if (result instanceof Promise) {
        result.catch((error: unknown) => {
          // `_queryable` is pg's own flag, which pg-pool reads on release; its typings do not declare it, hence the
          // cast.
          if (isLostConnection(error)) (client as unknown as { _queryable: boolean })._queryable = false;
        });
      }
      return result;
    }) as typeof client.query;
  });
  // An idle connection's error is already handled by pg-pool, which drops it; listening keeps it quiet.
  pool.on('error', () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  // A migration may throw anything; a non-Error is shown whole rather than as "[object Object]".
  if (error) throw error instanceof Error ? error : new Error(inspect(error));
  return (results ?? []).map((r) => `${r.migrationName}: ${r.status}`);
}

/** Runs `work` on a connection to the server's `postgres` database, with the name of the URL's database. */
async function withServerAdmin(
  databaseUrl: string,
  work: (admin: pg.Client, name: string) => Promise<void>,
): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    await work(admin, name);
  } finally {
    await admin.end();
  }
}

/** Creates the database named in the URL if it is missing. */
export async function ensureDatabaseExists(databaseUrl: string): Promise<void> {
  await withServerAdmin(databaseUrl, async (admin, name) => {
    try {
      const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
      if (!rowCount) await admin.query(`create database ${pg.escapeIdentifier(name)}`);
    } catch (error) {
      // Two processes racing to create the same database: the loser sees duplicate_database (42P04).
      if ((error as { code?: string }).code !== '42P04') throw error;
    }
  });
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  await withServerAdmin(databaseUrl, (admin, name) =>
    admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`).then(() => undefined),
  );
}
