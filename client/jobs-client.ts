// The typed client backend services use: start a job (validated first, nothing started on bad input),
// read its progress (from the workflow, or from the jobs table when no worker can answer), and wait for it.

import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { FINAL_STATUSES, type JobStatus, type ProfilingJobInput } from '../common/jobs';
import type { JobProgress } from '../common/progress';
import { CycleIdKey, JobOwnerKey, JobStatusKey, JobTypeKey, ReportIdKey } from '../common/search-attributes';
import type { Config } from '../config';
import type { Database } from '../db/database';
import { progressQuery } from '../workflows/control';
import { checkRuleSource, parseStartJobRequest, resolveAttributes, type StartJobRequest } from './job-requests';
import { WORKFLOW_TYPE_BY_JOB_TYPE } from './job-types';

export type JobsClientConfig = Pick<Config, 'TEMPORAL_TASK_QUEUE' | 'JOB_DEFAULT_LLM_CONCURRENCY' | 'JOB_MAX_LLM_CONCURRENCY' | 'JOB_MAX_ATTRIBUTES'>;

export interface StartedJob {
  jobId: string;
  workflowId: string;
}

export class JobsClient {
  constructor(
    private readonly temporal: Client,
    private readonly db: Kysely<Database>,
    private readonly config: JobsClientConfig,
  ) {}

  /** Validates the request, records the job and starts its workflow. Throws InvalidJobRequestError on bad input. */
  async startJob(body: StartJobRequest): Promise<StartedJob> {
    const request = parseStartJobRequest(body, this.config);
    const attributes = await resolveAttributes(this.db, request);
    await checkRuleSource(this.db, request);

    const jobId = randomUUID();
    const input: ProfilingJobInput = {
      jobId,
      jobType: request.jobType,
      owner: request.owner,
      dataSourceId: request.dataSourceId,
      attributes,
      llmConcurrency: request.llmConcurrency,
      ruleBatchSize: request.ruleBatchSize,
      rulesFromJobId: request.rulesFromJobId,
      metadata: request.metadata,
    };
    const metadata = { ...request.metadata, data_source_id: request.dataSourceId, total_attributes: attributes.length };
    await this.db.insertInto('jobs').values({ id: jobId, type: request.jobType, owner: request.owner, status: 'pending', workflow_id: jobId, metadata: JSON.stringify(metadata), updated_at: new Date() }).execute();
    try {
      await this.temporal.workflow.start(WORKFLOW_TYPE_BY_JOB_TYPE[request.jobType], {
        workflowId: jobId,
        taskQueue: this.config.TEMPORAL_TASK_QUEUE,
        args: [input],
        typedSearchAttributes: [
          { key: JobTypeKey, value: request.jobType },
          { key: JobOwnerKey, value: request.owner },
          { key: JobStatusKey, value: 'pending' },
          ...(request.metadata.cycle_id !== undefined ? [{ key: CycleIdKey, value: String(request.metadata.cycle_id) }] : []),
          ...(request.metadata.report_id !== undefined ? [{ key: ReportIdKey, value: String(request.metadata.report_id) }] : []),
        ],
        staticSummary: `${request.jobType} of ${attributes.length} attributes of ${request.dataSourceId} for ${request.owner}`,
        staticDetails: `LLM concurrency ${request.llmConcurrency}, rule batches of ${request.ruleBatchSize}` + (request.rulesFromJobId ? `, rules from job ${request.rulesFromJobId}` : ''),
      });
    } catch (error) {
      // Nothing started, so nothing should claim it did.
      await this.db.deleteFrom('jobs').where('id', '=', jobId).execute();
      throw error;
    }
    return { jobId, workflowId: jobId };
  }

  handle(jobId: string): WorkflowHandle {
    return this.temporal.workflow.getHandle(jobId);
  }

  /**
   * Progress of a job: the stored final snapshot once it has ended, live from the workflow while it runs,
   * and the last stored snapshot when no worker is there to answer the query.
   */
  async progress(jobId: string): Promise<JobProgress | undefined> {
    const row = await this.db.selectFrom('jobs').select(['progress', 'status']).where('id', '=', jobId).executeTakeFirst();
    const stored = row?.progress ? { ...(row.progress as unknown as JobProgress), status: row.status as JobStatus } : undefined;
    if (row && FINAL_STATUSES.includes(row.status as JobStatus)) return stored;
    try {
      return await this.handle(jobId).query(progressQuery);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      return stored;
    }
  }

  async job(jobId: string) {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
  }

  /** Waits for the workflow to end (successfully or not) and returns the job row as it then stands. */
  async waitForJob(jobId: string) {
    await this.handle(jobId).result().catch(() => undefined);
    return this.job(jobId);
  }
}
