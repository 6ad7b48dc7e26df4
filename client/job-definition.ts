// What a job family tells the client: the workflow function that runs each of its job types, and how a start
// request's own fields become that workflow's input — validated against the database, nothing started yet.

import type { Kysely } from 'kysely';
import type { JobInputBase, JobResult, JobType } from '../common/jobs';
import type { Config } from '../config';
import type { Database } from '../db/database';

export type JobLimits = Pick<
  Config,
  'JOB_DEFAULT_LLM_CONCURRENCY' | 'JOB_MAX_LLM_CONCURRENCY' | 'JOB_MAX_ATTRIBUTES' | 'JOB_START_COUNT_TIMEOUT_MS'
>;

/** A job's workflow, whatever its family: one input that extends JobInputBase, a JSON object as result. */
export type JobWorkflow = (input: never) => Promise<JobResult>;

/** Starts a workflow by function reference with an input of that function's own parameter type. */
export type WorkflowStarter = <I extends JobInputBase>(
  workflow: (input: I) => Promise<JobResult>,
  input: I,
) => Promise<unknown>;

/**
 * A job's workflow and its input, paired by `workflowCall` in the family's definition, where both types are
 * known, so the compiler checks the input against the workflow's parameter. The client starts it through
 * `startWith`, adding its own options (id, task queue, priority, search attributes).
 */
export interface WorkflowCall {
  startWith(start: WorkflowStarter): Promise<unknown>;
}

export function workflowCall<I extends JobInputBase>(
  workflow: (input: I) => Promise<JobResult>,
  input: I,
): WorkflowCall {
  return { startWith: (start) => start(workflow, input) };
}

export interface PreparedJob {
  /** The workflow to start and its whole input (the job's common fields and the family's own). */
  workflow: WorkflowCall;
  /** Stored in the job row's metadata next to the caller's (e.g. data_source_id, total_items). */
  metadata: Record<string, unknown>;
  /** One line for the Web UI's workflow list, e.g. "pde_auto_mapping of 240 PDEs of plan P for alice". */
  summary: string;
  /** Settings worth seeing in the Web UI (concurrency, batch sizes, seeds). */
  details: string;
}

/** A job family's definition for its job types `T`. */
export interface JobDefinition<T extends JobType> {
  /**
   * The workflow that runs each job type; started by reference, its function name is the workflow type Temporal
   * records.
   */
  workflows: Record<T, JobWorkflow>;
  /**
   * Validates the request's type-specific fields in `body` (throwing InvalidJobRequestError naming the field)
   * and resolves them (catalogue lookups, documents, earlier jobs) into the workflow's input, which also
   * carries `job`: the common fields the client has already validated and assigned (id, type, owner, …).
   */
  prepare(
    db: Kysely<Database>,
    job: JobInputBase & { jobType: T },
    body: unknown,
    limits: JobLimits,
  ): Promise<PreparedJob>;
}
