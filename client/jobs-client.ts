// The typed client backend services, the HTTP API and the CLI all use: start a job (validated first,
// nothing started on bad input), read its status, pause/resume/cancel it, change its priority, list jobs.
// Every start and control action is checked against the caller's ownership and audited; pause, resume and priority
// are updates the workflow answers (or refuses), sent as signals instead when no worker answers in time.

import { randomUUID } from 'node:crypto';
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Kysely } from 'kysely';
import {
  ACTIVE_STATUSES,
  CONTROLLABLE_FROM,
  FINAL_STATUSES,
  type JobStartRequest,
  type JobStatus,
} from '../common/jobs';
import { FailureType } from '../common/failures';
import type { JobProgress } from '../common/progress';
import { JobStatusKey, jobSearchAttributes } from '../common/search-attributes';
import type { Config } from '../config';
import type { Database } from '../db/database';
import {
  pauseSignal,
  pauseUpdate,
  progressQuery,
  resumeSignal,
  resumeUpdate,
  setPrioritySignal,
  setPriorityUpdate,
} from '../workflows/control/control';
import { audited } from './audit';
import { DependencyUnavailableError, InvalidJobRequestError, JobNotFoundError, JobStateError } from './errors';
import type { PreparedJob } from './job-definition';
import type { StartJobRequest } from './job-definitions';
import { prioritySchema, type CommonStartRequest } from './job-requests';
import { workflowOf } from './job-workflows';
import { validateStartRequest } from './start-request';
import { admitJob } from '../activities/jobs/job-admission';
import {
  pendingRequest,
  REQUESTED_STATUS,
  toLegacyStatus,
  troubleOf,
  type JobRow,
  type LegacyJobStatus,
  type RequestedAction,
} from './job-status';
import { reconcileJob, workflowStateOf, type ReconcileDeps, type WorkflowState } from './job-reconciliation';
import { SharedAnswers } from './shared-answers';
import { LiveProgress, type ProgressAnswer } from './live-progress';
import { isUnanswered, TemporalCalls } from './temporal-calls';
import { listJobPage, type JobFilter, type JobListEntry, type JobListPage } from './job-list';
import { llmUsageOf } from './llm-usage';
import { jobResultsOf, type JobResults } from './job-results';
import { callbackDeliveryOf } from '../activities/jobs/job-callback';
import { notifyJobChanged } from '../activities/jobs/job-notify';
import { bulkControl, type BulkAction, type BulkOutcome } from './bulk-control';
import { budgetSnapshot, jobBudgetStatus, requireAdmin, setBudgetLimits, type ModelBudget } from './llm-budget';

export type JobsClientConfig = Pick<
  Config,
  | 'TEMPORAL_TASK_QUEUE'
  | 'JOB_DEFAULT_LLM_CONCURRENCY'
  | 'JOB_MAX_LLM_CONCURRENCY'
  | 'JOB_MAX_ATTRIBUTES'
  | 'JOB_MAX_ACTIVE_PER_OWNER'
  | 'JOB_MAX_METADATA_BYTES'
  | 'JOB_MAX_METADATA_DEPTH'
  | 'JOB_START_COUNT_TIMEOUT_MS'
  | 'JOB_DEFAULT_USE_LLM_CACHE'
  | 'JOB_HISTORY_EVENT_BUDGET'
  | 'STATUS_QUERY_TIMEOUT_MS'
  | 'STATUS_LIVE_CACHE_MS'
  | 'TEMPORAL_RPC_TIMEOUT_MS'
  | 'CONTROL_UPDATE_TIMEOUT_MS'
  | 'JOB_START_BOUND_MS'
  | 'LLM_PRICES'
  | 'LLM_RPM_LIMIT'
  | 'LLM_TPM_LIMIT'
  | 'LLM_BUDGET_WINDOW_MS'
  | 'CALLBACK_ALLOWED_HOSTS'
  | 'CALLBACK_SECRET'
>;

export type { StartJobRequest };

export interface StartOptions {
  /** The HTTP `Idempotency-Key` header: the key when the request gives none; refused when it gives another. */
  idempotencyKeyHeader?: string;
  /** The principal starting the job for its owner (a service role), recorded so it may follow and control the job. */
  startedBy?: string;
}

/**
 * Who is asking: the bearer token's subject, whether it holds the admin role, and whether it holds the service role
 * (it may start jobs for a named owner, and follow and control the jobs it started so).
 */
export interface Principal {
  subject: string;
  admin: boolean;
  service?: boolean;
}

export interface StartedJob {
  jobId: string;
  workflowId: string;
  /** False when an idempotency key matched a job started earlier, which is returned instead. */
  created: boolean;
}

/**
 * How long one look at the task queue's pollers stands: without a poller a query would only wait out its deadline.
 * Older than this, the next request starts a new look in the background and goes by the last one meanwhile.
 */
const POLLER_CHECK_MS = 2_000;

/** The action names control audits, and the request each one records for status. */
const REQUEST_OF: Partial<Record<string, RequestedAction>> = {
  pause: 'pause',
  'pause-now': 'pause',
  resume: 'resume',
  cancel: 'cancel',
};

/**
 * How control sends one action: as an update the workflow answers with its progress (`update`, when it has one), and
 * as the signal or cancellation sent when it has none or no worker answers it in time (`send`, given the id of the
 * update it replaces). `check` refuses a malformed request before Temporal is asked; `after` runs once it is sent.
 */
interface ControlRequest {
  check?: () => void;
  update?: (handle: WorkflowHandle, updateId: string) => Promise<JobProgress>;
  send: (handle: WorkflowHandle, supersedes: string | undefined) => Promise<void>;
  after?: () => Promise<unknown>;
}

export class JobsClient {
  private pollerCheck: { at: number; polling: boolean } | undefined;
  private pollerLook: Promise<boolean> | undefined;
  /** Every Temporal call but the progress query: bounded, and refused at once while Temporal is known unreachable. */
  private readonly calls: TemporalCalls;
  /**
   * Live progress per job, shared by every status request (one query in flight per job), never waited on while the
   * workers are silent, and never older than the newest this process has seen.
   */
  private readonly liveProgress: LiveProgress;
  /** Describe of each job's workflow for status (trouble, and whether it ended), shared the same way. */
  private readonly workflowStates: SharedAnswers<WorkflowState>;
  private readonly reconcileDeps: ReconcileDeps;

  constructor(
    private readonly temporal: Client,
    private readonly db: Kysely<Database>,
    private readonly config: JobsClientConfig,
  ) {
    this.calls = new TemporalCalls(temporal, config.TEMPORAL_RPC_TIMEOUT_MS);
    this.liveProgress = new LiveProgress({
      query: (jobId) =>
        this.calls.bounded(() => this.handle(jobId).query(progressQuery), config.STATUS_QUERY_TIMEOUT_MS),
      isUnanswered,
      liveCacheMs: config.STATUS_LIVE_CACHE_MS,
      queryTimeoutMs: config.STATUS_QUERY_TIMEOUT_MS,
    });
    this.workflowStates = new SharedAnswers(
      (jobId) => workflowStateOf(this.reconcileDeps, jobId).catch(() => undefined),
      config.STATUS_LIVE_CACHE_MS,
      config.TEMPORAL_RPC_TIMEOUT_MS,
    );
    this.reconcileDeps = {
      db,
      temporal,
      calls: this.calls,
      startBoundMs: config.JOB_START_BOUND_MS,
      actor: 'synapse-reconciler',
    };
  }

  /**
   * Validates, records and starts a job for `request.owner`. Throws InvalidJobRequestError, QuotaExceededError or
   * DependencyUnavailableError.
   * `options.idempotencyKeyHeader` is the HTTP `Idempotency-Key` header: the key when the request gives none, and
   * refused when the request gives another (either could be the one a retry means to match).
   */
  async startJob(request: StartJobRequest, actor = request.owner, options: StartOptions = {}): Promise<StartedJob> {
    return this.startJobFromJson(request, actor, options);
  }

  /**
   * `startJob` for a request from outside the program (an HTTP body, the CLI's arguments), whatever its shape:
   * validated field by field all the same, and refused with the field named before anything is written or started.
   */
  async startJobFromJson(
    body: unknown,
    actor = scalarText(fieldOf(body, 'owner')) ?? 'unknown',
    options: StartOptions = {},
  ): Promise<StartedJob> {
    const owner = fieldOf(body, 'owner');
    const detail = {
      jobType: fieldOf(body, 'jobType'),
      // A start for someone else names both: the actor (a service or admin) and the owner it started the job for.
      ...(owner !== undefined && owner !== actor ? { owner } : {}),
    };
    return audited(
      this.db,
      { actor, action: 'start', jobId: null, detail },
      async () => {
        const header = options.idempotencyKeyHeader;
        const givenKey = fieldOf(body, 'idempotencyKey');
        if (header !== undefined && givenKey !== undefined && givenKey !== header) {
          throw new InvalidJobRequestError(
            'idempotencyKey',
            'differs from the Idempotency-Key header; give the key once, or the same in both',
          );
        }
        const keyed =
          header !== undefined && givenKey === undefined && typeof body === 'object'
            ? { ...body, idempotencyKey: header }
            : body;
        const request = validateStartRequest(keyed, this.config);
        // Temporal known to be down: refuse before a row is written that no workflow could follow.
        if (this.calls.isUnreachable())
          throw new DependencyUnavailableError(
            'temporal',
            'Temporal is unreachable; the job was not recorded or started',
          );
        const jobId = randomUUID();
        // Validated, resolved and recorded as the workflow's own admission would (it finds the job admitted).
        const admission = await admitJob(this.db, this.config, {
          jobId,
          body: keyed,
          via: 'jobs-client',
          taskQueue: this.config.TEMPORAL_TASK_QUEUE,
          startedBy: options.startedBy,
        });
        if (!admission.created || !admission.admitted)
          return { jobId: admission.jobId, workflowId: admission.jobId, created: false };
        await this.startWorkflow(
          jobId,
          { ...fieldsOf(keyed), jobType: request.jobType, owner: request.owner },
          admission.admitted,
        );
        return { jobId, workflowId: jobId, created: true };
      },
      (started) => started.jobId,
    );
  }

  /**
   * Starts a job from an HTTP body for `principal`: its subject owns the job, unless it holds the admin or the service
   * role and the body names an `owner` (otherwise `owner` in the body is ignored, as it always was). A service's start
   * for another owner records the service as the job's starter, so it may follow and control that job.
   */
  async startFor(principal: Principal, body: unknown, options: StartOptions = {}): Promise<StartedJob> {
    const named = fieldOf(body, 'owner');
    const mayName = principal.admin || principal.service === true;
    const owner = mayName && typeof named === 'string' ? named : principal.subject;
    const startedBy = principal.service && owner !== principal.subject ? principal.subject : undefined;
    return this.startJobFromJson({ ...fieldsOf(body), owner }, principal.subject, { ...options, startedBy });
  }

  async getJob(principal: Principal, jobId: string): Promise<JobRow> {
    const row = await this.job(jobId);
    if (!row || !mayAccess(principal, row)) throw new JobNotFoundError(jobId);
    return row;
  }

  /**
   * `live: false` answers with the stored progress (or the newest live answer this process saw) without asking the
   * workflow: the start request's answer, where a workflow that has not run its first task yet would hold the query
   * (and the request) until that task, up to STATUS_QUERY_TIMEOUT_MS, to say what the row already says.
   */
  async status(principal: Principal, jobId: string, options: { live?: boolean } = {}): Promise<LegacyJobStatus> {
    return this.statusOfRow(await this.getJob(principal, jobId), options.live ?? true);
  }

  /**
   * The status answer of `jobId` for a caller that has checked access already (an event stream checked it when it
   * opened); undefined when there is no such job.
   */
  async statusOf(jobId: string): Promise<LegacyJobStatus | undefined> {
    const row = await this.job(jobId);
    return row ? this.statusOfRow(row) : undefined;
  }

  private async statusOfRow(row: JobRow, live = true): Promise<LegacyJobStatus> {
    const jobId = row.id;
    const active = row.source === 'synapse' && ACTIVE_STATUSES.includes(row.status as JobStatus);
    const callbackUrl = row.input?.callbackUrl;
    const [{ progress, source }, workflow, llmUsage, llmBudget, callback] = await Promise.all([
      this.progressOf(row, live),
      active && !this.calls.isUnreachable() ? this.workflowStates.get(jobId) : undefined,
      llmUsageOf(this.db, jobId, this.config.LLM_PRICES),
      jobBudgetStatus(this.db, jobId),
      callbackUrl ? callbackDeliveryOf(this.db, jobId, callbackUrl) : undefined,
    ]);
    // The workflow ended without writing its row (terminated, timed out, never started): status tells the truth at once
    // (or, if Temporal stops answering meanwhile, leaves it to the reconciler and answers with what it has).
    if (workflow && workflow.kind !== 'running') {
      const ended = await this.reconcile(row, workflow).catch(() => undefined);
      if (ended) return this.statusOfRow(ended, live);
    }
    const trouble = workflow?.kind === 'running' ? troubleOf(workflow.description) : null;
    return {
      ...toLegacyStatus(row, progress, source),
      trouble,
      llm_usage: llmUsage,
      ...(llmBudget ? { llm_budget: llmBudget } : {}),
      ...(callback ? { callback } : {}),
    };
  }

  /** The job's results as its family's tables hold them (client/job-results.ts): the job page's numbers and charts. */
  async results(principal: Principal, jobId: string): Promise<JobResults> {
    return jobResultsOf(this.db, await this.getJob(principal, jobId));
  }

  async pause(principal: Principal, jobId: string, options: { now?: boolean } = {}): Promise<LegacyJobStatus> {
    const now = options.now ?? false;
    return this.control(principal, jobId, now ? 'pause-now' : 'pause', CONTROLLABLE_FROM.pause, {
      update: (handle, updateId) => handle.executeUpdate(pauseUpdate, { args: [{ now }], updateId }),
      send: (handle, supersedes) => handle.signal(pauseSignal, { now, supersedes }),
    });
  }

  async resume(principal: Principal, jobId: string): Promise<LegacyJobStatus> {
    return this.control(principal, jobId, 'resume', CONTROLLABLE_FROM.resume, {
      update: (handle, updateId) => handle.executeUpdate(resumeUpdate, { updateId }),
      // Without an update to replace, exactly the signal older clients send (no argument).
      send: (handle, supersedes) =>
        supersedes === undefined ? handle.signal(resumeSignal) : handle.signal(resumeSignal, { supersedes }),
    });
  }

  async cancel(principal: Principal, jobId: string): Promise<LegacyJobStatus> {
    return this.control(principal, jobId, 'cancel', CONTROLLABLE_FROM.cancel, {
      send: async (handle) => {
        await handle.cancel();
      },
    });
  }

  async setPriority(principal: Principal, jobId: string, priority: unknown): Promise<LegacyJobStatus> {
    const parsed = prioritySchema.safeParse(priority);
    const level = parsed.success ? parsed.data : 0;
    return this.control(principal, jobId, 'priority', ACTIVE_STATUSES, {
      check: () => {
        if (!parsed.success)
          throw new InvalidJobRequestError('priority', 'expected high, normal, low or an integer from 1 to 5');
      },
      update: (handle, updateId) => handle.executeUpdate(setPriorityUpdate, { args: [{ priority: level }], updateId }),
      send: (handle, supersedes) => handle.signal(setPrioritySignal, { priority: level, supersedes }),
      after: () => this.db.updateTable('jobs').set({ priority: level }).where('id', '=', jobId).execute(),
    });
  }

  /** Jobs the principal may see, newest first; without `include`, no results and large metadata summarised. */
  async list(principal: Principal, filter: JobFilter = {}): Promise<JobListEntry[]> {
    return (await this.listPage(principal, filter)).jobs;
  }

  /**
   * One page of the jobs the principal may see (its own; a service's also those it started for others; an admin's
   * all), newest first, with the cursor of the next page while more remain (`filter.cursor` asks for that page).
   */
  async listPage(principal: Principal, filter: JobFilter = {}): Promise<JobListPage> {
    if (principal.admin) return listJobPage(this.db, filter, { all: true });
    // A service may narrow its list to one of the owners it starts jobs for; anyone else sees their own, whatever
    // owner they name.
    const service = principal.service === true;
    return listJobPage(this.db, service ? filter : { ...filter, owner: principal.subject }, {
      all: false,
      subject: principal.subject,
      startedBy: service,
    });
  }

  /** The job's audit trail: every start and control action on it, oldest first. */
  async history(principal: Principal, jobId: string) {
    await this.getJob(principal, jobId);
    return this.db
      .selectFrom('audit_log')
      .select(['at', 'actor', 'action', 'outcome', 'detail'])
      .where('job_id', '=', jobId)
      .orderBy('id')
      .execute();
  }

  /**
   * Admin: pause, resume or cancel every active job matching `filter` ({ owner?, jobType?, status? }), each audited.
   */
  async bulkControl(principal: Principal, filter: unknown, action: BulkAction): Promise<BulkOutcome> {
    return bulkControl(this.temporal, this.calls, this.db, principal, filter, action);
  }

  /** Admin: the fleet-wide LLM budget per model (limits, usage, waiting calls per owner, recent 429s). */
  async llmBudget(principal: Principal): Promise<ModelBudget[]> {
    requireAdmin(principal, 'the LLM budget');
    return budgetSnapshot(this.db);
  }

  /** Admin: changes a model's limits ({ rpm?, tpm?, windowMs? }); running workers follow within a grant round. */
  async setLlmBudget(principal: Principal, model: string, change: unknown): Promise<ModelBudget> {
    const defaults = {
      rpm: this.config.LLM_RPM_LIMIT,
      tpm: this.config.LLM_TPM_LIMIT,
      windowMs: this.config.LLM_BUDGET_WINDOW_MS,
    };
    return setBudgetLimits(this.db, principal, model, change, defaults);
  }

  handle(jobId: string): WorkflowHandle {
    return this.temporal.workflow.getHandle(jobId);
  }

  async job(jobId: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
  }

  /** Progress of a job: live while a worker answers, otherwise the last stored snapshot. */
  async progress(jobId: string): Promise<JobProgress | undefined> {
    const row = await this.job(jobId);
    return row ? (await this.progressOf(row)).progress : undefined;
  }

  /** Waits for the workflow to end (successfully or not) and returns the job row as it then stands. */
  async waitForJob(jobId: string): Promise<JobRow | undefined> {
    await this.handle(jobId)
      .result()
      .catch(() => undefined);
    return this.job(jobId);
  }

  /**
   * Progress of a job for status: live while a worker answers, otherwise the newer of the last live answer this
   * process saw and the stored snapshot. The workers are taken as gone, without waiting out a query's deadline, when
   * Temporal is unreachable, when no worker polls the task queue, and after a query went unanswered (the server lists
   * a killed worker's poller for minutes) until one is answered again (client/live-progress.ts).
   */
  private async progressOf(row: JobRow, live = true): Promise<ProgressAnswer> {
    const stored = row.progress ? { ...row.progress, status: row.status as JobStatus } : undefined;
    if (FINAL_STATUSES.includes(row.status as JobStatus) || row.source !== 'synapse') {
      this.liveProgress.forget(row.id);
      return { progress: stored, source: 'snapshot' };
    }
    const workersMayAnswer = live && !this.calls.isUnreachable() && (await this.workersArePolling());
    return this.liveProgress.answer(row.id, stored, workersMayAnswer);
  }

  /**
   * Whether any worker polls the jobs task queue: without one a query would only wait out its deadline, and a
   * frontend polling every 2 s must not pay that on every request. Only the first request waits for the answer;
   * after POLLER_CHECK_MS one request starts a new look and every request goes by the last one meanwhile. The server
   * remembers a poller for a few minutes after it was last seen, so a worker that just died still counts: then the
   * first unanswered query is what tells (LiveProgress).
   */
  private async workersArePolling(): Promise<boolean> {
    const check = this.pollerCheck;
    if (check && Date.now() - check.at < POLLER_CHECK_MS) return check.polling;
    this.pollerLook ??= this.lookForPollers().finally(() => (this.pollerLook = undefined));
    return check ? check.polling : this.pollerLook;
  }

  private async lookForPollers(): Promise<boolean> {
    let polling = true;
    try {
      const { pollers } = await this.calls.run('list the pollers of the task queue', () =>
        this.temporal.workflowService.describeTaskQueue({
          namespace: this.temporal.options.namespace,
          taskQueue: { name: this.config.TEMPORAL_TASK_QUEUE },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        }),
      );
      polling = (pollers ?? []).length > 0;
    } catch (error) {
      // Temporal unreachable: no worker could answer through it either (not kept: the next request looks again).
      // Anything else: let the query and its deadline decide.
      if (error instanceof DependencyUnavailableError) return false;
    }
    this.pollerCheck = { at: Date.now(), polling };
    return polling;
  }

  /**
   * Sends the action as an update when it has one: the workflow's validator judges it against the job's state as the
   * workflow sees it, and the answer is the state after the change. Otherwise, or when no worker answers within
   * CONTROL_UPDATE_TIMEOUT_MS, checks it against the job's state in Temporal now (describe: needs no worker), sends it
   * as a signal (or cancellation), and records it as requested until the workflow applies it. A workflow that has
   * ended (terminated, failed, or ending as the request arrives) answers 409 naming the state it ended in, written
   * into the row first.
   */
  private async control(
    principal: Principal,
    jobId: string,
    action: string,
    allowedFrom: readonly JobStatus[],
    { check, update, send, after: afterSent }: ControlRequest,
  ): Promise<LegacyJobStatus> {
    return audited(this.db, { actor: principal.subject, action, jobId }, async () => {
      const row = await this.getJob(principal, jobId);
      if (row.source !== 'synapse')
        throw new JobStateError(`job ${jobId} was imported from the legacy job manager; nothing of it is running`);
      if (FINAL_STATUSES.includes(row.status as JobStatus)) throw this.refusal(action, row);
      check?.();
      // A control decision needs the job's state now, not the answer shared with pollers a moment ago.
      this.forgetShared(jobId);
      // Also what finds Temporal unreachable (503 within TEMPORAL_RPC_TIMEOUT_MS) before an update could wait longer.
      const state = await workflowStateOf(this.reconcileDeps, jobId);
      if (state.kind !== 'running') throw await this.refuseEnded(action, row, state);
      const updateId = randomUUID();
      const asked = update ? await this.askWorkflow(action, row, (handle) => update(handle, updateId)) : 'not sent';
      if (typeof asked === 'object') {
        await afterSent?.();
        this.forgetShared(jobId);
        this.liveProgress.offer(jobId, asked);
        return this.status(principal, jobId);
      }
      const current = state.jobStatus ?? (row.status as JobStatus);
      // A pause sent while no worker runs counts as done for what may follow it (resume, cancel), as the workflow will
      // see it.
      const requested = pendingRequest(row, current);
      const effective = requested ? REQUESTED_STATUS[requested] : current;
      if (!allowedFrom.includes(effective)) {
        throw new JobStateError(
          `cannot ${action} job ${jobId}: it is ${effective}${requested ? ` (${requested} requested, not applied yet)` : ''} (${action} applies to ${allowedFrom.join(', ')} jobs)`,
        );
      }
      const request = REQUEST_OF[action];
      // Recorded before sending, so the workflow's write that applies it is sure to come after and clear it.
      const requestedAt = new Date();
      if (request) {
        await this.db
          .updateTable('jobs')
          .set({ requested_action: request, requested_at: requestedAt })
          .where('id', '=', jobId)
          .execute();
        // The job's event streams show the request pending as status does (the workflow's next write clears it).
        await notifyJobChanged(this.db, jobId);
      }
      try {
        await this.calls.run(`${action} job ${jobId}`, () =>
          send(this.handle(jobId), asked === 'unanswered' ? updateId : undefined),
        );
        // Temporal accepts a cancel of a workflow that has just ended, silently: look again.
        const after = action === 'cancel' ? await workflowStateOf(this.reconcileDeps, jobId) : state;
        if (after.kind === 'closed' && after.description.status.name !== 'CANCELLED')
          throw await this.refuseEnded(action, row, after);
      } catch (error) {
        if (request)
          await this.db
            .updateTable('jobs')
            .set({ requested_action: row.requested_action, requested_at: row.requested_at })
            .where('id', '=', jobId)
            .where('requested_at', '=', requestedAt)
            .execute();
        // A signal to a workflow that ended meanwhile: the race with completion is a 409 too.
        if (error instanceof WorkflowNotFoundError)
          throw await this.refuseEnded(action, row, await workflowStateOf(this.reconcileDeps, jobId));
        throw error;
      }
      await afterSent?.();
      this.forgetShared(jobId);
      return this.status(principal, jobId);
    });
  }

  /**
   * The workflow's answer to a control update: its progress after the change; `not sent` when no worker polls, and
   * `unanswered` when none answers within CONTROL_UPDATE_TIMEOUT_MS: the caller then sends the signal. A rejection by the update's validator
   * is a JobStateError (409) for the job's state, an InvalidJobRequestError (400) for a malformed request; an update
   * to a workflow that has ended answers the 409 naming the state it ended in.
   */
  private async askWorkflow(
    action: string,
    row: JobRow,
    update: (handle: WorkflowHandle) => Promise<JobProgress>,
  ): Promise<JobProgress | 'not sent' | 'unanswered'> {
    // Nothing would answer: straight to the signal rather than waiting out the bound.
    if (!(await this.workersArePolling())) return 'not sent';
    // The client keeps asking for an unanswered update until told to stop: aborted once the bound has passed.
    const abandon = new AbortController();
    try {
      return await this.calls.bounded(
        () => this.temporal.connection.withAbortSignal(abandon.signal, () => update(this.handle(row.id))),
        this.config.CONTROL_UPDATE_TIMEOUT_MS,
      );
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) {
        const { cause } = error;
        if (cause instanceof ApplicationFailure && cause.type === FailureType.ControlStateRefused)
          throw new JobStateError(cause.message);
        if (cause instanceof ApplicationFailure && cause.type === FailureType.ControlRequestInvalid)
          throw new InvalidJobRequestError(action === 'priority' ? 'priority' : 'request', cause.message);
      }
      // The workflow ended before or while the update reached it.
      if (error instanceof WorkflowNotFoundError || error instanceof WorkflowUpdateFailedError) {
        const state = await workflowStateOf(this.reconcileDeps, row.id);
        if (state.kind !== 'running') throw await this.refuseEnded(action, row, state);
      }
      if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isUnanswered(error)) return 'unanswered';
      throw error;
    } finally {
      abandon.abort();
    }
  }

  private refusal(action: string, row: JobRow): JobStateError {
    return new JobStateError(
      `cannot ${action} job ${row.id}: it is ${row.status}${row.error ? ` (${row.error})` : ''}`,
    );
  }

  /** The 409 for a job whose workflow has ended or does not exist, after writing what Temporal says into its row. */
  private async refuseEnded(action: string, row: JobRow, state: WorkflowState): Promise<JobStateError> {
    const ended = (await this.reconcile(row, state)) ?? (await this.job(row.id)) ?? row;
    if (ACTIVE_STATUSES.includes(ended.status as JobStatus))
      return new JobStateError(
        `cannot ${action} job ${row.id}: its workflow has not started yet; try again in a moment`,
      );
    return this.refusal(action, ended);
  }

  private reconcile(row: JobRow, state: WorkflowState): Promise<JobRow | undefined> {
    this.forgetShared(row.id);
    return reconcileJob(this.reconcileDeps, row, state);
  }

  private forgetShared(jobId: string): void {
    this.liveProgress.refresh(jobId);
    this.workflowStates.forget(jobId);
  }

  /**
   * Starts the job's workflow after its row is written: the row holds the owner's quota slot under the
   * quota lock, which a workflow started first could not. A start Temporal refuses deletes the row (nothing
   * started). A start Temporal does not answer within TEMPORAL_RPC_TIMEOUT_MS may still have happened, so
   * the row stays pending: its workflow writes it if it exists, and the reconciler fails it as never
   * started once JOB_START_BOUND_MS has passed without one (also what happens if this process dies here).
   */
  private async startWorkflow(
    jobId: string,
    body: JobStartRequest,
    { request, prepared }: { request: CommonStartRequest; prepared: PreparedJob },
  ): Promise<void> {
    try {
      // By function reference (its name is the workflow type), with the start request as its argument, as any
      // Temporal client would start it; its admission finds the job admitted above and runs with that input.
      await this.calls.run(`start job ${jobId}`, () =>
        this.temporal.workflow.start(workflowOf(request.jobType), {
          workflowId: jobId,
          taskQueue: this.config.TEMPORAL_TASK_QUEUE,
          args: [body],
          // A job id is never run twice (the admission also refuses one that belongs to a finished job).
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          priority: { priorityKey: request.priority, fairnessKey: request.owner },
          typedSearchAttributes: [...jobSearchAttributes(request), { key: JobStatusKey, value: 'pending' }],
          staticSummary: prepared.summary,
          staticDetails: prepared.details,
        }),
      );
    } catch (error) {
      if (error instanceof DependencyUnavailableError) {
        const bound = this.config.JOB_START_BOUND_MS / 1_000;
        throw new DependencyUnavailableError(
          'temporal',
          `${error.message}. Job ${jobId} is recorded as pending; unless its workflow started after all, it is failed as never started within ${bound} s (a retry with the same idempotency key returns it until then)`,
          error.retryAfterSeconds,
          { cause: error },
        );
      }
      // Temporal refused the start: nothing started, so nothing should claim it did.
      await this.db.deleteFrom('jobs').where('id', '=', jobId).execute();
      throw error;
    }
  }
}

/** Whether `principal` may see and control the job: its owner, an admin, or the service that started it for its owner. */
function mayAccess(principal: Principal, row: Pick<JobRow, 'owner' | 'started_by'>): boolean {
  return (
    principal.admin ||
    row.owner === principal.subject ||
    (principal.service === true && row.started_by === principal.subject)
  );
}

/** A string or number as text (search attributes, the audit's actor); anything else is not one, so undefined. */
function scalarText(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

/** A validated request's fields (validation has made sure it is a plain object). */
function fieldsOf(body: unknown): Record<string, unknown> {
  return typeof body === 'object' && body !== null ? { ...body } : {};
}

/** A field of a request not validated yet: undefined unless the request is an object. */
function fieldOf(body: unknown, field: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[field] : undefined;
}
