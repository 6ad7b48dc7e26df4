// The `synapse-jobs` program on commander: every command with its arguments, options and help. Commander checks the
// whole command line (commands, options, values) before any action runs, so a usage error never waits on a
// connection; each action then connects only to what it needs (client/cli/cli-session.ts).

import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { JobType } from '../../common/jobs';
import type * as CliCommands from './cli-commands';
import type { Output } from './cli-output';
import type { GlobalOptions } from './cli-session';

const JOB_TYPES = Object.values(JobType);
const STATUSES = ['pending', 'running', 'paused', 'completed', 'failed', 'cancelled'];
const ACTIVE = ['pending', 'running', 'paused'];
/** The API's own bound on one page of a list (client/job-list.ts). */
const LIST_LIMIT_MAX = 500;

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

/**
 * high | normal | low | 1-5, passed on as the API takes it (a name, or a number). The same rule as the API's
 * prioritySchema (client/job-requests.ts), which JobsClient applies again; spelled out here so a usage error needs
 * none of the client's modules loaded.
 */
function priority(value: string): string | number {
  if (!/^(high|normal|low|[1-5])$/.test(value))
    throw new InvalidArgumentError('expected high, normal, low or a whole number from 1 (highest) to 5');
  return /^\d$/.test(value) ? Number(value) : value;
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

export function createProgram(out: Output, version: string, onExit: (code: number) => void): Command {
  /**
   * The action of command `name`: commander passes its arguments, its own options, then the command. The commands'
   * module is loaded only now, once the command line is known to be valid.
   */
  const act =
    (name: CliCommands.CommandName) =>
    async (...received: unknown[]): Promise<void> => {
      const command = received.at(-1) as Command;
      // require, not import(): tsx's hook (bin/synapse-jobs.js) compiles TypeScript for require only.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { runCommand } = require('./cli-commands') as typeof CliCommands;
      onExit(
        await runCommand(
          name,
          out,
          command.optsWithGlobals<GlobalOptions>(),
          received.at(-2) as object,
          received.slice(0, -2),
        ),
      );
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
    .action(act('start'));

  program
    .command('status')
    .description("a job's status: the legacy status JSON plus progress source, trouble and LLM usage")
    .argument('<job>', 'job id')
    .action(act('status'));

  program
    .command('watch')
    .description('a live progress bar until the job ends, then its outcome; exit 1 unless it completed')
    .argument('<job>', 'job id')
    .action(act('watch'));

  program
    .command('pause')
    .description('stop starting new items; --now also stops the ones in flight')
    .argument('<job>', 'job id')
    .option('--now', 'also stop the items in flight (they start again on resume)')
    .action(act('pause'));

  for (const [name, description] of [
    ['resume', 'resume a paused job'],
    ['cancel', 'cancel a job; items in flight are stopped'],
  ] as const)
    program.command(name).description(description).argument('<job>', 'job id').action(act(name));

  program
    .command('priority')
    .description("change a running job's priority")
    .argument('<job>', 'job id')
    .addArgument(new Argument('<level>', 'high | normal | low | 1-5 (1 highest)').argParser(priority))
    .action(act('priority'));

  program
    .command('list')
    .description('your jobs, newest first; other owners’ with an admin credential')
    .addOption(new Option('--status <status>', 'only jobs in this state').choices(STATUSES))
    .addOption(new Option('--type <type>', 'only jobs of this type').choices(JOB_TYPES))
    .option('--owner <user>', "only this owner's jobs (another owner's needs an admin credential)")
    .option('--all', "every owner's jobs (needs an admin credential)")
    .option('--limit <n>', `at most this many (1-${LIST_LIMIT_MAX}, default 100)`, wholeNumber(1, LIST_LIMIT_MAX))
    .action(act('list'));

  program
    .command('import-legacy')
    .description('import the legacy jobs_storage.json; --resubmit starts its interrupted jobs again as new jobs')
    .argument('<file>', 'the legacy jobs_storage.json')
    .option('--resubmit', 'start the interrupted (running or pending) jobs again as new jobs')
    .option('--data-source <id>', 'with --resubmit: the data source the resubmitted jobs work on')
    .action(act('import-legacy'));

  const budget = program.command('budget').description('the fleet-wide LLM budget (needs an admin credential)');
  budget
    .command('show', { isDefault: true })
    .description('limits, usage, waiting calls per owner and recent 429s, per model')
    .action(act('budget show'));
  budget
    .command('set')
    .description("change a model's limits for every worker now")
    .argument('<model>', 'the model, e.g. gpt-4o-mini')
    .option('--rpm <n>', 'requests per window', wholeNumber(1))
    .option('--tpm <n>', 'tokens per window', wholeNumber(1))
    .option('--window-ms <n>', 'the window the limits count over, in ms', wholeNumber(1))
    .action(act('budget set'));

  program
    .command('bulk')
    .description('pause, resume or cancel every matching active job (needs an admin credential)')
    .addArgument(new Argument('<action>', 'what to do to each job').choices(['pause', 'resume', 'cancel']))
    .option('--owner <user>', "that owner's jobs")
    .addOption(new Option('--type <type>', 'jobs of that type').choices(JOB_TYPES))
    .addOption(new Option('--status <status>', 'only jobs in that state').choices(ACTIVE))
    .action(act('bulk'));

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
    .action(act('token'));

  return program;
}
