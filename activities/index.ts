// All activities, created from injected dependencies (database, LLM client, settings) so that the worker
// and the tests hand in real but separately configured ones. Workflows import this module as types only.

import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { createAdmissionActivities, type AdmissionSettings } from './jobs/job-admission';
import { createCallbackActivities, type CallbackDeliverySettings } from './jobs/job-callback';
import { createJobActivities } from './jobs/jobs';
import type { LlmDeps } from './llm/llm';
import { createPlanningActivities } from './planning/planning';
import { createProfilingActivities } from './profiling/profiling';
import { createSamplingScanActivities } from './sampling/sampling';
import { createSamplingCoverageActivities } from './sampling/sampling-coverage';
import { createSamplingPlanActivities } from './sampling/sampling-plan';
import { createScopingActivities } from './scoping/scoping';
import { createTestExecutionActivities } from './test-execution/test-execution';
import { createTestExecutionSummaryActivities } from './test-execution/test-execution-summary';

export interface ActivityDeps {
  db: Kysely<Database>;
  llm: LlmDeps;
  ruleStatementTimeoutMs: number;
  /** Tables estimated larger than this are profiled from a sample of about this many rows. */
  profileSampleRows: number;
  /** Column-profile scans at once on this worker; the others wait their turn (activities/data-sources/scan-queue.ts). */
  profileConcurrency: number;
  /** The limits and defaults a start request is admitted with (the worker's configuration). */
  admission: AdmissionSettings;
  /** Where completion callbacks may go, their signing key and deadline (the worker's configuration). */
  callbacks: CallbackDeliverySettings;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createJobActivities(deps.db),
    ...createAdmissionActivities(deps.db, deps.admission),
    ...createCallbackActivities(deps.db, deps.callbacks),
    ...createProfilingActivities(deps),
    ...createPlanningActivities(deps),
    ...createScopingActivities(deps),
    ...createSamplingScanActivities(deps.db),
    ...createSamplingPlanActivities(deps.db),
    ...createSamplingCoverageActivities(deps.db, deps.ruleStatementTimeoutMs),
    ...createTestExecutionActivities(deps.db, deps.ruleStatementTimeoutMs),
    ...createTestExecutionSummaryActivities(deps.db),
  };
}

// Each family's activities: what its workflows' proxies are typed by, so a workflow reaches only its own
// family's activities (and the control kernel only the job row's).
export type JobActivities = ReturnType<typeof createJobActivities> &
  ReturnType<typeof createAdmissionActivities> &
  ReturnType<typeof createCallbackActivities>;
export type ProfilingActivities = ReturnType<typeof createProfilingActivities>;
export type PlanningActivities = ReturnType<typeof createPlanningActivities>;
export type ScopingActivities = ReturnType<typeof createScopingActivities>;
export type SamplingActivities = ReturnType<typeof createSamplingScanActivities> &
  ReturnType<typeof createSamplingPlanActivities> &
  ReturnType<typeof createSamplingCoverageActivities>;
export type TestExecutionActivities = ReturnType<typeof createTestExecutionActivities> &
  ReturnType<typeof createTestExecutionSummaryActivities>;
