// `synapse-jobs`: the command line for people. Start, watch and control jobs, list them, and import the
// legacy jobs_storage.json. It acts as `--as USER` (default $SYNAPSE_USER or the login name), with
// `--admin` to see every owner's jobs; every action is audited like an API call.

import os from 'node:os';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { FINAL_STATUSES, type JobStatus } from '../../common/jobs';
import { loadConfig } from '../../config';
import { temporalConnectionOptions } from '../../config/temporal-connection';
import { openDatabase } from '../../db/connection';
import { JobsError, UsageError } from '../errors';
import { ownerProblem, parseOrReject } from '../job-requests';
import { jobFilterSchema } from '../job-list';
import { JobsClient, type Principal } from '../jobs-client';
import { importLegacyCommand } from './import-legacy-command';
import { ProgressBar } from './progress-bar';

const USAGE = `synapse-jobs <command> [options]

  start TYPE [--data-source ID] [--attributes a,b,c] [--priority high|normal|low|1-5] [--concurrency N]
        [--rules-from JOB] [--idempotency-key KEY] [--metadata JSON] [--params JSON] [--watch]
                        --params holds the job type's own fields (docs/job-types.md), e.g.
                        start intelligent_sampling --data-source D --params '{"confidenceLevel":0.95,"marginOfError":0.05}'
  status JOB            the legacy status JSON
  watch JOB             a live progress bar until the job ends
  pause JOB [--now]     stop starting new items (--now: also stop the ones in flight)
  resume JOB
  cancel JOB
  priority JOB LEVEL    high | normal | low | 1-5
  list [--status S] [--type T] [--owner O] [--limit N]
  import-legacy FILE [--resubmit --data-source ID]
  budget [show]         the fleet-wide LLM budget: limits, usage, waiting calls per owner, recent 429s (--admin)
  budget set MODEL [--rpm N] [--tpm N] [--window-ms N]   change a model's limits for every worker now (--admin)
  bulk pause|resume|cancel [--owner O] [--type T] [--status S]   every matching active job (--admin)

Options for every command: --as USER (default $SYNAPSE_USER or your login name), --admin`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function watch(jobs: JobsClient, principal: Principal, jobId: string): Promise<JobStatus> {
  const bar = new ProgressBar();
  for (;;) {
    await jobs.getJob(principal, jobId);
    const progress = await jobs.progress(jobId);
    if (progress) bar.update(progress);
    if (progress && FINAL_STATUSES.includes(progress.status)) {
      bar.done();
      return progress.status;
    }
    await sleep(500);
  }
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      as: { type: 'string' },
      admin: { type: 'boolean' },
      now: { type: 'boolean' },
      watch: { type: 'boolean' },
      resubmit: { type: 'boolean' },
      'data-source': { type: 'string' },
      attributes: { type: 'string' },
      priority: { type: 'string' },
      concurrency: { type: 'string' },
      'rules-from': { type: 'string' },
      'idempotency-key': { type: 'string' },
      metadata: { type: 'string' },
      params: { type: 'string' },
      status: { type: 'string' },
      type: { type: 'string' },
      owner: { type: 'string' },
      limit: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      'window-ms': { type: 'string' },
    },
  });
  const [command, target, extra] = positionals;
  if (!command || values.help) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const config = loadConfig();
  const principal: Principal = {
    subject: values.as ?? process.env.SYNAPSE_USER ?? os.userInfo().username,
    admin: values.admin ?? false,
  };
  // The API's identity rule: the subject as given is the owner and the ownership key, so it must need no normalising.
  const subjectProblem = ownerProblem(principal.subject);
  if (subjectProblem)
    throw new UsageError(`--as / SYNAPSE_USER "${principal.subject}" cannot own jobs (${subjectProblem})`);
  const db = openDatabase(config.DATABASE_URL, 2);
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const jobs = new JobsClient(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), db, config);
  const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));
  const need = (value: string | undefined, what: string) => {
    if (!value) throw new UsageError(`missing ${what}\n\n${USAGE}`);
    return value;
  };
  try {
    switch (command) {
      case 'start': {
        const options = {
          dataSourceId: values['data-source'],
          attributeIds: values.attributes?.split(',').map((a) => a.trim()),
          priority:
            values.priority === undefined
              ? undefined
              : /^\d+$/.test(values.priority)
                ? Number(values.priority)
                : values.priority,
          llmConcurrency: values.concurrency === undefined ? undefined : Number(values.concurrency),
          rulesFromJobId: values['rules-from'],
          idempotencyKey: values['idempotency-key'],
          metadata: values.metadata ? (JSON.parse(values.metadata) as unknown) : undefined,
        };
        // Options given on the command line win over the same fields in --params; absent ones are left out.
        const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
        const params = values.params ? (JSON.parse(values.params) as Record<string, unknown>) : {};
        const started = await jobs.startJobFromJson(
          { ...params, ...given, jobType: need(target, 'job type'), owner: principal.subject },
          principal.subject,
        );
        console.log(`${started.created ? 'started' : 'already started'} job ${started.jobId}`);
        if (values.watch) return (await watch(jobs, principal, started.jobId)) === 'completed' ? 0 : 1;
        return 0;
      }
      case 'status':
        print(await jobs.status(principal, need(target, 'job id')));
        return 0;
      case 'watch':
        return (await watch(jobs, principal, need(target, 'job id'))) === 'completed' ? 0 : 1;
      case 'pause':
        print(await jobs.pause(principal, need(target, 'job id'), { now: values.now }));
        return 0;
      case 'resume':
        print(await jobs.resume(principal, need(target, 'job id')));
        return 0;
      case 'cancel':
        print(await jobs.cancel(principal, need(target, 'job id')));
        return 0;
      case 'priority':
        print(
          await jobs.setPriority(
            principal,
            need(target, 'job id'),
            /^\d+$/.test(need(extra, 'priority')) ? Number(extra) : extra,
          ),
        );
        return 0;
      case 'list': {
        const filter = parseOrReject(
          jobFilterSchema,
          { status: values.status, type: values.type, owner: values.owner, limit: values.limit },
          'filter',
        );
        const listed = await jobs.list(principal, filter);
        for (const job of listed)
          console.log(
            `${job.job_id}  ${job.job_type.padEnd(32)} ${job.status.padEnd(10)} ${String(job.progress_percentage).padStart(3)}%  ${job.owner}  ${job.created_at}`,
          );
        return 0;
      }
      case 'import-legacy': {
        return await importLegacyCommand(db, jobs, principal, need(target, 'file'), {
          resubmit: values.resubmit ?? false,
          dataSourceId: values['data-source'],
        });
      }
      case 'budget': {
        if (target === 'set')
          print(
            await jobs.setLlmBudget(principal, need(extra, 'model'), {
              rpm: values.rpm,
              tpm: values.tpm,
              windowMs: values['window-ms'],
            }),
          );
        else if (target === undefined || target === 'show') print(await jobs.llmBudget(principal));
        else throw new UsageError(`unknown budget command "${target}"\n\n${USAGE}`);
        return 0;
      }
      case 'bulk': {
        if (target !== 'pause' && target !== 'resume' && target !== 'cancel')
          throw new UsageError(`bulk needs pause, resume or cancel\n\n${USAGE}`);
        print(
          await jobs.bulkControl(
            principal,
            { owner: values.owner, jobType: values.type, status: values.status },
            target,
          ),
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
    }
  } finally {
    await db.destroy();
    await connection.close();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof JobsError || error instanceof SyntaxError ? `error: ${error.message}` : error);
    process.exit(error instanceof JobsError ? 1 : 2);
  },
);
