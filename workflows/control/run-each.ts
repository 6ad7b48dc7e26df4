// Bounded fan-out for workflows: a sliding window of at most `concurrency` units in flight, in cancellation scopes of
// their own (one a unit, or in the lean loop one for all started since the last pause-now) so that pause-now can stop
// the units in flight and queue them again.

import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation } from '@temporalio/workflow';
import { FailureType } from '../../common/failures';

/** A unit's result: succeeded or failed as a whole, or how many of its steps failed. */
export type UnitOutcome = boolean | { failed: number };

export interface EachOptions<T> {
  concurrency: number;
  /** How an item is named in progress messages and logs. */
  label: (item: T) => string;
  /** How many progress steps an item stands for (a batch of attributes counts as each of them). */
  weight?: (item: T) => number;
  /**
   * Does the work; resolves true when it succeeded, false when the item failed and was recorded so, or, for an item
   * standing for several steps (`weight`), how many of them failed.
   */
  work: (item: T) => Promise<UnitOutcome>;
  /** Resolves when a new unit may start (e.g. the job is not paused). */
  gate: () => Promise<void>;
  onStart: (label: string) => void;
  /** `outcome` is undefined when the unit was interrupted (pause-now, or a call deferred) and went back to the queue. */
  onDone: (weight: number, outcome: UnitOutcome | undefined) => void;
  /** Registers a callback for pause-now; returns the function that unregisters it. */
  onPauseNow: (interrupt: () => void) => () => void;
  /** When true, no further unit starts: the run drains what is in flight and returns what is left. */
  shouldYield?: () => boolean;
  /**
   * The lean loop: the units started since the last pause-now share one cancellation scope (a pause-now cancels every
   * unit in flight, so one scope serves them all, and a fresh one the units after it), the gate is passed once per
   * wake-up and every free place filled then, and a unit's end is one handler instead of two. Its order of commands
   * differs from the loop before it, so a workflow decides it once per run behind a patch (workflows/control/control.ts).
   */
  lean?: boolean;
  /**
   * With `lean`: the loop waits for a unit's end on one promise that the unit's handler resolves, not on a race of
   * every unit in flight (a race adds a promise for each, and the workflow sandbox captures a stack trace for every
   * promise), and the units of one wake-up start inside one run of their shared scope instead of one run each. The
   * same units start in the same activations; decided with the job's other run-start decisions (control.ts).
   */
  wakeOnEnd?: boolean;
}

/** Resolves with the items left undone because `shouldYield` said stop (empty when every item ran). */
export async function runEach<T>(items: readonly T[], options: EachOptions<T>): Promise<T[]> {
  const queue = [...items];
  const running = new Set<Promise<void>>();
  let firstError: unknown;

  // Lean: the scope of the units started since the last pause-now, made with the first of them; one pause-now listener.
  let shared: CancellationScope | undefined;
  const unregisterShared = options.lean
    ? options.onPauseNow(() => {
        shared?.cancel();
        shared = undefined;
      })
    : undefined;

  /** Whether `error` ended a unit that pause-now interrupted, or whose LLM call was deferred: it runs again. */
  const interrupted = (error: unknown, scope: CancellationScope) =>
    isDeferred(error) ||
    (isCancellation(error) && scope.consideredCancelled && !CancellationScope.current().consideredCancelled);

  // wakeOnEnd: what the loop waits on when it waits for a unit's end; a unit's end calls it.
  let wake: (() => void) | undefined;
  const unitEnded = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

  /** Follows a started unit's `work` to its end from the loop's own scope (`interrupted` reads the unit's scope). */
  const follow = (item: T, weight: number, scope: CancellationScope, work: Promise<UnitOutcome>) => {
    const unit: Promise<void> = work.then(
      (outcome) => {
        running.delete(unit);
        options.onDone(weight, outcome);
        unitEnded();
      },
      (error) => {
        running.delete(unit);
        if (interrupted(error, scope)) {
          queue.unshift(item);
          options.onDone(weight, undefined);
        } else {
          firstError ??= error;
        }
        unitEnded();
      },
    );
    running.add(unit);
  };

  /** Whether one more unit may start, with `starting` units started and not yet followed. */
  const mayStart = (starting = 0) =>
    firstError === undefined &&
    queue.length > 0 &&
    running.size + starting < options.concurrency &&
    !(options.shouldYield?.() ?? false);

  /** Lean: fills every free place; with wakeOnEnd inside one run of the shared scope, else one run a unit. */
  const fillLean = () => {
    const scope = (shared ??= new CancellationScope());
    const started: { item: T; weight: number; work: Promise<UnitOutcome> }[] = [];
    const startOne = (inScope: boolean) => {
      const item = queue.shift()!;
      const weight = options.weight?.(item) ?? 1;
      options.onStart(options.label(item));
      started.push({ item, weight, work: inScope ? options.work(item) : scope.run(() => options.work(item)) });
    };
    if (options.wakeOnEnd) {
      // The scope's run calls this at once: every unit below starts now, its work inside the scope.
      void scope.run(() => {
        while (mayStart(started.length)) startOne(true);
        return Promise.resolve();
      });
    } else {
      while (mayStart(started.length)) startOne(false);
    }
    for (const { item, weight, work } of started) follow(item, weight, scope, work);
  };

  const start = (item: T) => {
    const weight = options.weight?.(item) ?? 1;
    const scope = new CancellationScope();
    const unregister = options.onPauseNow(() => scope.cancel());
    options.onStart(options.label(item));
    const unit: Promise<void> = scope
      .run(() => options.work(item))
      .then(
        (outcome) => options.onDone(weight, outcome),
        (error) => {
          // Our own scope was cancelled but the job was not: pause-now interrupted this unit. Or its LLM call,
          // scheduled ahead, found the job paused and was never sent. Either way it runs again.
          if (interrupted(error, scope)) {
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
        await options.gate();
        // The gate may have waited through a pause-now, which can have put units back in the queue.
        if (!options.lean) {
          if (firstError === undefined && queue.length > 0 && running.size < options.concurrency) start(queue.shift()!);
          continue;
        }
        // Lean: every place free is filled at once, one wait at the gate per wake-up instead of one a unit. Units still
        // start only once the gate's wait is over, after the activation's handlers (signals, updates, other units' ends)
        // have run: a unit ended by pause-now is back in the queue, and a pause stops the fill.
        fillLean();
        continue;
      }
      if (options.lean && options.wakeOnEnd) await new Promise<void>((resolve) => (wake = resolve));
      else await Promise.race(running);
    }
  } catch (error) {
    // The gate throws when the job is cancelled while it waits.
    firstError ??= error;
  }
  // Never leave units behind: on cancellation they are stopping (their activities confirm it), on a
  // failure they finish. Either way the job's final state must come after them. Units never reject.
  await Promise.all(running);
  unregisterShared?.();
  // Rethrown as it came: a unit's own failure (or the gate's cancellation), which the caller's catch knows how to read.
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- it is whatever a unit or the gate threw
  if (firstError !== undefined) throw firstError;
  return queue;
}

/**
 * An LLM activity scheduled ahead of its job's calls that found the job paused before it could send its call
 * (activities/llm/job-gate.ts): nothing was sent or stored, and the item goes back to the queue.
 */
export function isDeferred(error: unknown): boolean {
  return (
    error instanceof ActivityFailure &&
    error.cause instanceof ApplicationFailure &&
    error.cause.type === FailureType.LlmCallDeferred
  );
}

/** True when a unit's failure is no failure of its item: the job was cancelled or paused under it. */
export function isInterruption(error: unknown): boolean {
  return isCancellation(error) || isDeferred(error);
}
