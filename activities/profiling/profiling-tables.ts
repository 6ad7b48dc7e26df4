// What data profiling stores: each attribute's outcome, the rules generated for it, and each rule's result over the
// data.
// Composed with the other families' tables into the one `Database` in db/database.ts.

import type { Generated } from 'kysely';
import type { ValidationRule } from '../../common/rules';
import type { Json } from '../../db/column-types';

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
  rule: Json<ValidationRule>;
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

export interface ProfilingTables {
  attribute_results: AttributeResultsTable;
  profiling_rules: ProfilingRulesTable;
  rule_results: RuleResultsTable;
}
