// The job status as the legacy API returned it (`GET /api/v1/jobs/{job_id}/status`), field for field, plus
// what the new platform adds: where the progress came from, a control request not applied yet, and the
// trouble Temporal sees (items retrying, waiting for budget, the last error). The frontend's bars keep working.

import type { WorkflowExecutionDescription } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import type { Selectable } from 'kysely';
import { FINAL_STATUSES, type JobStatus } from '../common/jobs';
import type { LlmUsage } from '../common/llm';
import type { JobProgress } from '../common/progress';
import type { Database } from '../db/database';
import type { ProgressSource } from './live-progress';
import type { JobBudgetStatus } from './llm-budget';
import type { CallbackDelivery } from '../activities/jobs/job-callback';

export type JobRow = Selectable<Database['jobs']>;

/** A control request the API sends to a job's workflow, and the status it leads to once applied. */
export const REQUESTED_STATUS = { pause: 'paused', resume: 'running', cancel: 'cancelled' } as const satisfies Record<
  string,
  JobStatus
>;
export type RequestedAction = keyof typeof REQUESTED_STATUS;

/** What Temporal shows of one item in flight that is not simply running: retried, or waiting for budget. */
export interface TroubledItem {
  /** The item (attribute, chunk, PDE) the activity's heartbeat names, when it names one. */
  item: string | null;
  activity: string;
  attempt: number;
  /** From the heartbeat: `budget`, `llm`, `retry`. */
  waiting_for: string | null;
  /** Retries inside the current attempt (heartbeat `retries`). */
  retries: number;
  last_error_type: string | null;
  last_error: string | null;
  /** When Temporal schedules the next attempt, while it waits out a retry backoff. */
  next_attempt_at: string | null;
}

export interface JobTrouble {
  items_retrying: number;
  items_waiting_for_budget: number;
  last_error_type: string | null;
  last_error: string | null;
  /** Up to ten of them. */
  items: TroubledItem[];
}

export interface LegacyJobStatus {
  job_id: string;
  job_type: string;
  status: string;
  progress_percentage: number;
  current_step: string | null;
  total_steps: number | null;
  completed_steps: number | null;
  message: string | null;
  result: unknown;
  error: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  metadata: Record<string, unknown>;
  // New in Synapse Jobs:
  owner: string;
  priority: number;
  failed_steps: number;
  in_flight: number;
  eta_seconds: number | null;
  updated_at: string;
  /**
   * `live` when a worker answered just now; `last-live` when no worker answers and the newest answer one gave this
   * API process is newer than the stored snapshot; `snapshot` when this is the last progress stored.
   */
  progress_source: ProgressSource;
  /**
   * Grows with every change of the job's progress (JobProgress.revision): an answer with a lower one than an answer
   * seen before is older. Null for legacy jobs and progress from workers that predate it.
   */
  progress_revision: number | null;
  source: string;
  /** How the job was started: `jobs-client` (API, CLI, JobsClient) or `temporal` (any Temporal client); null before it was kept. */
  started_via: string | null;
  /**
   * A pause, resume or cancel the API sent that the workflow has not applied yet (e.g. no worker runs); null otherwise.
   */
  requested_action: RequestedAction | null;
  requested_at: string | null;
  /** Items retrying or waiting for budget, and the last error, from Temporal; null when none; absent in lists. */
  trouble?: JobTrouble | null;
  /** Tokens and cost of the job's LLM calls so far; absent in job lists, which do not sum them. */
  llm_usage?: LlmUsage;
  /** Present while some of the job's LLM calls wait for the fleet-wide budget, and why they wait. */
  llm_budget?: JobBudgetStatus;
  /** For a job started with a `callbackUrl`: its delivery (attempts, the receiver's last answer); absent in lists. */
  callback?: CallbackDelivery;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * The control request still waiting for the workflow: one was sent, the job is not final, and its status
 * is not yet the one the request leads to. The workflow's next write of the row clears it.
 */
export function pendingRequest(row: Pick<JobRow, 'requested_action'>, status: string): RequestedAction | undefined {
  const action = row.requested_action as RequestedAction | null;
  if (!action || !(action in REQUESTED_STATUS) || FINAL_STATUSES.includes(status as JobStatus)) return undefined;
  return REQUESTED_STATUS[action] === status ? undefined : action;
}

export function toLegacyStatus(
  row: Omit<JobRow, 'input'>,
  progress: JobProgress | undefined,
  progressSource: ProgressSource,
): LegacyJobStatus {
  const status = progress?.status ?? row.status;
  const requested = pendingRequest(row, status);
  return {
    job_id: row.id,
    job_type: row.type,
    status,
    progress_percentage: progress?.progressPercentage ?? 0,
    current_step: progress?.currentStep ?? null,
    total_steps: progress?.totalSteps ?? null,
    completed_steps: progress?.completedSteps ?? null,
    message: progress?.message ?? null,
    result: row.result,
    error: row.error,
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    metadata: row.metadata,
    owner: row.owner,
    priority: progress?.priority ?? row.priority,
    failed_steps: progress?.failedSteps ?? 0,
    in_flight: progress?.inFlight ?? 0,
    eta_seconds: progress?.etaSeconds ?? null,
    updated_at: progress?.updatedAt ?? row.updated_at.toISOString(),
    progress_source: progressSource,
    progress_revision: progress?.revision ?? null,
    source: row.source,
    started_via: row.started_via,
    requested_action: requested ?? null,
    requested_at: requested ? iso(row.requested_at) : null,
  };
}

/**
 * What LLM activities heartbeat (activities/llm/llm.ts); other activities heartbeat other shapes, read as far as they
 * match.
 */
interface HeartbeatDetails {
  item?: unknown;
  waitingFor?: unknown;
  retries?: unknown;
  lastErrorType?: unknown;
  lastError?: unknown;
}

const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : null);
const isoOf = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * The job's items in flight that retry or wait, from describe()'s pending activities and their heartbeats; null when
 * none does.
 */
export function troubleOf(description: WorkflowExecutionDescription): JobTrouble | null {
  const troubled: (TroubledItem & { failedAt: number })[] = [];
  for (const pending of description.raw.pendingActivities ?? []) {
    let details: HeartbeatDetails = {};
    try {
      const payload = pending.heartbeatDetails?.payloads?.[0];
      const decoded = payload ? defaultPayloadConverter.fromPayload<unknown>(payload) : undefined;
      if (decoded && typeof decoded === 'object') details = decoded;
    } catch {
      // Details in an encoding we do not read: the attempt and last failure still tell.
    }
    const item: TroubledItem & { failedAt: number } = {
      item: text(details.item),
      activity: pending.activityType?.name ?? 'unknown',
      attempt: pending.attempt ?? 1,
      waiting_for: text(details.waitingFor),
      retries: typeof details.retries === 'number' ? details.retries : 0,
      last_error_type:
        text(details.lastErrorType) ??
        text(pending.lastFailure?.applicationFailureInfo?.type) ??
        (pending.lastFailure?.timeoutFailureInfo ? 'Timeout' : null),
      last_error: text(details.lastError) ?? text(pending.lastFailure?.message),
      next_attempt_at: isoOf(optionalTsToMs(pending.nextAttemptScheduleTime)),
      failedAt: optionalTsToMs(pending.lastAttemptCompleteTime) ?? 0,
    };
    if (item.attempt > 1 || item.retries > 0 || item.waiting_for === 'budget' || item.waiting_for === 'retry')
      troubled.push(item);
  }
  if (troubled.length === 0) return null;
  troubled.sort((a, b) => b.failedAt - a.failedAt);
  const last = troubled.find((t) => t.last_error_type !== null || t.last_error !== null);
  return {
    items_retrying: troubled.filter((t) => t.attempt > 1 || t.retries > 0 || t.waiting_for === 'retry').length,
    items_waiting_for_budget: troubled.filter((t) => t.waiting_for === 'budget').length,
    last_error_type: last?.last_error_type ?? null,
    last_error: last?.last_error ?? null,
    items: troubled.slice(0, 10).map(({ failedAt: _, ...item }) => item),
  };
}
