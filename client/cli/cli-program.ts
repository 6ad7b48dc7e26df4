// The `synapse-jobs` program on commander: every command with its arguments, options and help. Commander checks the
// whole command line (commands, options, values) before any action runs, so a usage error never waits on a
// connection; each action then connects only to what it needs (client/cli/cli-session.ts).

import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { JobType } from '../../common/jobs';
import type { Config } from '../../config';
import { InvalidJobRequestError, UsageError } from '../errors';
import { prioritySchema } from '../job-requests';
import type { Principal } from '../jobs-client';
import { validateStartRequest } from '../start-request';
import { EXIT, JobEndedUnsuccessfully, type Output } from './cli-output';
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

const JOB_TYPES = Object.values(JobType);
const STATUSES = ['pending', 'running', 'paused', 'completed', 'failed', 'cancelled'] as const;
const ACTIVE = ['pending', 'running', 'paused'];
/** The API's own bound on one page of a list (client/job-list.ts). */
const LIST_LIMIT_MAX = 500;

/** What every action gets: the output, the configuration, who is acting, and the connections it may open. */
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

// Value parsers: a bad value is commander's invalid-argument error, a usage error (exit 2) before anything connects.

function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max)
      throw new InvalidArgumentError(
        `expected a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}`,
      );
    return n;
  };
}

/** high | normal | low | 1-5, passed on as the API takes it (a name, or a number). */
function priority(value: string): string | number {
  const given = /^\d+$/.test(value) ? Number(value) : value;
  if (!prioritySchema.safeParse(given).success)
    throw new InvalidArgumentError('expected high, normal, low or a whole number from 1 (highest) to 5');
  return given;
}

function json(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON (${(error as Error).message})`);
  }
}

function jsonObject(value: string): Record<string, unknown> {
  const parsed = json(value);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InvalidArgumentError('expected a JSON object, e.g. \'{"confidenceLevel":0.95}\'');
  return parsed as Record<string, unknown>;
}

const list = (value: string): string[] =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');

const collect = (value: string, previous: string[] = []): string[] => [...previous, ...list(value)];

/**
 * Wraps an action: commander passes the arguments, then the command's own options, then the command. The action
 * returns an exit code or nothing (done).
 */
type Action<A extends unknown[], O> = (ctx: CommandContext, options: O, ...args: A) => Promise<number | void>;

export function createProgram(out: Output, version: string, onExit: (code: number) => void): Command {
  const act =
    <A extends unknown[], O>(action: Action<A, O>) =>
    async (...received: unknown[]) => {
      const command = received.at(-1) as Command;
      const options = received.at(-2) as O;
      const args = received.slice(0, -2) as A;
      const context = new CommandContext(out, command.optsWithGlobals<GlobalOptions>());
      try {
        onExit((await action(context, options, ...args)) ?? EXIT.done);
      } finally {
        await context.close();
      }
    };

  const program = new Command('synapse-jobs')
    .description(
      'Start, watch, control and list Synapse jobs; import the legacy jobs_storage.json; administer the LLM budget.',
    )
    .version(version, '-V, --version', 'print the version')
    .option('--as <user>', 'act as this user (default $SYNAPSE_USER or your login name)')
    .option('--token <jwt>', 'act with this bearer token (default $SYNAPSE_TOKEN): its subject is the acting user')
    .option('--admin', 'act as an admin on this command; needs an admin credential (docs/cli.md#admin-credential)')
    .option('--json', 'machine output: one JSON document on stdout, errors as a JSON object on stderr')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({
      // With --json, commander's own error text would be a second, non-JSON line: the JSON error says it instead.
      writeErr: (text) => {
        if (!out.json) process.stderr.write(text);
      },
    })
    .showSuggestionAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      `
Exit codes: 0 done; 1 the job failed or was cancelled, the request was refused, or Temporal/PostgreSQL did not
answer; 2 usage error (nothing was sent). See docs/cli.md.`,
    );

  program
    .command('start')
    .description('start a job; with --watch, follow it to its end')
    .addArgument(new Argument('<type>', 'the job type').choices(JOB_TYPES))
    .option('--data-source <id>', 'the data source the job works on')
    .option('--attributes <a,b,c>', 'the attributes, comma-separated', list)
    .option('--priority <level>', 'high | normal | low | 1-5', priority)
    .option('--concurrency <n>', 'LLM calls in flight at once', wholeNumber(1))
    .option('--rules-from <job>', 'rule execution: the generation job whose rules to run')
    .option('--idempotency-key <key>', 'the same key returns the job it started first')
    .option('--metadata <json>', 'labels, a JSON object', jsonObject)
    .option('--params <json>', "the job type's own fields, a JSON object (docs/job-types.md)", jsonObject)
    .option('--watch', 'draw a progress bar until the job ends, then print its outcome')
    .addHelpText(
      'after',
      `
Options given here win over the same fields in --params. Example:
  synapse-jobs start intelligent_sampling --data-source D --params '{"confidenceLevel":0.95,"marginOfError":0.05}' --watch`,
    )
    .action(
      act<
        [string],
        {
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
      >(async (ctx, o, jobType) => {
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
        return endOf((await watchJob(jobs, principal, started.jobId, ctx.out)).status);
      }),
    );

  program
    .command('status')
    .description("a job's status: the legacy status JSON plus progress source, trouble and LLM usage")
    .argument('<job>', 'job id')
    .action(
      act<[string], object>(async (ctx, _o, jobId) => {
        const principal = await ctx.principal();
        const jobs = await ctx.connections.jobs({ temporal: true });
        ctx.out.result(await jobs.status(principal, jobId));
      }),
    );

  program
    .command('watch')
    .description('a live progress bar until the job ends, then its outcome; exit 1 unless it completed')
    .argument('<job>', 'job id')
    .action(
      act<[string], object>(async (ctx, _o, jobId) => {
        const principal = await ctx.principal();
        const jobs = await ctx.connections.jobs({ temporal: true });
        return endOf((await watchJob(jobs, principal, jobId, ctx.out)).status);
      }),
    );

  program
    .command('pause')
    .description('stop starting new items; --now also stops the ones in flight')
    .argument('<job>', 'job id')
    .option('--now', 'also stop the items in flight (they start again on resume)')
    .action(
      act<[string], { now?: boolean }>(async (ctx, o, jobId) => {
        const principal = await ctx.principal();
        const jobs = await ctx.connections.jobs({ temporal: true });
        ctx.out.result(await jobs.pause(principal, jobId, { now: o.now }));
      }),
    );

  for (const [name, description] of [
    ['resume', 'resume a paused job'],
    ['cancel', 'cancel a job; items in flight are stopped'],
  ] as const)
    program
      .command(name)
      .description(description)
      .argument('<job>', 'job id')
      .action(
        act<[string], object>(async (ctx, _o, jobId) => {
          const principal = await ctx.principal();
          const jobs = await ctx.connections.jobs({ temporal: true });
          ctx.out.result(await (name === 'resume' ? jobs.resume(principal, jobId) : jobs.cancel(principal, jobId)));
        }),
      );

  program
    .command('priority')
    .description("change a running job's priority")
    .argument('<job>', 'job id')
    .addArgument(new Argument('<level>', 'high | normal | low | 1-5 (1 highest)').argParser(priority))
    .action(
      act<[string, string | number], object>(async (ctx, _o, jobId, level) => {
        const principal = await ctx.principal();
        const jobs = await ctx.connections.jobs({ temporal: true });
        ctx.out.result(await jobs.setPriority(principal, jobId, level));
      }),
    );

  program
    .command('list')
    .description('your jobs, newest first; other owners’ with an admin credential')
    .addOption(new Option('--status <status>', 'only jobs in this state').choices(STATUSES))
    .addOption(new Option('--type <type>', 'only jobs of this type').choices(JOB_TYPES))
    .option('--owner <user>', "only this owner's jobs (another owner's needs an admin credential)")
    .option('--all', "every owner's jobs (needs an admin credential)")
    .option('--limit <n>', `at most this many (1-${LIST_LIMIT_MAX}, default 100)`, wholeNumber(1, LIST_LIMIT_MAX))
    .action(
      act<[], { status?: (typeof STATUSES)[number]; type?: string; owner?: string; all?: boolean; limit?: number }>(
        async (ctx, o) => {
          if (o.all && o.owner !== undefined) throw new UsageError('give --owner or --all, not both');
          const principal = await ctx.principal((subject) =>
            o.all
              ? 'list --all'
              : o.owner !== undefined && o.owner !== subject
                ? 'list --owner (another owner)'
                : undefined,
          );
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
        },
      ),
    );

  program
    .command('import-legacy')
    .description('import the legacy jobs_storage.json; --resubmit starts its interrupted jobs again as new jobs')
    .argument('<file>', 'the legacy jobs_storage.json')
    .option('--resubmit', 'start the interrupted (running or pending) jobs again as new jobs')
    .option('--data-source <id>', 'with --resubmit: the data source the resubmitted jobs work on')
    .action(
      act<[string], { resubmit?: boolean; dataSource?: string }>(async (ctx, o, file) => {
        if (o.resubmit && !o.dataSource)
          throw new UsageError(
            '--resubmit needs --data-source ID (the legacy records do not say which table they profiled)',
          );
        try {
          accessSync(file, constants.R_OK);
        } catch (error) {
          throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
        }
        const principal = await ctx.principal();
        const db = await ctx.connections.db();
        const report = await importLegacy(db, file, ctx.out);
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
      }),
    );

  const budget = program.command('budget').description('the fleet-wide LLM budget (needs an admin credential)');
  budget
    .command('show', { isDefault: true })
    .description('limits, usage, waiting calls per owner and recent 429s, per model')
    .action(
      act<[], object>(async (ctx) => {
        const principal = await ctx.principal(() => 'budget');
        const jobs = await ctx.connections.jobs({ temporal: false });
        ctx.out.result(await jobs.llmBudget(principal));
      }),
    );
  budget
    .command('set')
    .description("change a model's limits for every worker now")
    .argument('<model>', 'the model, e.g. gpt-4o-mini')
    .option('--rpm <n>', 'requests per window', wholeNumber(1))
    .option('--tpm <n>', 'tokens per window', wholeNumber(1))
    .option('--window-ms <n>', 'the window the limits count over, in ms', wholeNumber(1))
    .action(
      act<[string], { rpm?: number; tpm?: number; windowMs?: number }>(async (ctx, o, model) => {
        if (o.rpm === undefined && o.tpm === undefined && o.windowMs === undefined)
          throw new UsageError('budget set needs --rpm, --tpm or --window-ms');
        const principal = await ctx.principal(() => 'budget set');
        const jobs = await ctx.connections.jobs({ temporal: false });
        ctx.out.result(await jobs.setLlmBudget(principal, model, { rpm: o.rpm, tpm: o.tpm, windowMs: o.windowMs }));
      }),
    );

  program
    .command('bulk')
    .description('pause, resume or cancel every matching active job (needs an admin credential)')
    .addArgument(new Argument('<action>', 'what to do to each job').choices(['pause', 'resume', 'cancel']))
    .option('--owner <user>', "that owner's jobs")
    .addOption(new Option('--type <type>', 'jobs of that type').choices(JOB_TYPES))
    .addOption(new Option('--status <status>', 'only jobs in that state').choices(ACTIVE))
    .action(
      act<['pause' | 'resume' | 'cancel'], { owner?: string; type?: string; status?: string }>(
        async (ctx, o, action) => {
          if (o.owner === undefined && o.type === undefined)
            throw new UsageError('bulk needs --owner or --type: a bulk action on every job is not offered');
          const principal = await ctx.principal(() => `bulk ${action}`);
          const jobs = await ctx.connections.jobs({ temporal: true });
          ctx.out.result(
            await jobs.bulkControl(principal, { owner: o.owner, jobType: o.type, status: o.status }, action),
          );
        },
      ),
    );

  program
    .command('token')
    .description('mint a development bearer token from JWT_SECRET for the API and the jobs page')
    .option('--sub <subject>', "the token's subject (default --as, $SYNAPSE_USER or your login name)")
    .option('--role <role>', 'a role in its roles claim; repeatable (admin: JWT_ADMIN_ROLE)', collect)
    .option('--roles <a,b>', 'roles, comma-separated', collect)
    .option('--ttl <seconds>', 'lifetime (default 3600, at most JWT_MAX_LIFETIME_S)', wholeNumber(1))
    .addHelpText(
      'after',
      `
Needs JWT_SECRET (the API's own); no server is contacted. Example:
  export SYNAPSE_TOKEN=$(synapse-jobs token --as alice)
  curl -H "Authorization: Bearer $SYNAPSE_TOKEN" localhost:8080/api/v1/jobs`,
    )
    .action(
      act<[], { sub?: string; role?: string[]; roles?: string[]; ttl?: number }>(async (ctx, o) => {
        if (ctx.options.admin) throw new UsageError('token takes --role admin (a role in the token), not --admin');
        const subject = subjectNamed(o.sub ?? ctx.options.as ?? (process.env.SYNAPSE_USER || os.userInfo().username));
        const minted = await mintToken(ctx.config, {
          subject,
          roles: [...new Set([...(o.role ?? []), ...(o.roles ?? [])])],
          ttlSeconds: o.ttl,
        });
        ctx.out.result(minted, () => minted.token);
      }),
    );

  return program;
}

/** A watched job's exit: 0 when it completed; otherwise its outcome is printed already and the exit code says so. */
function endOf(status: string): number {
  if (status === 'completed') return EXIT.done;
  throw new JobEndedUnsuccessfully(status);
}

function emptyListHint(
  principal: Principal,
  o: { status?: string; type?: string; owner?: string; all?: boolean },
): string {
  const filtered = o.status !== undefined || o.type !== undefined ? ' matching these filters' : '';
  if (principal.admin) return `no jobs${o.owner ? ` owned by ${o.owner}` : ''}${filtered}`;
  return `no jobs owned by ${principal.subject}${filtered}; other owners' jobs: --owner NAME or --all with an admin credential (docs/cli.md#admin-credential), or act as the owner with --as`;
}
