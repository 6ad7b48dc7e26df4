// What each `synapse-jobs` command does once commander has accepted its command line (client/cli/cli-program.ts
// loads this module only then, so help and usage errors never pay for the client, the database driver or Temporal's).
// Each command resolves who is acting, connects to what it needs, and answers through the Output.

import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import type { Config } from '../../config';
import { InvalidJobRequestError, UsageError } from '../errors';
import type { Principal } from '../jobs-client';
import { validateStartRequest } from '../start-request';
import { EXIT, type Output } from './cli-output';
import {
  CliConnections,
  identify,
  loadCliConfig,
  principalOf,
  subjectNamed,
  type GlobalOptions,
  type Identity,
} from './cli-session';
import { mintToken } from './cli-token';
import { watchJob } from './cli-watch';
import { importLegacy, resubmitHint, resubmitInterrupted } from './import-legacy-command';

/** What every command gets: the output, the configuration, who is acting, and the connections it may open. */
export class CommandContext {
  private loaded: Config | undefined;
  private identity: Promise<Identity> | undefined;
  private opened: CliConnections | undefined;

  constructor(
    readonly out: Output,
    readonly options: GlobalOptions,
  ) {}

  get config(): Config {
    this.loaded ??= loadCliConfig();
    return this.loaded;
  }

  /** The acting principal; `adminAction(subject)` names what needs admin power, if anything does. */
  async principal(adminAction?: (subject: string) => string | undefined): Promise<Principal> {
    this.identity ??= identify(this.config, this.options);
    const identity = await this.identity;
    return principalOf(identity, this.options, adminAction?.(identity.subject));
  }

  get connections(): CliConnections {
    this.opened ??= new CliConnections(this.config);
    return this.opened;
  }

  async close(): Promise<void> {
    await this.opened?.close();
  }
}

/** A command: its arguments as commander parsed them, its own options; returns the exit code (nothing: done). */
type Command<O, A extends unknown[]> = (ctx: CommandContext, options: O, args: A) => Promise<number | void>;

export interface StartOptions {
  dataSource?: string;
  attributes?: string[];
  priority?: string | number;
  concurrency?: number;
  rulesFrom?: string;
  idempotencyKey?: string;
  metadata?: Record<string, unknown>;
  params?: Record<string, unknown>;
  watch?: boolean;
}

export interface ListOptions {
  status?: 'pending' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
  type?: string;
  owner?: string;
  all?: boolean;
  limit?: number;
}

const start: Command<StartOptions, [string]> = async (ctx, o, [jobType]) => {
  const principal = await ctx.principal();
  const given = Object.fromEntries(
    Object.entries({
      dataSourceId: o.dataSource,
      attributeIds: o.attributes,
      priority: o.priority,
      llmConcurrency: o.concurrency,
      rulesFromJobId: o.rulesFrom,
      idempotencyKey: o.idempotencyKey,
      metadata: o.metadata,
    }).filter(([, value]) => value !== undefined),
  );
  // Options given on the command line win over the same fields in --params.
  const body = { ...o.params, ...given, jobType, owner: principal.subject };
  // The request's shape is checked here, without a database: a malformed one is a usage error. What needs the
  // database (does the data source exist, the owner's quota) is the server side's refusal (exit 1).
  try {
    validateStartRequest(body, ctx.config);
  } catch (error) {
    if (error instanceof InvalidJobRequestError)
      throw new UsageError(`invalid start request: ${error.message}`, { cause: error });
    throw error;
  }
  const jobs = await ctx.connections.jobs({ temporal: true });
  const started = await jobs.startJobFromJson(body, principal.subject);
  const line = `${started.created ? 'started' : 'already started'} job ${started.jobId}`;
  if (!o.watch) return ctx.out.result({ job_id: started.jobId, created: started.created }, () => line);
  ctx.out.note(line);
  return endOf(
    (await watchJob(jobs, principal, started.jobId, ctx.out, { databaseUrl: ctx.config.DATABASE_URL })).status,
  );
};

const status: Command<object, [string]> = async (ctx, _o, [jobId]) => {
  const principal = await ctx.principal();
  const jobs = await ctx.connections.jobs({ temporal: true });
  ctx.out.result(await jobs.status(principal, jobId));
};

const watch: Command<object, [string]> = async (ctx, _o, [jobId]) => {
  const principal = await ctx.principal();
  const jobs = await ctx.connections.jobs({ temporal: true });
  return endOf((await watchJob(jobs, principal, jobId, ctx.out, { databaseUrl: ctx.config.DATABASE_URL })).status);
};

const pause: Command<{ now?: boolean }, [string]> = async (ctx, o, [jobId]) => {
  const principal = await ctx.principal();
  const jobs = await ctx.connections.jobs({ temporal: true });
  ctx.out.result(await jobs.pause(principal, jobId, { now: o.now }));
};

const resume: Command<object, [string]> = async (ctx, _o, [jobId]) => {
  const principal = await ctx.principal();
  const jobs = await ctx.connections.jobs({ temporal: true });
  ctx.out.result(await jobs.resume(principal, jobId));
};

const cancel: Command<object, [string]> = async (ctx, _o, [jobId]) => {
  const principal = await ctx.principal();
  const jobs = await ctx.connections.jobs({ temporal: true });
  ctx.out.result(await jobs.cancel(principal, jobId));
};

const priority: Command<object, [string, string | number]> = async (ctx, _o, [jobId, level]) => {
  const principal = await ctx.principal();
  const jobs = await ctx.connections.jobs({ temporal: true });
  ctx.out.result(await jobs.setPriority(principal, jobId, level));
};

const list: Command<ListOptions, []> = async (ctx, o) => {
  if (o.all && o.owner !== undefined) throw new UsageError('give --owner or --all, not both');
  const principal = await ctx.principal((subject) =>
    o.all ? 'list --all' : o.owner !== undefined && o.owner !== subject ? 'list --owner (another owner)' : undefined,
  );
  // Only the database is read: the client's Temporal connection is never dialled.
  const jobs = await ctx.connections.jobs({ temporal: false });
  const listed = await jobs.list(principal, { status: o.status, type: o.type, owner: o.owner, limit: o.limit });
  ctx.out.result(listed, () =>
    listed
      .map(
        (job) =>
          `${job.job_id}  ${job.job_type.padEnd(32)} ${job.status.padEnd(10)} ${String(job.progress_percentage).padStart(3)}%  ${job.owner}  ${job.created_at}`,
      )
      .join('\n'),
  );
  if (listed.length === 0) ctx.out.note(emptyListHint(principal, o));
};

const importLegacyFile: Command<{ resubmit?: boolean; dataSource?: string }, [string]> = async (ctx, o, [file]) => {
  if (o.resubmit && !o.dataSource)
    throw new UsageError('--resubmit needs --data-source ID (the legacy records do not say which table they profiled)');
  try {
    accessSync(file, constants.R_OK);
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const principal = await ctx.principal();
  const report = await importLegacy(await ctx.connections.db(), file, ctx.out);
  const resubmitted = o.resubmit
    ? await resubmitInterrupted(
        await ctx.connections.jobs({ temporal: true }),
        principal,
        report,
        o.dataSource!,
        ctx.out,
      )
    : [];
  if (ctx.out.json) ctx.out.result({ ...report, resubmitted });
  else if (!o.resubmit) {
    const hint = resubmitHint(report);
    if (hint) ctx.out.note(hint);
  }
};

const budgetShow: Command<object, []> = async (ctx) => {
  const principal = await ctx.principal(() => 'budget');
  const jobs = await ctx.connections.jobs({ temporal: false });
  ctx.out.result(await jobs.llmBudget(principal));
};

const budgetSet: Command<{ rpm?: number; tpm?: number; windowMs?: number }, [string]> = async (ctx, o, [model]) => {
  if (o.rpm === undefined && o.tpm === undefined && o.windowMs === undefined)
    throw new UsageError('budget set needs --rpm, --tpm or --window-ms');
  const principal = await ctx.principal(() => 'budget set');
  const jobs = await ctx.connections.jobs({ temporal: false });
  ctx.out.result(await jobs.setLlmBudget(principal, model, { rpm: o.rpm, tpm: o.tpm, windowMs: o.windowMs }));
};

const bulk: Command<{ owner?: string; type?: string; status?: string }, ['pause' | 'resume' | 'cancel']> = async (
  ctx,
  o,
  [action],
) => {
  if (o.owner === undefined && o.type === undefined)
    throw new UsageError('bulk needs --owner or --type: a bulk action on every job is not offered');
  const principal = await ctx.principal(() => `bulk ${action}`);
  const jobs = await ctx.connections.jobs({ temporal: true });
  ctx.out.result(await jobs.bulkControl(principal, { owner: o.owner, jobType: o.type, status: o.status }, action));
};

const token: Command<{ sub?: string; role?: string[]; roles?: string[]; ttl?: number }, []> = async (ctx, o) => {
  if (ctx.options.admin) throw new UsageError('token takes --role admin (a role in the token), not --admin');
  const subject = subjectNamed(o.sub ?? ctx.options.as ?? (process.env.SYNAPSE_USER || os.userInfo().username));
  const minted = await mintToken(ctx.config, {
    subject,
    roles: [...new Set([...(o.role ?? []), ...(o.roles ?? [])])],
    ttlSeconds: o.ttl,
  });
  ctx.out.result(minted, () => minted.token);
};

/** Every command by the name cli-program.ts calls it by. */
export const commands = {
  start,
  status,
  watch,
  pause,
  resume,
  cancel,
  priority,
  list,
  'import-legacy': importLegacyFile,
  'budget show': budgetShow,
  'budget set': budgetSet,
  bulk,
  token,
};
export type CommandName = keyof typeof commands;

/** Runs one command and closes what it opened. */
export async function runCommand(
  name: CommandName,
  out: Output,
  globals: GlobalOptions,
  options: object,
  args: unknown[],
): Promise<number> {
  const ctx = new CommandContext(out, globals);
  try {
    const command = commands[name] as Command<object, unknown[]>;
    return (await command(ctx, options, args)) ?? EXIT.done;
  } finally {
    await ctx.close();
  }
}

/** A watched job's exit code: 0 when it completed; 1 otherwise (its outcome, with the error, is printed already). */
function endOf(status: string): number {
  return status === 'completed' ? EXIT.done : EXIT.failed;
}

function emptyListHint(principal: Principal, o: ListOptions): string {
  const filtered = o.status !== undefined || o.type !== undefined ? ' matching these filters' : '';
  if (principal.admin) return `no jobs${o.owner ? ` owned by ${o.owner}` : ''}${filtered}`;
  return `no jobs owned by ${principal.subject}${filtered}; other owners' jobs: --owner NAME or --all with an admin credential (docs/cli.md#admin-credential), or act as the owner with --as`;
}
