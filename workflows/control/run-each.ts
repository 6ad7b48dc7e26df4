// Bounded fan-out for workflows: a sliding window of at most `concurrency` units in flight, in a cancellation scope
// that pause-now cancels to stop the units in flight and queue them again.

import { CancellationScope, isCancellation } from '@temporalio/workflow';

export interface EachOptions<T> {
  concurrency: number;
  /** How an item is named in progress messages and logs. */
  label: (item: T) => string;
  /** How many progress steps an item stands for (a batch of attributes counts as each of them). */
  weight?: (item: T) => number;
  /** Does the work; resolves true when it succeeded, false when the item failed and was recorded so. */
  work: (item: T) => Promise<boolean>;
  /**
   * Undefined when a new unit may start at once, else a promise that resolves when one may (e.g. once the job is
   * resumed) or rejects (the job is cancelled). Undefined rather than a resolved promise because every promise made in
   * workflow code costs a stack trace (the SDK's promise hook, for its stack-trace query): bench:overhead.
   */
  gate: () => Promise<void> | undefined;
  onStart: (label: string) => void;
  /** `succeeded` is undefined when the unit was interrupted by pause-now and went back to the queue. */
  onDone: (weight: number, succeeded: boolean | undefined) => void;
  /** Registers a callback for pause-now; returns the function that unregisters it. Called once per scope of units. */
  onPauseNow: (interrupt: () => void) => () => void;
  /** When true, no further unit starts: the run drains what is in flight and returns what is left. */
  shouldYield?: () => boolean;
}

/** Resolves with the items left undone because `shouldYield` said stop (empty when every item ran). */
export async function runEach<T>(items: readonly T[], options: EachOptions<T>): Promise<T[]> {
  const queue = [...items];
  const running = new Set<Promise<void>>();
  let firstError: unknown;

  // One scope for the units started since the last pause-now, not one per unit: a scope is three promises (each with
  // its stack trace, see `gate`) and pause-now stops every unit in flight anyway. A cancelled scope is replaced by
  // the next unit to start, after the resume.
  let scope: CancellationScope | undefined;
  let unregister = () => {};
  const unitScope = (): CancellationScope => {
    if (scope === undefined || scope.consideredCancelled) {
      unregister();
      const fresh = new CancellationScope();
      unregister = options.onPauseNow(() => fresh.cancel());
      scope = fresh;
    }
    return scope;
  };

  const start = (item: T) => {
    const weight = options.weight?.(item) ?? 1;
    const unitsScope = unitScope();
    options.onStart(options.label(item));
    // One `then` for both outcomes rather than then + finally: fewer promises per unit (see `gate`).
    const unit: Promise<void> = unitsScope
      .run(() => options.work(item))
      .then(
        (succeeded) => {
          running.delete(unit);
          options.onDone(weight, succeeded);
        },
        (error) => {
          running.delete(unit);
          // Our own scope was cancelled but the job was not: pause-now interrupted this unit.
          if (
            isCancellation(error) &&
            unitsScope.consideredCancelled &&
            !CancellationScope.current().consideredCancelled
          ) {
            queue.unshift(item);
            options.onDone(weight, undefined);
          } else {
            firstError ??= error;
          }
        },
      );
    running.add(unit);
  };

  try {
    while ((queue.length > 0 || running.size > 0) && firstError === undefined) {
      const yielding = options.shouldYield?.() ?? false;
      if (yielding && running.size === 0) break;
      if (!yielding && queue.length > 0 && running.size < options.concurrency) {
        const closed = options.gate();
        if (closed !== undefined) await closed;
        // The gate may have waited through a pause-now, which can have put units back in the queue.
        if (firstError === undefined && queue.length > 0 && running.size < options.concurrency) start(queue.shift()!);
        continue;
      }
      await Promise.race(running);
    }
  } catch (error) {
    // The gate throws when the job is cancelled while it waits.
    firstError ??= error;
  }
  // Never leave units behind: on cancellation they are stopping (their activities confirm it), on a
  // failure they finish. Either way the job's final state must come after them. Units never reject.
  await Promise.all(running);
  unregister();
  // Rethrown as it came: a unit's own failure (or the gate's cancellation), which the caller's catch knows how to read.
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- it is whatever a unit or the gate threw
  if (firstError !== undefined) throw firstError;
  return queue;
}

/**
 * The fan-out as runs from before LEAN_UNITS (workflows/control/control.ts) ran it, kept for their replay: one scope,
 * one pause-now listener and a then + finally per unit, and an await of the gate before each. Its promises settle in
 * a different order from runEach's, which can change the order in which an activity and the snapshot's local
 * activity are scheduled, hence their ids.
 */
export async function runEachScopePerUnit<T>(items: readonly T[], options: EachOptions<T>): Promise<T[]> {
  const queue = [...items];
  const running = new Set<Promise<void>>();
  let firstError: unknown;

  const start = (item: T) => {
    const weight = options.weight?.(item) ?? 1;
    const scope = new CancellationScope();
    const unregister = options.onPauseNow(() => scope.cancel());
    options.onStart(options.label(item));
    const unit: Promise<void> = scope
      .run(() => options.work(item))
      .then(
        (succeeded) => options.onDone(weight, succeeded),
        (error) => {
          // Our own scope was cancelled but the job was not: pause-now interrupted this unit.
          if (isCancellation(error) && scope.consideredCancelled && !CancellationScope.current().consideredCancelled) {
            queue.unshift(item);
            options.onDone(weight, undefined);
          } else {
            firstError ??= error;
          }
        },
      )
      .finally(() => {
        unregister();
        running.delete(unit);
      });
    running.add(unit);
  };

  try {
    while ((queue.length > 0 || running.size > 0) && firstError === undefined) {
      const yielding = options.shouldYield?.() ?? false;
      if (yielding && running.size === 0) break;
      if (!yielding && queue.length > 0 && running.size < options.concurrency) {
        await options.gate(); // always a promise on this path (JobControl.forEach)
        // The gate may have waited through a pause-now, which can have put units back in the queue.
        if (firstError === undefined && queue.length > 0 && running.size < options.concurrency) start(queue.shift()!);
        continue;
      }
      await Promise.race(running);
    }
  } catch (error) {
    // The gate throws when the job is cancelled while it waits.
    firstError ??= error;
  }
  // Never leave units behind: on cancellation they are stopping (their activities confirm it), on a
  // failure they finish. Either way the job's final state must come after them. Units never reject.
  await Promise.all(running);
  // Rethrown as it came: a unit's own failure (or the gate's cancellation), which the caller's catch knows how to read.
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- it is whatever a unit or the gate threw
  if (firstError !== undefined) throw firstError;
  return queue;
}
