// Every job family the client can start, and the workflow that runs each job type. README's job-type
// table mirrors this registry.

import type { JobType } from '../common/jobs';
import type { JobDefinition } from './job-definition';
import { planningJobs } from './planning/planning-definition';
import { profilingJobs } from './profiling/profiling-definition';
import { samplingJobs } from './sampling/sampling-definition';
import { scopingJobs } from './scoping/scoping-definition';
import { testExecutionJobs } from './test-execution/test-execution-definition';

export type { JobDefinition, JobLimits, PreparedJob } from './job-definition';

const FAMILIES: JobDefinition[] = [profilingJobs, planningJobs, scopingJobs, samplingJobs, testExecutionJobs];

export function definitionOf(jobType: JobType): { definition: JobDefinition; workflowType: string } | undefined {
  for (const definition of FAMILIES) {
    const workflowType = definition.workflowTypes[jobType];
    if (workflowType) return { definition, workflowType };
  }
  return undefined;
}
