// The job status as the legacy API returned it (`GET /api/v1/jobs/{job_id}/status`), field for field, plus
// what the new platform adds. The frontend's progress bars keep working unchanged.

import type { LlmUsage } from '../common/llm';
import type { JobBudgetStatus } from './llm-budget';
import type { JobProgress } from '../common/progress';
import type { Database } from '../db/database';
import type { Selectable } from 'kysely';

export type JobRow = Selectable<Database['jobs']>;

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
  /** `live` when a worker answered just now; `snapshot` when this is the last progress stored. */
  progress_source: 'live' | 'snapshot';
  source: string;
  /** Tokens and cost of the job's LLM calls so far; absent in job lists, which do not sum them. */
  llm_usage?: LlmUsage;
  /** Present while some of the job's LLM calls wait for the fleet-wide budget, and why they wait. */
  llm_budget?: JobBudgetStatus;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toLegacyStatus(row: JobRow, progress: JobProgress | undefined, progressSource: 'live' | 'snapshot'): LegacyJobStatus {
  return {
    job_id: row.id,
    job_type: row.type,
    status: progress?.status ?? row.status,
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
    source: row.source,
  };
}
