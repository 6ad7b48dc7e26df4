// The jobs table (each job's current state, as every reader sees it), the audit trail of who did what to which job,
// and each job's completion callback delivery.
// Composed with the other families' tables into the one `Database` in db/database.ts.

import type { ColumnType, Generated } from 'kysely';
import type { JobInputBase, JobResult } from '../../common/jobs';
import type { JobProgress } from '../../common/progress';
import type { Timestamp, Json } from '../../db/column-types';

export interface JobsTable {
  id: string;
  type: string;
  owner: string;
  status: string;
  workflow_id: string;
  metadata: Json;
  progress: Json<JobProgress> | null;
  result: Json<JobResult> | null;
  error: string | null;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  started_at: Timestamp | null;
  completed_at: Timestamp | null;
  updated_at: Timestamp;
  /** 1 (highest) to 5 (lowest). */
  priority: Generated<number>;
  idempotency_key: string | null;
  /** `synapse` for jobs started here, `legacy` for jobs imported from jobs_storage.json. */
  source: Generated<string>;
  /** The task queue the job was started on; its reconciler answers for it. Null on rows from before it was kept. */
  task_queue: string | null;
  /**
   * A control request sent to the workflow (`pause`, `resume`, `cancel`) and when; it is pending until the workflow's
   * next write.
   */
  requested_action: string | null;
  requested_at: Timestamp | null;
  /**
   * The workflow input the start request resolved into, kept so that admitting the job again (the admission activity
   * retried, or run after the client admitted it) returns the same input. Null on rows from before it was kept.
   */
  input: Json<JobInputBase> | null;
  /** `jobs-client` (API, CLI, JobsClient) or `temporal` (started through any Temporal client); null before it was kept. */
  started_via: string | null;
  /** sha256 of the start request's canonical JSON without its idempotency key; null before it was kept. */
  request_hash: string | null;
  /** The token subject that started the job for its owner (a service role); null when the owner started it. */
  started_by: string | null;
}

export interface AuditLogTable {
  id: Generated<string>;
  at: Generated<Date>;
  actor: string;
  action: string;
  job_id: string | null;
  outcome: string;
  detail: Json;
}

/** A job's completion callback and its delivery: attempts, the receiver's last answer, when one was accepted. */
export interface JobCallbacksTable {
  job_id: string;
  url: string;
  attempts: Generated<number>;
  /** The receiver's HTTP status on the last attempt; null when it gave none (refused, timed out, unreachable). */
  last_status: number | null;
  last_error: string | null;
  delivered_at: Timestamp | null;
  updated_at: Generated<Date>;
}

export interface JobTables {
  jobs: JobsTable;
  audit_log: AuditLogTable;
  job_callbacks: JobCallbacksTable;
}
