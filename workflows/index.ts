// Every workflow the worker runs; this module is the worker's workflowsPath.

export { dataProfiling, dataProfilingLlmGeneration, dataProfilingRuleExecution } from './profiling';
export { llmAttributeGeneration, pdeAutoMapping, pdeRegeneration } from './planning';
export { generateScopingRecommendations, scopingRecommendations } from './scoping';
export { intelligentSampling } from './sampling';
export { testExecution } from './test-execution';
