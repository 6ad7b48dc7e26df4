// Who the CLI acts as and what it connects to. The acting user is --as (or a bearer token's subject); admin power
// is used only when asked for and only with an admin credential. Connections are opened lazily, only by the
// commands that need them, each with a deadline, so a dependency that does not answer is named within seconds.

import os from 'node:os';
import { sql, type Kysely } from 'kysely';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type Config } from '../../config';
import { temporalConnectionOptions } from '../../config/temporal-connection';
import { openDatabase } from '../../db/connection';
import type { Database } from '../../db/database';
import { AdminRequiredError, DependencyUnavailableError, UsageError } from '../errors';
import { createAuthenticator } from '../http/auth';
import { ownerProblem } from '../job-requests';
import { JobsClient, type Principal } from '../jobs-client';

/** The options every command takes (program-level in commander). */
export interface GlobalOptions {
  as?: string;
  admin?: boolean;
  token?: string;
  json?: boolean;
}

/**
 * When, counted from the process's start, a dependency that has not answered is reported: the issue's bound is 5 s
 * from the command line to naming it, and the last second is margin for the process to spawn, report and exit.
 */
const REPORT_BY_MS = 4_000;
/**
 * Each dependency gets at least this long, however slow the process's own start was (loading the client through tsx
 * takes one to three seconds on a loaded machine): a healthy server, even a remote one over TLS, answers well within
 * it.
 */
const MIN_CONNECT_MS = 1_500;

/** How long the first call to a dependency may take: what is left of REPORT_BY_MS, and never less than the minimum. */
export function connectDeadlineMs(uptimeMs = process.uptime() * 1_000): number {
  return Math.max(MIN_CONNECT_MS, Math.round(REPORT_BY_MS - uptimeMs));
}

const seconds = (ms: number) => `${(Math.round(ms / 100) / 10).toString()} s`;

/** One CLI pool connection per query in flight; the CLI runs one command at a time, the second is for `status`. */
const DB_POOL_SIZE = 2;

/** What the admin refusal tells the user to do instead. */
const ADMIN_CREDENTIAL_HINT =
  'an admin credential: a bearer token holding the admin role (--token or SYNAPSE_TOKEN; `synapse-jobs token --role admin` mints one where JWT_SECRET is set), or SYNAPSE_CLI_OPERATOR=true on the operator’s own machine';

/** The environment's configuration, or a usage error naming what is wrong with it (nothing was sent anywhere). */
export function loadCliConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** Who is at the keyboard: the acting subject, and whether their credential allows admin actions. */
export interface Identity {
  subject: string;
  mayAdmin: boolean;
  /** How the identity was established: a verified bearer token, or --as / SYNAPSE_USER / the login name. */
  via: 'token' | 'name';
}

/**
 * The acting identity. A token (--token or SYNAPSE_TOKEN), when given, must verify with the API's own rules and is
 * the identity (--as must agree); without one, the name given is taken as is and only SYNAPSE_CLI_OPERATOR allows
 * admin actions.
 */
export async function identify(
  config: Config,
  options: GlobalOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Identity> {
  const token = options.token ?? (env.SYNAPSE_TOKEN || undefined);
  if (token !== undefined) {
    if (!config.JWT_SECRET && !config.JWT_JWKS_URL)
      throw new UsageError(
        'a token was given (--token / SYNAPSE_TOKEN) but neither JWT_SECRET nor JWT_JWKS_URL is set to verify it',
      );
    const verified = await createAuthenticator(config)(`Bearer ${token}`);
    if (options.as !== undefined && options.as !== verified.subject)
      throw new UsageError(
        `--as ${options.as} disagrees with the token, whose subject is ${verified.subject}: a token acts as its own subject`,
      );
    return { subject: verified.subject, mayAdmin: verified.admin, via: 'token' };
  }
  return {
    subject: subjectNamed(options.as ?? (env.SYNAPSE_USER || os.userInfo().username)),
    mayAdmin: config.SYNAPSE_CLI_OPERATOR,
    via: 'name',
  };
}

/** A subject named on the command line, held to the API's identity rule: used as given, so it must need no normalising. */
export function subjectNamed(subject: string): string {
  const problem = ownerProblem(subject);
  if (problem)
    throw new UsageError(`the subject "${subject}" (--as, --sub or SYNAPSE_USER) cannot own jobs (${problem})`);
  return subject;
}

/**
 * The principal a command acts as. Admin power is never implicit: it is used when asked for (--admin) or when the
 * action needs it (`adminAction` names it: budget, bulk, another owner's list), and only with an admin credential.
 */
export function principalOf(identity: Identity, options: GlobalOptions, adminAction?: string): Principal {
  const wantsAdmin = (options.admin ?? false) || adminAction !== undefined;
  if (wantsAdmin && !identity.mayAdmin)
    throw new AdminRequiredError(
      `${adminAction ?? '--admin'} needs ${ADMIN_CREDENTIAL_HINT}${identity.via === 'token' ? `; the token of ${identity.subject} does not hold the admin role` : ''}`,
    );
  return { subject: identity.subject, admin: wantsAdmin };
}

/** DATABASE_URL as it may be shown: the password replaced. */
export function displayedDatabaseUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(DATABASE_URL, unparsable)';
  }
}

const reasonOf = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 300) || 'no reason given';

/** The connections one command opened; each is opened on first use, and all are closed at the end. */
export class CliConnections {
  private database: Promise<Kysely<Database>> | undefined;
  private temporal: Promise<Connection> | undefined;
  private lazyTemporal: Connection | undefined;
  private openedDatabase: Kysely<Database> | undefined;
  private openedTemporal: Connection | undefined;

  constructor(readonly config: Config) {}

  /** PostgreSQL, checked to answer within the deadline. */
  db(): Promise<Kysely<Database>> {
    this.database ??= this.openDatabase();
    return this.database;
  }

  /**
   * A JobsClient. `temporal: false` for commands that only read and write the database (list, budget): their client's
   * Temporal connection is lazy and never dialled.
   */
  async jobs(needs: { temporal: boolean }): Promise<JobsClient> {
    const [db, connection] = await Promise.all([this.db(), needs.temporal ? this.connectTemporal() : this.lazy()]);
    return new JobsClient(new Client({ connection, namespace: this.config.TEMPORAL_NAMESPACE }), db, this.config);
  }

  /** Closes what was opened; a connect attempt still pending is left to the process's exit, not waited for. */
  async close(): Promise<void> {
    await Promise.allSettled([
      this.openedDatabase?.destroy(),
      this.openedTemporal?.close(),
      this.lazyTemporal?.close(),
    ]);
  }

  private async openDatabase(): Promise<Kysely<Database>> {
    const db = openDatabase(this.config.DATABASE_URL, DB_POOL_SIZE);
    const where = `PostgreSQL at ${displayedDatabaseUrl(this.config.DATABASE_URL)} (DATABASE_URL)`;
    const deadlineMs = connectDeadlineMs();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${seconds(deadlineMs)}`)), deadlineMs);
    });
    try {
      await Promise.race([sql`select 1`.execute(db), deadline]);
      this.openedDatabase = db;
      return db;
    } catch (error) {
      // A connect attempt still pending would keep the pool open: the CLI exits after reporting this anyway.
      void db.destroy().catch(() => undefined);
      throw new DependencyUnavailableError('database', `${where} did not answer: ${reasonOf(error)}`, 1, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private connectTemporal(): Promise<Connection> {
    const options = temporalConnectionOptions(this.config);
    const deadlineMs = connectDeadlineMs();
    this.temporal ??= Connection.connect({ ...options, connectTimeout: deadlineMs }).then(
      (connection) => (this.openedTemporal = connection),
      (error: unknown) => {
        throw new DependencyUnavailableError(
          'temporal',
          `Temporal at ${options.address} (TEMPORAL_ADDRESS) did not answer within ${seconds(deadlineMs)}: ${reasonOf(error)}`,
          1,
          { cause: error },
        );
      },
    );
    return this.temporal;
  }

  private lazy(): Connection {
    this.lazyTemporal ??= Connection.lazy(temporalConnectionOptions(this.config));
    return this.lazyTemporal;
  }
}
