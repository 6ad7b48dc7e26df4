// The one typed view of the database that kysely checks every query against, composed from each family's
// tables (declared beside the family). Migrations under db/migrations create exactly these tables; keep the two in
// step.

import type { JobTables } from '../activities/jobs/jobs-tables';
import type { DataSourceTables } from '../activities/data-sources/data-source-tables';
import type { LlmTables } from '../activities/llm/llm-tables';
import type { LlmBudgetTables } from '../activities/llm/budget/llm-budget-tables';
import type { ProfilingTables } from '../activities/profiling/profiling-tables';
import type { PlanningTables } from '../activities/planning/planning-tables';
import type { ScopingTables } from '../activities/scoping/scoping-tables';
import type { SamplingTables } from '../activities/sampling/sampling-tables';
import type { TestExecutionTables } from '../activities/test-execution/test-execution-tables';

export interface Database
  extends
    JobTables,
    DataSourceTables,
    LlmTables,
    LlmBudgetTables,
    ProfilingTables,
    PlanningTables,
    ScopingTables,
    SamplingTables,
    TestExecutionTables {}
