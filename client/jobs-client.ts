// The typed client backend services, the HTTP API and the CLI all use: start a job (validated first,
// nothing started on bad input), read its status, pause/resume/cancel it, change its priority, list jobs.
// Every start and control action is checked against the caller's ownership and audited.

import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { sql, type Kysely } from 'kysely';
import { ACTIVE_STATUSES, CONTROLLABLE_FROM, FINAL_STATUSES, type JobInputBase, type JobStatus } from '../common/jobs';
import type { JobProgress } from '../common/progress';
import { CycleIdKey, JobOwnerKey, JobPriorityKey, JobStatusKey, JobTypeKey, ReportIdKey } from '../common/search-attributes';
import type { Config } from '../config';
import type { Database } from '../db/database';
import { pauseSignal, progressQuery, resumeSignal, setPrioritySignal } from '../workflows/control';
import { audited } from './audit';
import { InvalidJobRequestError, JobNotFoundError, JobStateError, QuotaExceededError } from './errors';
import { definitionOf, type PreparedJob } from './job-definitions';
import { parseCommonRequest, prioritySchema, type CommonStartRequest, type StartJobRequest } from './job-requests';
import { toLegacyStatus, type JobRow, type LegacyJobStatus } from './job-status';
import { listJobs, type JobFilter, type JobListEntry } from './job-list';
import { llmUsageOf } from './llm-usage';
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
  | 'LLM_PRICES'
  | 'LLM_RPM_LIMIT'
  | 'LLM_TPM_LIMIT'
  | 'LLM_BUDGET_WINDOW_MS'
>;

/** A validated start request, resolved into the workflow input and what the Web UI shows of it. */
interface NewJob {
  request: CommonStartRequest;
  workflowType: string;
  input: JobInputBase & Record<string, unknown>;
  prepared: PreparedJob;
}

/** Who is asking: the bearer token's subject, and whether it holds the admin role. */
export interface Principal {
  subject: string;
  admin: boolean;
}

export interface StartedJob {
  jobId: string;
  workflowId: string;
  /** False when an idempotency key matched a job started earlier, which is returned instead. */
  created: boolean;
}

/**
 * After a progress query goes unanswered, status answers from snapshots until a background query is
 * answered again, or at most this long (then one request asks and waits again).
 */
const SILENT_WORKERS_MAX_MS = 60_000;

/** gRPC DEADLINE_EXCEEDED (code 4), as the client surfaces it from `withDeadline`. */
function isDeadlineExceeded(error: unknown): boolean {
  const code = (error as { code?: unknown; cause?: { code?: unknown } })?.code ?? (error as { cause?: { code?: unknown } })?.cause?.code;
  return code === 4 || (error instanceof Error && /deadline/i.test(error.message));
}

export class JobsClient {
  private pollerCheck: { at: number; polling: boolean } | undefined;
  /** When a progress query last went unanswered; cleared by the next answer. Meanwhile status answers from snapshots. */
  private workersSilentSince: number | undefined;
  private probe: Promise<unknown> | undefined;
  /** Live progress per job, shared by every status request within STATUS_LIVE_CACHE_MS (one query in flight per job). */
  private readonly liveProgress = new Map<string, { at: number; answer: Promise<JobProgress | undefined>; last?: JobProgress; refreshing: boolean }>();

  constructor(
    private readonly temporal: Client,
    private readonly db: Kysely<Database>,
    private readonly config: JobsClientConfig,
  ) {}

  /** Validates, records and starts a job for `body.owner`. Throws InvalidJobRequestError or QuotaExceededError. */
  async startJob(body: StartJobRequest, actor = String((body as { owner?: unknown }).owner ?? 'unknown')): Promise<StartedJob> {
    return audited(this.db, { actor, action: 'start', jobId: null, detail: { jobType: (body as { jobType?: unknown }).jobType } }, async () => {
      const request = parseCommonRequest(body, this.config);
      const earlier = request.idempotencyKey ? await this.jobByIdempotencyKey(request.owner, request.idempotencyKey) : undefined;
      if (earlier) return { jobId: earlier, workflowId: earlier, created: false };
      // Before the family's checks, some of which read the data source (a sampling start counts its records).
      await this.checkQuota(this.db, request.owner);
      const job = await this.prepareJob(request, body);
      const recorded = await this.recordNewJob(job);
      if (!recorded.created) return recorded;
      await this.startWorkflow(job);
      return recorded;
    }, (started) => started.jobId);
  }

  async getJob(principal: Principal, jobId: string): Promise<JobRow> {
    const row = await this.job(jobId);
    if (!row || (!principal.admin && row.owner !== principal.subject)) throw new JobNotFoundError(jobId);
    return row;
  }

  async status(principal: Principal, jobId: string): Promise<LegacyJobStatus> {
    const row = await this.getJob(principal, jobId);
    const [{ progress, source }, llmUsage, llmBudget] = await Promise.all([this.progressOf(row), llmUsageOf(this.db, jobId, this.config.LLM_PRICES), jobBudgetStatus(this.db, jobId)]);
    return { ...toLegacyStatus(row, progress, source), llm_usage: llmUsage, ...(llmBudget ? { llm_budget: llmBudget } : {}) };
  }

  async pause(principal: Principal, jobId: string, options: { now?: boolean } = {}): Promise<LegacyJobStatus> {
    return this.control(principal, jobId, options.now ? 'pause-now' : 'pause', CONTROLLABLE_FROM.pause, (handle) => handle.signal(pauseSignal, { now: options.now ?? false }));
  }

  async resume(principal: Principal, jobId: string): Promise<LegacyJobStatus> {
    return this.control(principal, jobId, 'resume', CONTROLLABLE_FROM.resume, (handle) => handle.signal(resumeSignal));
  }

  async cancel(principal: Principal, jobId: string): Promise<LegacyJobStatus> {
    return this.control(principal, jobId, 'cancel', CONTROLLABLE_FROM.cancel, async (handle) => {
      await handle.cancel();
    });
  }

  async setPriority(principal: Principal, jobId: string, priority: unknown): Promise<LegacyJobStatus> {
    const parsed = prioritySchema.safeParse(priority);
    return this.control(principal, jobId, 'priority', ACTIVE_STATUSES, async (handle) => {
      if (!parsed.success) throw new InvalidJobRequestError('priority', 'expected high, normal, low or an integer from 1 to 5');
      await handle.signal(setPrioritySignal, { priority: parsed.data });
      await this.db.updateTable('jobs').set({ priority: parsed.data }).where('id', '=', jobId).execute();
    });
  }

  /** Jobs the principal may see, newest first; without `include`, no results and large metadata summarised. */
  async list(principal: Principal, filter: JobFilter = {}): Promise<JobListEntry[]> {
    return listJobs(this.db, principal.admin ? filter : { ...filter, owner: principal.subject });
  }

  /** The job's audit trail: every start and control action on it, oldest first. */
  async history(principal: Principal, jobId: string) {
    await this.getJob(principal, jobId);
    return this.db.selectFrom('audit_log').select(['at', 'actor', 'action', 'outcome', 'detail']).where('job_id', '=', jobId).orderBy('id').execute();
  }

  /** Admin: pause, resume or cancel every active job matching `filter` ({ owner?, jobType?, status? }), each audited. */
  async bulkControl(principal: Principal, filter: unknown, action: BulkAction): Promise<BulkOutcome> {
    return bulkControl(this.temporal, this.db, principal, filter, action);
  }

  /** Admin: the fleet-wide LLM budget per model (limits, usage, waiting calls per owner, recent 429s). */
  async llmBudget(principal: Principal): Promise<ModelBudget[]> {
    requireAdmin(principal, 'the LLM budget');
    return budgetSnapshot(this.db);
  }

  /** Admin: changes a model's limits ({ rpm?, tpm?, windowMs? }); running workers follow within a grant round. */
  async setLlmBudget(principal: Principal, model: string, change: unknown): Promise<ModelBudget> {
    const defaults = { rpm: this.config.LLM_RPM_LIMIT, tpm: this.config.LLM_TPM_LIMIT, windowMs: this.config.LLM_BUDGET_WINDOW_MS };
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
    await this.handle(jobId).result().catch(() => undefined);
    return this.job(jobId);
  }

  private async progressOf(row: JobRow): Promise<{ progress: JobProgress | undefined; source: 'live' | 'snapshot' }> {
    const stored = row.progress ? { ...(row.progress as unknown as JobProgress), status: row.status as JobStatus } : undefined;
    if (FINAL_STATUSES.includes(row.status as JobStatus) || row.source !== 'synapse') return { progress: stored, source: 'snapshot' };
    if (!(await this.workersArePolling())) return { progress: stored, source: 'snapshot' };
    if (this.workersSilentSince !== undefined && Date.now() - this.workersSilentSince < SILENT_WORKERS_MAX_MS) {
      // Workers stopped answering: one query at a time, in the background, finds out when they are back.
      this.probe ??= this.queryProgress(row.id).finally(() => (this.probe = undefined));
      return { progress: stored, source: 'snapshot' };
    }
    const live = await this.sharedLiveProgress(row.id);
    return live ? { progress: live, source: 'live' } : { progress: stored, source: 'snapshot' };
  }

  /**
   * A frontend polling a job from many tabs (or many analysts watching one job) would otherwise send the
   * workflow one query per request. Within STATUS_LIVE_CACHE_MS requests share one answer; after that
   * the last answer is served while one query refreshes it, so only a job's first request ever waits.
   */
  private sharedLiveProgress(jobId: string): Promise<JobProgress | undefined> {
    const now = Date.now();
    const entry = this.liveProgress.get(jobId);
    if (entry && now - entry.at < this.config.STATUS_LIVE_CACHE_MS) return entry.answer;
    if (entry?.last !== undefined && now - entry.at < this.config.STATUS_LIVE_CACHE_MS + this.config.STATUS_QUERY_TIMEOUT_MS) {
      if (!entry.refreshing) {
        entry.refreshing = true;
        void this.queryProgress(jobId).then((answer) => this.rememberLive(jobId, Date.now(), Promise.resolve(answer), answer));
      }
      return Promise.resolve(entry.last);
    }
    const answer = this.queryProgress(jobId);
    this.rememberLive(jobId, now, answer);
    void answer.then((value) => {
      const current = this.liveProgress.get(jobId);
      if (current?.answer === answer) current.last = value;
    });
    return answer;
  }

  private rememberLive(jobId: string, at: number, answer: Promise<JobProgress | undefined>, last?: JobProgress): void {
    this.liveProgress.set(jobId, { at, answer, last, refreshing: false });
    // Bounded: entries past any use are dropped once there are many.
    if (this.liveProgress.size > 1_000) {
      for (const [id, entry] of this.liveProgress) if (at - entry.at >= this.config.STATUS_LIVE_CACHE_MS + this.config.STATUS_QUERY_TIMEOUT_MS) this.liveProgress.delete(id);
    }
  }

  /**
   * The workflow's own progress, or undefined when no worker answers within STATUS_QUERY_TIMEOUT_MS. A
   * deadline missed makes status answer from snapshots without waiting until a query is answered again:
   * the server lists a stopped worker's poller for minutes, and a frontend polling many jobs must not
   * wait out a deadline per request in that window.
   */
  private async queryProgress(jobId: string): Promise<JobProgress | undefined> {
    try {
      const deadline = Date.now() + this.config.STATUS_QUERY_TIMEOUT_MS;
      const live = await this.temporal.connection.withDeadline(deadline, () => this.handle(jobId).query(progressQuery));
      this.workersSilentSince = undefined;
      return live;
    } catch (error) {
      if (isDeadlineExceeded(error)) this.workersSilentSince ??= Date.now();
      // No worker answered in time, or the workflow is gone: the stored snapshot is the best answer.
      return undefined;
    }
  }

  /**
   * Whether any worker polls the jobs task queue, asked at most every 2 s: without one a query would
   * only wait out its deadline, and a frontend polling every 2 s must not pay that on every request.
   * The server remembers a poller for a few minutes after it was last seen, so a worker that just
   * died still counts; then the query's deadline is what bounds the answer.
   */
  private async workersArePolling(): Promise<boolean> {
    if (this.pollerCheck && Date.now() - this.pollerCheck.at < 2_000) return this.pollerCheck.polling;
    let polling = true;
    try {
      const { pollers } = await this.temporal.workflowService.describeTaskQueue({
        namespace: this.temporal.options.namespace,
        taskQueue: { name: this.config.TEMPORAL_TASK_QUEUE },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      });
      polling = (pollers ?? []).length > 0;
    } catch {
      // Cannot tell: let the query and its deadline decide.
    }
    this.pollerCheck = { at: Date.now(), polling };
    return polling;
  }

  private async control(principal: Principal, jobId: string, action: string, allowedFrom: readonly JobStatus[], send: (handle: WorkflowHandle) => Promise<void>): Promise<LegacyJobStatus> {
    return audited(this.db, { actor: principal.subject, action, jobId }, async () => {
      const row = await this.getJob(principal, jobId);
      // A control decision needs the job's state now, not the answer shared with pollers a moment ago.
      this.liveProgress.delete(jobId);
      const { progress } = await this.progressOf(row);
      const current = progress?.status ?? (row.status as JobStatus);
      if (row.source !== 'synapse') throw new JobStateError(`job ${jobId} was imported from the legacy job manager; nothing of it is running`);
      if (!allowedFrom.includes(current)) throw new JobStateError(`cannot ${action} job ${jobId}: it is ${current} (${action} applies to ${allowedFrom.join(', ')} jobs)`);
      await send(this.handle(jobId));
      this.liveProgress.delete(jobId);
      return this.status(principal, jobId);
    });
  }

  private async jobByIdempotencyKey(owner: string, key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('jobs').select('id').where('owner', '=', owner).where('idempotency_key', '=', key).executeTakeFirst();
    return row?.id;
  }

  private async prepareJob(request: CommonStartRequest, body: StartJobRequest): Promise<NewJob> {
    const family = definitionOf(request.jobType);
    if (!family) throw new InvalidJobRequestError('jobType', `job type ${request.jobType} is not available`);
    const prepared = await family.definition.prepare(this.db, request, body, this.config);
    const { jobType, owner, metadata, priority, useLlmCache } = request;
    const input = { ...prepared.input, jobId: randomUUID(), jobType, owner, metadata, priority, useLlmCache, historyEventBudget: this.config.JOB_HISTORY_EVENT_BUDGET };
    return { request, workflowType: family.workflowType, input, prepared };
  }

  /**
   * Writes the job row under a per-owner lock, so the active-jobs quota holds under concurrent starts and
   * two starts with one idempotency key make one job.
   */
  private async recordNewJob({ request, input, prepared }: NewJob): Promise<StartedJob> {
    const metadata = { ...request.metadata, ...prepared.metadata };
    return this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${request.owner}))`.execute(trx);
      if (request.idempotencyKey) {
        const earlier = await trx.selectFrom('jobs').select('id').where('owner', '=', request.owner).where('idempotency_key', '=', request.idempotencyKey).executeTakeFirst();
        if (earlier) return { jobId: earlier.id, workflowId: earlier.id, created: false };
      }
      await this.checkQuota(trx, request.owner);
      await trx
        .insertInto('jobs')
        .values({ id: input.jobId, type: request.jobType, owner: request.owner, status: 'pending', workflow_id: input.jobId, metadata: JSON.stringify(metadata), updated_at: new Date(), priority: request.priority, idempotency_key: request.idempotencyKey ?? null })
        .execute();
      return { jobId: input.jobId, workflowId: input.jobId, created: true };
    });
  }

  /** Refuses a start while `owner` has JOB_MAX_ACTIVE_PER_OWNER jobs pending, running or paused. */
  private async checkQuota(db: Kysely<Database>, owner: string): Promise<void> {
    const { active } = await db.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('active')).where('owner', '=', owner).where('status', 'in', ACTIVE_STATUSES).where('source', '=', 'synapse').executeTakeFirstOrThrow();
    if (Number(active) >= this.config.JOB_MAX_ACTIVE_PER_OWNER) {
      throw new QuotaExceededError(`${owner} already has ${active} active jobs (limit ${this.config.JOB_MAX_ACTIVE_PER_OWNER}); wait for one to finish or cancel one`);
    }
  }

  private async startWorkflow({ request, workflowType, input, prepared }: NewJob): Promise<void> {
    const { metadata } = request;
    try {
      await this.temporal.workflow.start(workflowType, {
        workflowId: input.jobId,
        taskQueue: this.config.TEMPORAL_TASK_QUEUE,
        args: [input],
        priority: { priorityKey: request.priority, fairnessKey: request.owner },
        typedSearchAttributes: [
          { key: JobTypeKey, value: request.jobType },
          { key: JobOwnerKey, value: request.owner },
          { key: JobStatusKey, value: 'pending' },
          { key: JobPriorityKey, value: request.priority },
          ...(metadata.cycle_id !== undefined ? [{ key: CycleIdKey, value: String(metadata.cycle_id) }] : []),
          ...(metadata.report_id !== undefined ? [{ key: ReportIdKey, value: String(metadata.report_id) }] : []),
        ],
        staticSummary: prepared.summary,
        staticDetails: prepared.details,
      });
    } catch (error) {
      // Nothing started, so nothing should claim it did.
      await this.db.deleteFrom('jobs').where('id', '=', input.jobId).execute();
      throw error;
    }
  }
}
