// Job types, states and inputs shared by the client (which validates and starts jobs) and the workflows
// (which run them). Pure types and constants only: this file is bundled into workflow code.

import type { AttributeDescriptor } from './rules';

export const TASK_QUEUE = 'synapse-jobs';

/** The legacy job-type names, kept verbatim so existing callers and stored jobs keep their meaning. */
export const JobType = {
  DataProfiling: 'data_profiling',
  DataProfilingLlmGeneration: 'data_profiling_llm_generation',
  DataProfilingRuleExecution: 'data_profiling_rule_execution',
  LlmAttributeGeneration: 'llm_attribute_generation',
  PdeAutoMapping: 'pde_auto_mapping',
  PdeRegeneration: 'pde_regeneration',
  ScopingRecommendations: 'scoping_recommendations',
  GenerateScopingRecommendations: 'generate_scoping_recommendations',
  IntelligentSampling: 'intelligent_sampling',
  TestExecution: 'test_execution',
} as const;
export type JobType = (typeof JobType)[keyof typeof JobType];

/**
 * The workflow type that runs each job type: the name a Temporal client starts it by (`temporal workflow start
 * --type dataProfiling`, Python's `client.start_workflow("dataProfiling", …)`). client/job-workflows.ts checks
 * that each is the name of the workflow function it maps the job type to.
 */
export const WORKFLOW_TYPES = {
  [JobType.DataProfiling]: 'dataProfiling',
  [JobType.DataProfilingLlmGeneration]: 'dataProfilingLlmGeneration',
  [JobType.DataProfilingRuleExecution]: 'dataProfilingRuleExecution',
  [JobType.LlmAttributeGeneration]: 'llmAttributeGeneration',
  [JobType.PdeAutoMapping]: 'pdeAutoMapping',
  [JobType.PdeRegeneration]: 'pdeRegeneration',
  [JobType.ScopingRecommendations]: 'scopingRecommendations',
  [JobType.GenerateScopingRecommendations]: 'generateScopingRecommendations',
  [JobType.IntelligentSampling]: 'intelligentSampling',
  [JobType.TestExecution]: 'testExecution',
} as const satisfies Record<JobType, string>;

/** The job type a workflow type runs, or undefined for a workflow that is not a job (the bench's no-op job). */
export function jobTypeOfWorkflow(workflowType: string): JobType | undefined {
  return (Object.keys(WORKFLOW_TYPES) as JobType[]).find((jobType) => WORKFLOW_TYPES[jobType] === workflowType);
}

/**
 * A start request as a caller writes it, and what every job workflow takes as its one argument: the body of
 * `POST /api/v1/jobs` (camelCase; `owner` required; the job id is the workflow id; `jobType` may be left out
 * when starting by workflow type). The workflow's admission activity validates and resolves it; its published
 * contract is schemas/<job type>.schema.json.
 */
export interface JobStartRequest {
  jobType?: JobType;
  owner: string;
  [field: string]: unknown;
}

/**
 * A job workflow's argument: a start request; or, on a continued run (and in histories from before requests
 * were admitted by the workflow), the input it resolved into.
 */
export type JobStart<I extends JobInputBase> = JobStartRequest | I;

/** The legacy states plus `paused`. */
export type JobStatus = 'pending' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
export const FINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];
export const ACTIVE_STATUSES: readonly JobStatus[] = ['pending', 'running', 'paused'];

/** The statuses each control action applies to, for one job or in bulk; in any other a job refuses it. */
export const CONTROLLABLE_FROM: Record<'pause' | 'resume' | 'cancel', readonly JobStatus[]> = {
  pause: ['pending', 'running'],
  resume: ['paused'],
  cancel: ACTIVE_STATUSES,
};

/**
 * What every job's workflow receives, whatever its type: identity, ownership, priority and the knobs of
 * the control contract. Each family's input extends it with its own, already validated, parameters.
 */
export interface JobInputBase {
  jobId: string;
  jobType: JobType;
  owner: string;
  /** 1 (highest) to 5 (lowest); Temporal's priority key for the job's tasks. */
  priority: number;
  metadata: Record<string, unknown>;
  /** Reuse stored LLM answers for identical prompts (model + messages); off re-asks and refreshes them. */
  useLlmCache: boolean;
  /**
   * History events one run may grow to before the job continues as new (the server also suggests it at
   * about 4 096 events or 4 MB); keeps every history far from Temporal's 10 240-event warning.
   */
  historyEventBudget: number;
  /**
   * Where the job's outcome is POSTed once it ends (activities/jobs/job-callback.ts), checked against the allow-list
   * at start; absent when the request named none.
   */
  callbackUrl?: string;
  /** Present on a continued run: the control state (progress, pause, priority) carried across. */
  carried?: CarriedControl;
}

/** The control state a job carries across continue-as-new, so progress, pause and priority stay continuous. */
export interface CarriedControl {
  completed: number;
  failed: number;
  paused: boolean;
  priority: number;
  startedAt: number;
  activeMs: number;
  currentStep: string;
  runs: number;
  /** JobProgress.revision when the run before ended; absent when that run predates the revision. */
  revision?: number;
}

/** What a data-profiling workflow receives: everything resolved and validated by the client. */
export interface ProfilingJobInput extends JobInputBase {
  dataSourceId: string;
  attributes: AttributeDescriptor[];
  /** How many attributes may be with the LLM at once. */
  llmConcurrency: number;
  /** How many attributes one rule-execution activity evaluates in its single table scan. */
  ruleBatchSize: number;
  /** For a rule-execution-only job: the generation job whose rules to run. */
  rulesFromJobId?: string;
  /** On a continued run: the phase it was in, the attributes still to do there, and those failed so far. */
  resumeAt?: { phase: 'generate_rules' | 'execute_rules'; remaining: string[]; failed: string[] };
}

export const PRIORITY_BY_NAME = { high: 1, normal: 3, low: 5 } as const;

/**
 * A job's result as its row keeps it: what its workflow returned (ProfilingJobResult, TestExecutionSummary, the
 * planning, scoping and sampling summaries) or an imported legacy job's. A JSON object; a reader that knows the
 * job's type knows which.
 */
export type JobResult = object;

export interface ProfilingJobResult {
  attributesTotal: number;
  /** Attributes with rules generated (when the job generates) and every one of their rules run (when it executes). */
  attributesProfiled: number;
  attributesFailed: number;
  rulesGenerated: number;
  /** Rules the job had to run: executed or not (0 for a generation-only job). */
  rulesTotal: number;
  /** Rules that ran; `overallPassRate` and `rowsChecked` are over these only. */
  rulesExecuted: number;
  /**
   * Rules that could not run, with the database's reason and SQLSTATE (null when the whole batch failed without one).
   */
  rulesNotRun: { attribute: string; ruleIndex: number; reason: string; sqlstate: string | null }[];
  rowsChecked: number;
  overallPassRate: number | null;
  /** What `overallPassRate` is over, in words: "12 of 14 rules (2 could not run)". */
  passRateScope: string;
  /** Every attribute that did not get its full result, with the reason: its rules not generated, or not all run. */
  failedAttributes: { attribute: string; reason: string }[];
}
