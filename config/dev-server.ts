// The Temporal dev server settings every local server we start shares (temporal-dev.sh keeps the same
// list): the priority-aware matcher with fairness, and one partition per task queue so priority is ordered.

export const DEV_SERVER_DYNAMIC_CONFIG = ['matching.useNewMatcher=true', 'matching.enableFairness=true', 'matching.numTaskqueueReadPartitions=1', 'matching.numTaskqueueWritePartitions=1'];

/** The dynamic config as `temporal server start-dev` arguments. */
export const devServerDynamicConfigArgs = (): string[] => DEV_SERVER_DYNAMIC_CONFIG.flatMap((value) => ['--dynamic-config-value', value]);
