// Every workflow the worker runs; this module is the worker's workflowsPath.

export { dataProfiling, dataProfilingLlmGeneration, dataProfilingRuleExecution } from './profiling/profiling';
export { llmAttributeGeneration, pdeAutoMapping, pdeRegeneration } from './planning/planning';
export { generateScopingRecommendations, scopingRecommendations } from './scoping/scoping';
export { intelligentSampling } from './sampling/sampling';
export { testExecution } from './test-execution/test-execution';
