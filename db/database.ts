// The one typed view of the database that kysely checks every query against. Migrations under
// db/migrations create exactly these tables; keep the two in step.

import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T extends object = Record<string, unknown>> = JSONColumnType<T, T | string, T | string>;

export interface JobsTable {
  id: string;
  type: string;
  owner: string;
  status: string;
  workflow_id: string;
  metadata: Json;
  progress: Json | null;
  result: Json | null;
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
  /** A control request sent to the workflow (`pause`, `resume`, `cancel`) and when; it is pending until the workflow's next write. */
  requested_action: string | null;
  requested_at: Timestamp | null;
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

export interface DataSourcesTable {
  id: string;
  table_name: string;
  description: string;
  /** The column that identifies a record (samples and test results name records by it). */
  record_id_column: Generated<string>;
}

export interface DataSourceAttributesTable {
  data_source_id: string;
  name: string;
  data_type: string;
  description: string;
  position: number;
}

export interface AttributeResultsTable {
  job_id: string;
  attribute: string;
  status: 'completed' | 'failed';
  rules_count: number;
  failure_reason: string | null;
  llm_attempts: number;
  prompt_tokens: number;
  completion_tokens: number;
  updated_at: Generated<Date>;
}

export interface ProfilingRulesTable {
  job_id: string;
  attribute: string;
  rule_index: number;
  rule: Json;
  description: string;
  severity: string;
}

export interface RuleResultsTable {
  job_id: string;
  rules_job_id: string;
  attribute: string;
  rule_index: number;
  checked_rows: number;
  failed_rows: number;
  /** Null when the rule could not run (see `error`). */
  pass_rate: number | null;
  error: string | null;
  /** The SQLSTATE of the database's refusal when the rule could not run (e.g. 42883), else null. */
  sqlstate: string | null;
  executed_at: Generated<Date>;
}

export interface LlmCallsTable {
  id: Generated<string>;
  /** Given by the activity before the call is sent (and sent as `x-synapse-call-id`): a retried write records it once. */
  call_id: string;
  job_id: string;
  item: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cached: boolean;
  duration_ms: number;
  at: Generated<Date>;
}

export interface LlmCacheTable {
  key: string;
  model: string;
  content: string;
  prompt_tokens: number;
  completion_tokens: number;
  hits: Generated<number>;
  created_at: Generated<Date>;
}

export interface SampleRecordsTable {
  job_id: string;
  row_id: number;
  stratum: string;
  /** `random`, or `edge:<what>` for records coverage optimisation added. */
  reason: string;
}

export interface PlanningDocumentsTable {
  id: Generated<number>;
  plan_id: string;
  name: string;
  content: string;
  created_at: Generated<Date>;
}

export interface PlanningChunksTable {
  document_id: number;
  chunk_index: number;
  start_offset: number;
  content: string;
}

export interface AttributeCandidatesTable {
  job_id: string;
  document_id: number;
  chunk_index: number;
  status: 'completed' | 'failed';
  candidates: Json<Record<string, unknown>[]>;
  failure_reason: string | null;
  updated_at: Generated<Date>;
}

export interface PlanDataElementsTable {
  pde_id: Generated<number>;
  plan_id: string;
  name: string;
  description: string;
  data_type: string;
  constraints: ColumnType<string[], string[] | undefined, string[]>;
  source_job_id: string | null;
  provenance: Json<Record<string, unknown>[]>;
  updated_at: Generated<Date>;
}

export interface PdeMappingsTable {
  plan_id: string;
  pde_id: number;
  job_id: string;
  data_source_id: string;
  column_names: string[];
  confidence: number;
  classification: 'CDE' | 'PII' | 'financial' | 'other';
  risk_rating: 'low' | 'medium' | 'high';
  rationale: string;
  /** A person's `accepted` is never overwritten by a mapping or regeneration job. */
  status: Generated<'suggested' | 'accepted' | 'rejected'>;
  updated_at: Generated<Date>;
}

export interface PdeMappingOutcomesTable {
  job_id: string;
  pde_id: number;
  outcome: 'mapped' | 'failed' | 'skipped_accepted';
  classification: string | null;
  failure_reason: string | null;
  updated_at: Generated<Date>;
}

export interface ScopingAssessmentsTable {
  job_id: string;
  attribute: string;
  status: 'completed' | 'failed';
  in_scope: boolean | null;
  risk: 'low' | 'medium' | 'high' | null;
  /** 0-100, activities/risk-score.ts; null for a failed assessment. */
  score: number | null;
  score_parts: Json | null;
  recommended_tests: Json<{ test: string; reason: string }[]>;
  rationale: string | null;
  profiling: Json | null;
  failure_reason: string | null;
  llm_attempts: Generated<number>;
  updated_at: Generated<Date>;
}

export interface ScopingSelectionTable {
  job_id: string;
  test_kind: string;
  cost: number;
  covers: string[];
  applies_to: string[];
  updated_at: Generated<Date>;
}

export interface Database {
  jobs: JobsTable;
  audit_log: AuditLogTable;
  data_sources: DataSourcesTable;
  data_source_attributes: DataSourceAttributesTable;
  attribute_results: AttributeResultsTable;
  profiling_rules: ProfilingRulesTable;
  rule_results: RuleResultsTable;
  llm_calls: LlmCallsTable;
  llm_cache: LlmCacheTable;
  sample_records: SampleRecordsTable;
  planning_documents: PlanningDocumentsTable;
  planning_chunks: PlanningChunksTable;
  attribute_candidates: AttributeCandidatesTable;
  plan_data_elements: PlanDataElementsTable;
  pde_mappings: PdeMappingsTable;
  pde_mapping_outcomes: PdeMappingOutcomesTable;
  scoping_assessments: ScopingAssessmentsTable;
  scoping_selection: ScopingSelectionTable;
  llm_budget_limits: LlmBudgetLimitsTable;
  llm_budget_calls: LlmBudgetCallsTable;
  llm_budget_rate_limits: LlmBudgetRateLimitsTable;
  sampling_plans: SamplingPlansTable;
  sampling_strata: SamplingStrataTable;
  sampling_unit_results: SamplingUnitResultsTable;
  sampling_scan_progress: SamplingScanProgressTable;
  test_case_results: TestCaseResultsTable;
}

/** Per model, the fleet-wide LLM budget's limits (changeable at run time) and the provider's pause. */
export interface LlmBudgetLimitsTable {
  model: string;
  rpm: number;
  tpm: number;
  window_ms: number;
  paused_until: Date | null;
  provider_rpm: number | null;
  provider_tpm: number | null;
  blocked_reason: string | null;
  updated_at: Generated<Date>;
  updated_by: string | null;
}

/** One LLM call waiting for budget, or granted and counted until a window after it settled. */
export interface LlmBudgetCallsTable {
  id: Generated<number>;
  model: string;
  job_id: string;
  owner: string;
  priority: number;
  tokens: number;
  state: 'waiting' | 'granted';
  worker: string;
  enqueued_at: Generated<Date>;
  seen_at: Generated<Date>;
  granted_at: Date | null;
  settled_at: Date | null;
}

/** The provider's recent 429s and exhausted-quota answers, and how long they paused the budget. */
export interface LlmBudgetRateLimitsTable {
  id: Generated<number>;
  model: string;
  at: Generated<Date>;
  status: number;
  pause_ms: number;
  reason: string;
  job_id: string;
  worker: string;
}

/** A sampling job's sample size: Cochran's inputs and outputs over the population it counted. */
export interface SamplingPlansTable {
  job_id: string;
  population: number;
  confidence_level: number;
  z: number;
  margin_of_error: number;
  expected_rate: number;
  n0: number;
  sample_size: number;
  allocation: string;
  seed: number;
  created_at: Generated<Date>;
}

/** A sampling job's strata: population, Neyman column moments, records allocated and selected. */
export interface SamplingStrataTable {
  job_id: string;
  stratum: string;
  population: number;
  value_count: Generated<number>;
  mean: number | null;
  stddev: number | null;
  allocated: number;
  selected: Generated<number>;
}

/** What one scan unit of a sampling pass produced (moments or bottom-k per stratum), written once it finished. */
export interface SamplingUnitResultsTable {
  job_id: string;
  pass: 'count' | 'select';
  unit_index: number;
  rows_scanned: number;
  state: Json;
  finished_at: Generated<Date>;
}

/** One attempt at scanning a unit: where it (re)started, from a heartbeat checkpoint or not, and how far it got. */
export interface SamplingScanProgressTable {
  id: Generated<number>;
  job_id: string;
  pass: 'count' | 'select';
  unit_index: number;
  attempt: number;
  unit_first_row_id: number;
  started_after_row_id: number;
  resumed: boolean;
  last_row_id: number | null;
  rows_scanned: Generated<number>;
  started_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** One test case of a test_execution job: its rule, outcome over the records under test, and the lowest failing ids. */
export interface TestCaseResultsTable {
  job_id: string;
  test_case_id: string;
  attribute: string;
  description: Generated<string>;
  rule: Json;
  status: 'pass' | 'fail' | 'error';
  checked_records: Generated<number>;
  failed_records: Generated<number>;
  failing_record_ids: ColumnType<number[], number[] | undefined, number[]>;
  error: string | null;
  attempts: number;
  executed_at: Generated<Date>;
  carried_over_from: string | null;
}
