// The progress every job reports: through the `progress` query while a worker runs, and as the last
// snapshot stored in the jobs table, which the status API falls back to when no worker is up.

import type { JobStatus } from './jobs';

export interface JobProgress {
  jobId: string;
  jobType: string;
  status: JobStatus;
  progressPercentage: number;
  completedSteps: number;
  totalSteps: number;
  failedSteps: number;
  /** Units of work currently with an activity. */
  inFlight: number;
  /** Null only for a legacy job whose record had none. */
  currentStep: string | null;
  message: string | null;
  startedAt: string | null;
  updatedAt: string;
  /** Seconds left at the rate observed so far; null until there is a rate to go by. */
  etaSeconds: number | null;
  /** 1 (highest) to 5 (lowest). */
  priority: number;
  /**
   * Grows by one with every change of the job's progress, over the job's whole life (carried across
   * continue-as-new): of two answers about one job, the one with the higher revision is the newer. Absent from
   * answers and snapshots of workers that predate it, and from legacy jobs.
   */
  revision?: number;
}
