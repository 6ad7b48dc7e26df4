// Every job family the client can start, and the workflow that runs each job type. README's job-type
// table mirrors this registry.

import type { JobType } from '../../common/jobs';
import type { JobDefinition } from './definition';
import { planningJobs } from './planning';
import { profilingJobs } from './profiling';
import { samplingJobs } from './sampling';
import { scopingJobs } from './scoping';
import { testExecutionJobs } from './test-execution';

export type { JobDefinition, JobLimits, PreparedJob } from './definition';

const FAMILIES: JobDefinition[] = [profilingJobs, planningJobs, scopingJobs, samplingJobs, testExecutionJobs];

export function definitionOf(jobType: JobType): { definition: JobDefinition; workflowType: string } | undefined {
  for (const definition of FAMILIES) {
    const workflowType = definition.workflowTypes[jobType];
    if (workflowType) return { definition, workflowType };
  }
  return undefined;
}
