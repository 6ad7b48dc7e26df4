// What a job family tells the client: which workflow runs each of its job types, and how to turn a start
// request's own fields into that workflow's input — validated against the database, nothing started yet.

import type { Kysely } from 'kysely';
import type { JobType } from '../common/jobs';
import type { Config } from '../config';
import type { Database } from '../db/database';
import type { CommonStartRequest } from './job-requests';

export type JobLimits = Pick<Config, 'JOB_DEFAULT_LLM_CONCURRENCY' | 'JOB_MAX_LLM_CONCURRENCY' | 'JOB_MAX_ATTRIBUTES' | 'JOB_START_COUNT_TIMEOUT_MS'>;

export interface PreparedJob {
  /** The family's own workflow input fields; the client adds jobId, owner, priority and the other common ones. */
  input: Record<string, unknown>;
  /** Stored in the job row's metadata next to the caller's (e.g. data_source_id, total_items). */
  metadata: Record<string, unknown>;
  /** One line for the Web UI's workflow list, e.g. "pde_auto_mapping of 240 PDEs of plan P for alice". */
  summary: string;
  /** Settings worth seeing in the Web UI (concurrency, batch sizes, seeds). */
  details: string;
}

export interface JobDefinition {
  workflowTypes: Partial<Record<JobType, string>>;
  /**
   * Validates the request's type-specific fields (throwing InvalidJobRequestError naming the field) and
   * resolves them (catalogue lookups, documents, earlier jobs) into the workflow input.
   */
  prepare(db: Kysely<Database>, request: CommonStartRequest, body: Record<string, unknown>, limits: JobLimits): Promise<PreparedJob>;
}
