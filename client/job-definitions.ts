// Every job family the client can start, by job type, and the start request each one takes. The job-type table
// in docs/job-types.md mirrors this registry; each family's definition names the workflow function of each type.

import { JobType } from '../common/jobs';
import type { JobDefinition } from './job-definition';
import { planningJobs, type PlanningStartRequest } from './planning/planning-definition';
import { profilingJobs, type ProfilingStartRequest } from './profiling/profiling-definition';
import { samplingJobs, type SamplingStartRequest } from './sampling/sampling-definition';
import { scopingJobs, type ScopingStartRequest } from './scoping/scoping-definition';
import { testExecutionJobs, type TestExecutionStartRequest } from './test-execution/test-execution-definition';

/** A start request as callers write it: one member per job family, told apart by `jobType`. */
export type StartJobRequest =
  ProfilingStartRequest | PlanningStartRequest | ScopingStartRequest | SamplingStartRequest | TestExecutionStartRequest;

/** Every job type's family; the compiler checks that each family's definition has a workflow for the type. */
const DEFINITIONS: { [T in JobType]: JobDefinition<T> } = {
  [JobType.DataProfiling]: profilingJobs,
  [JobType.DataProfilingLlmGeneration]: profilingJobs,
  [JobType.DataProfilingRuleExecution]: profilingJobs,
  [JobType.LlmAttributeGeneration]: planningJobs,
  [JobType.PdeAutoMapping]: planningJobs,
  [JobType.PdeRegeneration]: planningJobs,
  [JobType.ScopingRecommendations]: scopingJobs,
  [JobType.GenerateScopingRecommendations]: scopingJobs,
  [JobType.IntelligentSampling]: samplingJobs,
  [JobType.TestExecution]: testExecutionJobs,
};

export function definitionOf<T extends JobType>(jobType: T): JobDefinition<T> {
  return DEFINITIONS[jobType];
}
