// Admitting a job: its start request validated (every offending field named), resolved by its family into the
// workflow's input, the owner's quota enforced, and the job row written with that input, under the owner's lock.
// JobsClient admits before it starts a workflow (a bad request is an immediate 400, and the row is there as
// soon as the start returns); every job workflow's first activity, `admitJob`, admits its own argument, so a
// job started through any Temporal client is a job like any other. Idempotent on the job id: a job already
// admitted returns the input it was admitted with, and a job id that belongs to a finished job is refused.

import { ApplicationFailure, Context } from '@temporalio/activity';
import { sql, type Kysely } from 'kysely';
import { FailureType } from '../../common/failures';
import {
  ACTIVE_STATUSES,
  FINAL_STATUSES,
  jobTypeOfWorkflow,
  type JobInputBase,
  type JobStatus,
  type JobType,
} from '../../common/jobs';
import type { Config } from '../../config';
import type { Database } from '../../db/database';
import { recordAudit } from '../../client/audit';
import {
  IdempotencyKeyReusedError,
  InvalidJobRequestError,
  JobIdTakenError,
  JobsError,
  QuotaExceededError,
} from '../../client/errors';
import type { PreparedJob } from '../../client/job-definition';
import { definitionOf } from '../../client/job-definitions';
import type { CommonStartRequest } from '../../client/job-requests';
import { startRequestHash } from '../../client/request-hash';
import { validateStartRequest, type StartRequestSettings } from '../../client/start-request';

export type AdmissionSettings = StartRequestSettings &
  Pick<Config, 'JOB_MAX_ACTIVE_PER_OWNER' | 'JOB_HISTORY_EVENT_BUDGET'>;

/** How the job reached us: through JobsClient (the API, the CLI, a TypeScript service) or any Temporal client. */
export type StartedVia = 'jobs-client' | 'temporal';

export interface AdmissionRequest {
  jobId: string;
  /** The start request as the caller sent it, not validated yet. */
  body: unknown;
  via: StartedVia;
  /** The task queue the workflow runs on (its reconciler answers for it). */
  taskQueue: string;
  /** For a request that came as a workflow's argument: the job type that workflow runs. */
  workflowJobType?: JobType;
  /** The token subject starting the job for its owner (a service role), when that is not the owner. */
  startedBy?: string;
}

export interface Admission {
  jobId: string;
  /** False when the job existed already: admitted earlier (the same job id), or matched by its idempotency key. */
  created: boolean;
  /** The workflow's resolved input (null only for a job matched by its idempotency key that predates keeping it). */
  input: JobInputBase | null;
  /** Present when admitted now: the validated common fields and the family's resolution. */
  admitted?: { request: CommonStartRequest; prepared: PreparedJob };
}

/** Admits the job or returns the one already admitted; throws InvalidJobRequestError, QuotaExceededError, JobIdTakenError. */
export async function admitJob(
  db: Kysely<Database>,
  settings: AdmissionSettings,
  admission: AdmissionRequest,
): Promise<Admission> {
  const { jobId, body, via } = admission;
  // JobsClient admits under a fresh id; a workflow's own admission may find its job admitted already.
  const byId = via === 'temporal';
  const earlier = byId ? await admittedJob(db, admission) : undefined;
  if (earlier) return earlier;
  const request = validateStartRequest(body, settings, admission.workflowJobType);
  const requestHash = startRequestHash(body, request);
  const byKey = request.idempotencyKey
    ? await jobByIdempotencyKey(db, request.owner, request.idempotencyKey)
    : undefined;
  if (byKey) return idempotentMatch(db, byKey, admission, requestHash);
  // Before the family's checks, some of which read the data source (a sampling start counts its records).
  await checkQuota(db, request.owner, settings.JOB_MAX_ACTIVE_PER_OWNER);
  const { jobType, owner, metadata, priority, useLlmCache, callbackUrl } = request;
  const job = {
    jobId,
    jobType,
    owner,
    metadata,
    priority,
    useLlmCache,
    historyEventBudget: settings.JOB_HISTORY_EVENT_BUDGET,
    ...(callbackUrl !== undefined ? { callbackUrl } : {}),
  };
  const prepared = await definitionOf(jobType).prepare(db, job, body, settings);
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext(${owner}))`.execute(trx);
    // Another attempt of the same admission may have won the lock first.
    const again = byId ? await admittedJob(trx, admission) : undefined;
    if (again) return again;
    if (request.idempotencyKey) {
      const key = await jobByIdempotencyKey(trx, owner, request.idempotencyKey);
      if (key) return idempotentMatch(trx, key, admission, requestHash);
    }
    await checkQuota(trx, owner, settings.JOB_MAX_ACTIVE_PER_OWNER);
    await trx
      .insertInto('jobs')
      .values({
        id: jobId,
        type: jobType,
        owner,
        status: 'pending',
        workflow_id: jobId,
        metadata: JSON.stringify({ ...metadata, ...prepared.metadata }),
        updated_at: new Date(),
        priority,
        idempotency_key: request.idempotencyKey ?? null,
        task_queue: admission.taskQueue,
        input: JSON.stringify(prepared.input),
        started_via: via,
        request_hash: requestHash,
        started_by: admission.startedBy ?? null,
      })
      .execute();
    return { jobId, created: true, input: prepared.input, admitted: { request, prepared } };
  });
}

/** The job this id already names, if it was admitted: its input again; or a refusal when the id is not free for it. */
async function admittedJob(
  db: Kysely<Database>,
  { jobId, workflowJobType }: AdmissionRequest,
): Promise<Admission | undefined> {
  const row = await db
    .selectFrom('jobs')
    .select(['id', 'type', 'status', 'input'])
    .where('id', '=', jobId)
    .executeTakeFirst();
  if (!row) return undefined;
  if (FINAL_STATUSES.includes(row.status as JobStatus))
    throw new JobIdTakenError(
      `job id ${jobId} belongs to a ${row.type} job that is ${row.status}; a new job needs a new id (that job is unchanged)`,
    );
  if ((workflowJobType && row.type !== workflowJobType) || !row.input)
    throw new JobIdTakenError(`job id ${jobId} belongs to another job (a ${row.type} job, ${row.status})`);
  return { jobId, created: false, input: row.input };
}

/**
 * A request whose idempotency key names an earlier job: JobsClient answers with that job when the request is the same
 * (its hash, client/request-hash.ts) and refuses a different one (422); a workflow with another id cannot be that job,
 * so it is refused.
 */
async function idempotentMatch(
  db: Kysely<Database>,
  earlierId: string,
  { jobId, via }: AdmissionRequest,
  requestHash: string,
): Promise<Admission> {
  if (via === 'jobs-client') {
    const row = await db
      .selectFrom('jobs')
      .select(['input', 'request_hash'])
      .where('id', '=', earlierId)
      .executeTakeFirstOrThrow();
    // A row from before hashes were kept matches any request with its key, as it did then.
    if (row.request_hash !== null && row.request_hash !== requestHash)
      throw new IdempotencyKeyReusedError(
        `idempotency key already started job ${earlierId} with a different request; send the same request to get that job again, or use a new key`,
      );
    return { jobId: earlierId, created: false, input: row.input };
  }
  throw new InvalidJobRequestError(
    'idempotencyKey',
    `already started job ${earlierId}; this workflow (${jobId}) cannot be that job: give another key, or none`,
  );
}

async function jobByIdempotencyKey(db: Kysely<Database>, owner: string, key: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('jobs')
    .select('id')
    .where('owner', '=', owner)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
  return row?.id;
}

/** Refuses a start while `owner` has `limit` (JOB_MAX_ACTIVE_PER_OWNER) jobs pending, running or paused. */
export async function checkQuota(db: Kysely<Database>, owner: string, limit: number): Promise<void> {
  const { active } = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('active'))
    .where('owner', '=', owner)
    .where('status', 'in', ACTIVE_STATUSES)
    .where('source', '=', 'synapse')
    .executeTakeFirstOrThrow();
  if (Number(active) >= limit)
    throw new QuotaExceededError(
      `${owner} already has ${active} active jobs (limit ${limit}); wait for one to finish or cancel one`,
    );
}

/** What the admission activity takes: the workflow's own argument, as it came. */
export interface AdmitJobParams {
  /** Undefined when the workflow was started with no argument at all. */
  request: unknown;
}

/** The failure type each refusal becomes, so the workflow fails at once with it (common/failures.ts). */
function failureOf(error: JobsError): ApplicationFailure {
  if (error instanceof InvalidJobRequestError)
    return ApplicationFailure.create({
      message: error.message,
      type: FailureType.InvalidJobInput,
      nonRetryable: true,
      details: [{ problems: error.problems }],
    });
  const type = error instanceof QuotaExceededError ? FailureType.QuotaExceeded : FailureType.JobIdTaken;
  return ApplicationFailure.create({ message: error.message, type, nonRetryable: true });
}

export function createAdmissionActivities(db: Kysely<Database>, settings: AdmissionSettings) {
  return {
    /**
     * The first activity of every job workflow: admits the workflow's argument as the job whose id is the workflow
     * id, and returns the workflow's input. A refusal fails non-retryably (InvalidJobInput naming every field,
     * QuotaExceeded, JobIdTaken), audited; anything else (the database away) is retried.
     */
    async admitJob({ request }: AdmitJobParams): Promise<JobInputBase> {
      const info = Context.current().info;
      // Both always set for an activity a workflow scheduled, which this one only ever is.
      const jobId = info.workflowExecution?.workflowId ?? info.activityId;
      const workflowType = info.workflowType ?? '';
      const workflowJobType = jobTypeOfWorkflow(workflowType);
      const owner = typeof request === 'object' && request !== null && 'owner' in request ? request.owner : undefined;
      const audit = {
        actor: typeof owner === 'string' ? owner : 'unknown',
        action: 'start',
        jobId,
        detail: { jobType: workflowJobType, startedVia: 'temporal', workflowType },
      };
      try {
        const admitted = await admitJob(db, settings, {
          jobId,
          body: request,
          via: 'temporal',
          taskQueue: info.taskQueue,
          workflowJobType,
        });
        if (admitted.created) await recordAudit(db, { ...audit, outcome: 'ok' });
        // admittedJob refuses a row without an input, and a new row always has one.
        if (!admitted.input) throw new JobIdTakenError(`job ${jobId} has no input to run`);
        return admitted.input;
      } catch (error) {
        if (!(error instanceof JobsError)) throw error;
        // The job id may be another job's: the entry must not be filed under it.
        await recordAudit(db, {
          ...audit,
          jobId: error instanceof JobIdTakenError ? null : jobId,
          outcome: `refused: ${error.message}`,
        });
        throw failureOf(error);
      }
    },
  };
}
