// What test execution stores: one result per test case (rule) and run, with the failing record ids.
// Composed with the other families' tables into the one `Database` in db/database.ts.

import type { ColumnType, Generated } from 'kysely';
import type { ValidationRule } from '../../common/rules';
import type { Json } from '../../db/column-types';

/** One test case of a test_execution job: its rule, outcome over the records under test, and the lowest failing ids. */
export interface TestCaseResultsTable {
  job_id: string;
  test_case_id: string;
  attribute: string;
  description: Generated<string>;
  rule: Json<ValidationRule>;
  status: 'pass' | 'fail' | 'error';
  checked_records: Generated<number>;
  failed_records: Generated<number>;
  failing_record_ids: ColumnType<number[], number[] | undefined, number[]>;
  error: string | null;
  attempts: number;
  executed_at: Generated<Date>;
  carried_over_from: string | null;
}

export interface TestExecutionTables {
  test_case_results: TestCaseResultsTable;
}
