// Bench-only workflows whose items do nothing: a job with the same JobControl contract (gate, progress, snapshots,
// continue-as-new) as every real job, and a bare Temporal sliding window of the same activities with no job control,
// so the two side by side on one server and worker show what the contract costs per item.

import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
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

export interface BareWindowInput {
  items: number[];
  concurrency: number;
  /** Continues as new past this many events, as the job does (its historyEventBudget), so both pay the same. */
  historyEventBudget: number;
}

/**
 * The baseline: the plainest correct Temporal fan-out. At most `concurrency` activities in flight, the next one
 * scheduled as one completes, continue-as-new when the history is full; no pause gate, progress or snapshots.
 */
export async function bareWindow(input: BareWindowInput): Promise<number> {
  const { doNothing } = proxyActivities<NoopActivities>({ startToCloseTimeout: '30 seconds' });
  const queue = [...input.items];
  const running = new Set<Promise<void>>();
  const full = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= input.historyEventBudget;
  while (queue.length > 0 || running.size > 0) {
    while (running.size < input.concurrency && queue.length > 0 && !full()) {
      const unit: Promise<void> = doNothing(queue.shift()!).then(() => {
        running.delete(unit);
      });
      running.add(unit);
    }
    if (running.size === 0) break;
    await Promise.race(running);
  }
  if (queue.length > 0) await continueAsNew<typeof bareWindow>({ ...input, items: queue });
  return input.items.length;
}
