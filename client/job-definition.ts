// What a job family tells the client and the admission activity: the fields of each of its job types' start
// requests, and how a request's fields resolve into the workflow's input (validated against the database; the
// writes it needs, such as stored documents, made in the admission's transaction).

import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { JobInputBase, JobType } from '../common/jobs';
import type { Config } from '../config';
import type { Database } from '../db/database';

export type JobLimits = Pick<
  Config,
  'JOB_DEFAULT_LLM_CONCURRENCY' | 'JOB_MAX_LLM_CONCURRENCY' | 'JOB_MAX_ATTRIBUTES' | 'JOB_START_COUNT_TIMEOUT_MS'
>;

export interface PreparedJob {
  /** The workflow's whole resolved input: the job's common fields and the family's own (e.g. ProfilingJobInput). */
  input: JobInputBase & Record<string, unknown>;
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
   * The job type's own fields of a start request (the common ones are client/job-requests.ts's), with their
   * defaults and cross-field checks: validated with the common ones, strictly (client/start-request.ts), and
   * published in schemas/.
   */
  fields(jobType: T, limits: JobLimits): z.ZodObject;
  /**
   * Checks the request's type-specific fields in `body` against the database (throwing InvalidJobRequestError
   * naming the field) and resolves them (catalogue lookups, documents, earlier jobs) into the workflow's input,
   * which also carries `job`: the common fields already validated and assigned (id, type, owner, …). Runs in the
   * transaction that records the job, so what it writes is kept only with the job.
   */
  prepare(
    db: Kysely<Database>,
    job: JobInputBase & { jobType: T },
    body: unknown,
    limits: JobLimits,
  ): Promise<PreparedJob>;
}
