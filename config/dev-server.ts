// The Temporal dev server settings every local server we start shares (temporal-dev.sh keeps the same
// list): the priority-aware matcher with fairness, and one partition per task queue so priority is ordered;
// and long polls that expire after 10 s instead of a minute. A worker cut off by the network (no reset, as
// in test/faults/network-partition) leaves its polls open on the server, and every task matched to one of
// them is lost until the poll expires: with a minute, the cut worker's polls swallowed two retries of the
// same activity (stored 45 s after the cut, attempt 4); with 10 s, the first retry goes to a live worker
// (13 s, attempt 2). A shorter poll only costs idle workers one empty poll per 10 s.

export const DEV_SERVER_DYNAMIC_CONFIG = [
  'matching.useNewMatcher=true',
  'matching.enableFairness=true',
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
  'matching.longPollExpirationInterval="10s"',
];

/** The dynamic config as `temporal server start-dev` arguments. */
export const devServerDynamicConfigArgs = (): string[] =>
  DEV_SERVER_DYNAMIC_CONFIG.flatMap((value) => ['--dynamic-config-value', value]);
