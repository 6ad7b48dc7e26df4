// Which workflow runs each legacy job type. README's job-type table mirrors this map.

import { JobType } from '../common/jobs';

export const WORKFLOW_TYPE_BY_JOB_TYPE: Record<JobType, string> = {
  [JobType.DataProfiling]: 'dataProfiling',
  [JobType.DataProfilingLlmGeneration]: 'dataProfilingLlmGeneration',
  [JobType.DataProfilingRuleExecution]: 'dataProfilingRuleExecution',
};
