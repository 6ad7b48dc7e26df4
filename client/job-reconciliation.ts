// Keeps a job's row true when its workflow ended outside the control contract (terminated or reset from the
// CLI or Web UI, timed out, failed by a bug) or never started (the process starting it stopped after writing
// the row): the row gets the final state Temporal knows, with Temporal's reason, and frees its quota slot.
// Used on demand by the client (control or status found the workflow closed) and by the workers' reconciler.

import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { sql, type Kysely } from 'kysely';
import { ACTIVE_STATUSES, type JobStatus } from '../common/jobs';
import { JobStatusKey } from '../common/search-attributes';
import type { Database } from '../db/database';
import { notifyJobChanged } from '../activities/jobs/job-notify';
import { recordAudit } from './audit';
import type { JobRow } from './job-status';
import type { TemporalCalls } from './temporal-calls';

/** What Temporal says of a job's workflow (its latest run, so a job that continued as new is running). */
export type WorkflowState =
  | { kind: 'running'; jobStatus: JobStatus | undefined; description: WorkflowExecutionDescription }
  | { kind: 'closed'; description: WorkflowExecutionDescription }
  | { kind: 'missing' };

export interface ReconcileDeps {
  db: Kysely<Database>;
  temporal: Client;
  calls: TemporalCalls;
  /**
   * How long after its row was written a pending job's workflow may still be missing: longer than any start's deadline.
   */
  startBoundMs: number;
  /** Who the audit trail names for the reconciliation. */
  actor: string;
}

/** How a job ended, as the row will say it. */
interface Ending {
  status: JobStatus;
  error: string | null;
  /** Progress message, in the words the workflow's own final states use. */
  message: string;
  result?: unknown;
  completedAt: Date;
  detail: Record<string, unknown>;
}

/** Job ids the visibility filter may quote; any other id goes straight to describe. */
const QUOTABLE_ID = /^[0-9A-Za-z_-]{1,100}$/;
/** Ids per visibility query: one list call tells which of them still run. */
const VISIBILITY_BATCH = 100;

/** Describe of the job's workflow, within the deadline (a DependencyUnavailableError when Temporal does not answer). */
export async function workflowStateOf(
  deps: Pick<ReconcileDeps, 'temporal' | 'calls'>,
  jobId: string,
): Promise<WorkflowState> {
  try {
    const description = await deps.calls.run(`describe job ${jobId}`, () =>
      deps.temporal.workflow.getHandle(jobId).describe(),
    );
    const open = description.status.name === 'RUNNING' || description.status.name === 'PAUSED';
    return open
      ? {
          kind: 'running',
          jobStatus: description.typedSearchAttributes.get(JobStatusKey) as JobStatus | undefined,
          description,
        }
      : { kind: 'closed', description };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return { kind: 'missing' };
    throw error;
  }
}

/**
 * Writes the final state Temporal knows into an active job's row when its workflow has ended or never
 * existed; returns the row as written, or undefined when there was nothing to write (still running, a
 * pending job within its start bound, or the row already final: the workflow wrote it first).
 */
export async function reconcileJob(
  deps: ReconcileDeps,
  row: JobRow,
  state: WorkflowState,
): Promise<JobRow | undefined> {
  if (state.kind === 'running' || row.source !== 'synapse' || !ACTIVE_STATUSES.includes(row.status as JobStatus))
    return undefined;
  if (state.kind === 'closed') return writeEnding(deps, row, await endingOf(deps, state.description));
  const now = new Date();
  if (row.status === 'pending') {
    const seconds = deps.startBoundMs / 1_000;
    const error = `Never started: its workflow did not exist ${seconds} s after the job was recorded (the process starting it stopped, or Temporal did not confirm the start)`;
    // The bound is checked against the database's clock, which wrote created_at; the key is released so a retry can
    // start the job anew.
    return writeEnding(
      deps,
      row,
      { status: 'failed', error, message: 'Never started', completedAt: now, detail: { workflow: 'missing' } },
      { olderThanMs: deps.startBoundMs, releaseIdempotencyKey: true },
    );
  }
  const error = "Its workflow no longer exists in Temporal (deleted, or past the namespace's retention)";
  return writeEnding(deps, row, {
    status: 'failed',
    error,
    message: 'Failed',
    completedAt: now,
    detail: { workflow: 'missing' },
  });
}

/**
 * One pass over every active job of `taskQueue` (and rows from before task queues were kept): one visibility
 * query per hundred jobs finds those whose workflow is not running, and only those are described and
 * reconciled. Returns how many rows it wrote. Starting from the jobs table rather than from visibility's
 * closed workflows also finds rows whose workflow never existed.
 */
export async function reconcileActiveJobs(deps: ReconcileDeps, taskQueue: string): Promise<number> {
  const rows = await deps.db
    .selectFrom('jobs')
    .selectAll()
    .where('source', '=', 'synapse')
    .where('status', 'in', ACTIVE_STATUSES)
    .where((eb) => eb.or([eb('task_queue', '=', taskQueue), eb('task_queue', 'is', null)]))
    .orderBy('created_at')
    .execute();
  let written = 0;
  for (let i = 0; i < rows.length; i += VISIBILITY_BATCH) {
    const batch = rows.slice(i, i + VISIBILITY_BATCH);
    const running = await runningAmong(
      deps,
      batch.map((r) => r.id),
    );
    for (const row of batch) {
      // Visibility may lag behind a workflow just started; describe, which reads the workflow itself, decides.
      if (running.has(row.id)) continue;
      if (await reconcileJob(deps, row, await workflowStateOf(deps, row.id))) written++;
    }
  }
  return written;
}

async function runningAmong(deps: ReconcileDeps, jobIds: string[]): Promise<Set<string>> {
  const quotable = jobIds.filter((id) => QUOTABLE_ID.test(id));
  if (quotable.length === 0) return new Set();
  const query = `WorkflowId IN (${quotable.map((id) => `'${id}'`).join(', ')}) AND ExecutionStatus = 'Running'`;
  return deps.calls.run('list running jobs', async () => {
    const running = new Set<string>();
    for await (const workflow of deps.temporal.workflow.list({ query })) running.add(workflow.workflowId);
    return running;
  });
}

/** Reads the close event of the workflow's latest run: the terminate reason and identity, the failure, the result. */
async function endingOf(
  deps: Pick<ReconcileDeps, 'temporal' | 'calls'>,
  description: WorkflowExecutionDescription,
): Promise<Ending> {
  const { workflowId, runId } = description;
  const { history } = await deps.calls.run(`read how job ${workflowId} ended`, () =>
    deps.temporal.workflowService.getWorkflowExecutionHistoryReverse({
      namespace: deps.temporal.options.namespace,
      execution: { workflowId, runId },
      maximumPageSize: 1,
    }),
  );
  const event = history?.events?.[0];
  const completedAt = description.closeTime ?? new Date();
  const closed = { workflowStatus: description.status.name, closedAt: completedAt.toISOString() };
  switch (description.status.name) {
    case 'TERMINATED': {
      const attributes = event?.workflowExecutionTerminatedEventAttributes;
      const identity = attributes?.identity || 'an unnamed client';
      const reason = attributes?.reason || 'no reason given';
      return {
        status: 'failed',
        error: `Terminated in Temporal by ${identity}: ${reason}`,
        message: 'Terminated',
        completedAt,
        detail: { ...closed, identity, reason },
      };
    }
    case 'TIMED_OUT':
      return {
        status: 'failed',
        error: 'Timed out in Temporal: the workflow ran past its execution or run timeout',
        message: 'Timed out',
        completedAt,
        detail: closed,
      };
    case 'FAILED': {
      const failure = event?.workflowExecutionFailedEventAttributes?.failure;
      const reason = [failure?.message, failure?.cause?.message].filter(Boolean).join(': ') || 'no reason given';
      return {
        status: 'failed',
        error: `Workflow failed in Temporal: ${reason}`,
        message: 'Failed',
        completedAt,
        detail: { ...closed, reason },
      };
    }
    case 'CANCELLED':
      return {
        status: 'cancelled',
        error: 'Cancelled in Temporal before the job recorded it',
        message: 'Cancelled',
        completedAt,
        detail: closed,
      };
    case 'COMPLETED': {
      const payload = event?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
      return {
        status: 'completed',
        error: null,
        message: 'Finished',
        result: payload ? defaultPayloadConverter.fromPayload(payload) : undefined,
        completedAt,
        detail: closed,
      };
    }
    default:
      return {
        status: 'failed',
        error: `Its workflow ended in Temporal as ${description.status.name}`,
        message: 'Failed',
        completedAt,
        detail: closed,
      };
  }
}

/**
 * Writes the ending only over a row still active (the workflow's own final write wins), and audits it.
 * The stored progress snapshot gets the final status too, so lists (which read only the snapshot) agree.
 */
async function writeEnding(
  deps: ReconcileDeps,
  row: JobRow,
  ending: Ending,
  options: { olderThanMs?: number; releaseIdempotencyKey?: boolean } = {},
): Promise<JobRow | undefined> {
  // One transaction: whoever sees the ending sees its audit entry (and a failed audit write leaves the row active
  // for the next pass rather than ended without a trace).
  return deps.db.transaction().execute(async (trx) => {
    const written = await endingUpdate(trx, row, ending, options).returningAll().executeTakeFirst();
    // The job's event streams end on this write as they would on the workflow's own final one.
    if (written) await notifyJobChanged(trx, row.id);
    if (written)
      await recordAudit(trx, {
        actor: deps.actor,
        action: 'reconcile',
        jobId: row.id,
        outcome: 'ok',
        detail: { status: ending.status, error: ending.error, ...ending.detail },
      });
    return written;
  });
}

/** The update that ends a row still active (and, with `olderThanMs`, old enough on PostgreSQL's clock). */
function endingUpdate(
  db: Kysely<Database>,
  row: JobRow,
  ending: Ending,
  options: { olderThanMs?: number; releaseIdempotencyKey?: boolean },
) {
  const now = new Date();
  const snapshot = {
    status: ending.status,
    message: ending.message,
    inFlight: 0,
    etaSeconds: null,
    updatedAt: now.toISOString(),
  };
  let update = db
    .updateTable('jobs')
    .set({
      status: ending.status,
      error: ending.error,
      completed_at: ending.completedAt,
      updated_at: now,
      progress: sql`case when progress is null then null else progress || ${JSON.stringify(snapshot)}::jsonb end`,
      requested_action: null,
      requested_at: null,
      ...(ending.result !== undefined ? { result: JSON.stringify(ending.result) } : {}),
      ...(options.releaseIdempotencyKey ? { idempotency_key: null } : {}),
    })
    .where('id', '=', row.id)
    .where('status', 'in', ACTIVE_STATUSES);
  if (options.olderThanMs !== undefined)
    update = update.where(sql<boolean>`created_at < now() - make_interval(secs => ${options.olderThanMs / 1_000})`);
  return update;
}
