// What scoping stores: each attribute's risk assessment and the test set chosen for a job.
// Composed with the other families' tables into the one `Database` in db/database.ts.

import type { Generated } from 'kysely';
import type { Json } from '../../db/column-types';

export interface ScopingAssessmentsTable {
  job_id: string;
  attribute: string;
  status: 'completed' | 'failed';
  in_scope: boolean | null;
  risk: 'low' | 'medium' | 'high' | null;
  /** 0-100, activities/scoping/risk-score.ts; null for a failed assessment. */
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

export interface ScopingTables {
  scoping_assessments: ScopingAssessmentsTable;
  scoping_selection: ScopingSelectionTable;
}
