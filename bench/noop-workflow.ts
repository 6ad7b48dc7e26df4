// A bench-only job whose items do nothing: the same JobControl contract (gate, progress, snapshots,
// continue-as-new) as every real job, so what it costs per item is the orchestration overhead alone.

import { continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { JobInputBase } from '../common/jobs';
import { JobControl } from '../workflows/control/control';

/** The control contract's fields under a job type of its own, which no client can start. */
export interface NoopJobInput extends Omit<JobInputBase, 'jobType'> {
  jobType: 'noop';
  items: number[];
  total: number;
  concurrency: number;
}

export interface NoopActivities {
  doNothing(item: number): Promise<void>;
}

export async function noopJob(input: NoopJobInput): Promise<Record<string, unknown>> {
  const control = new JobControl(input, input.total);
  return control.run(async () => {
    control.beginPhase('No-op items');
    const left = await control.forEach(input.items, {
      concurrency: input.concurrency,
      label: (item) => `item ${item}`,
      work: async (item) => {
        await proxyActivities<NoopActivities>(control.activityOptions({ startToCloseTimeout: '30 seconds' })).doNothing(
          item,
        );
        return true;
      },
    });
    if (left.length > 0)
      return continueAsNew<typeof noopJob>({ ...input, items: left, carried: await control.carryOver() });
    return { status: 'completed', error: null, result: { items: input.total } };
  });
}
