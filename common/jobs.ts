// Job types, states and inputs shared by the client (which validates and starts jobs) and the workflows
// (which run them). Pure types and constants only: this file is bundled into workflow code.

import type { AttributeDescriptor } from './rules';

export const TASK_QUEUE = 'synapse-jobs';

/** The legacy job-type names, kept verbatim so existing callers and stored jobs keep their meaning. */
export const JobType = {
  DataProfiling: 'data_profiling',
  DataProfilingLlmGeneration: 'data_profiling_llm_generation',
  DataProfilingRuleExecution: 'data_profiling_rule_execution',
} as const;
export type JobType = (typeof JobType)[keyof typeof JobType];

/** The legacy states plus `paused`. */
export type JobStatus = 'pending' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
export const FINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];


/** What a data-profiling workflow receives: everything resolved and validated by the client. */
export interface ProfilingJobInput {
  jobId: string;
  jobType: JobType;
  owner: string;
  dataSourceId: string;
  attributes: AttributeDescriptor[];
  /** How many attributes may be with the LLM at once. */
  llmConcurrency: number;
  /** How many attributes one rule-execution activity evaluates in its single table scan. */
  ruleBatchSize: number;
  /** For a rule-execution-only job: the generation job whose rules to run. */
  rulesFromJobId?: string;
  /** 1 (highest) to 5 (lowest); Temporal's priority key for the job's tasks. */
  priority: number;
  metadata: Record<string, unknown>;
}

export const PRIORITY_BY_NAME = { high: 1, normal: 3, low: 5 } as const;

export interface ProfilingJobResult {
  attributesTotal: number;
  attributesProfiled: number;
  attributesFailed: number;
  rulesGenerated: number;
  rulesExecuted: number;
  rowsChecked: number;
  overallPassRate: number | null;
  failedAttributes: { attribute: string; reason: string }[];
}
