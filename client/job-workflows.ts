// The workflow function that runs each job type, for starting it by reference. Its function name is the workflow
// type Temporal records (common/jobs.ts's WORKFLOW_TYPES, which any other Temporal client starts it by; a test
// checks the two agree). Every job workflow takes the start request as its one argument.

import { JobType, type JobResult, type JobStartRequest } from '../common/jobs';
import * as workflows from '../workflows';

export type JobWorkflow = (request: JobStartRequest) => Promise<JobResult>;

const WORKFLOWS: { [T in JobType]: JobWorkflow } = {
  [JobType.DataProfiling]: workflows.dataProfiling,
  [JobType.DataProfilingLlmGeneration]: workflows.dataProfilingLlmGeneration,
  [JobType.DataProfilingRuleExecution]: workflows.dataProfilingRuleExecution,
  [JobType.LlmAttributeGeneration]: workflows.llmAttributeGeneration,
  [JobType.PdeAutoMapping]: workflows.pdeAutoMapping,
  [JobType.PdeRegeneration]: workflows.pdeRegeneration,
  [JobType.ScopingRecommendations]: workflows.scopingRecommendations,
  [JobType.GenerateScopingRecommendations]: workflows.generateScopingRecommendations,
  [JobType.IntelligentSampling]: workflows.intelligentSampling,
  [JobType.TestExecution]: workflows.testExecution,
};

export function workflowOf(jobType: JobType): JobWorkflow {
  return WORKFLOWS[jobType];
}
