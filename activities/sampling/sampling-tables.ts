// What intelligent sampling stores: the plan, its strata, each work unit's scan result and checkpoint, and the records
// chosen.
// Composed with the other families' tables into the one `Database` in db/database.ts.

import type { Generated } from 'kysely';
import type { Json } from '../../db/column-types';
import type { UnitState } from './sampling-state';

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
  state: Json<UnitState>;
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

export interface SampleRecordsTable {
  job_id: string;
  row_id: number;
  stratum: string;
  /** `random`, or `edge:<what>` for records coverage optimisation added. */
  reason: string;
}

export interface SamplingTables {
  sampling_plans: SamplingPlansTable;
  sampling_strata: SamplingStrataTable;
  sampling_unit_results: SamplingUnitResultsTable;
  sampling_scan_progress: SamplingScanProgressTable;
  sample_records: SampleRecordsTable;
}
