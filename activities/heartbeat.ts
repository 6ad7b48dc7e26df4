// Heartbeats around one long piece of work (a table scan, a column profile) that cannot heartbeat itself:
// without them Temporal would take the silence for a dead worker once the heartbeat timeout passed.

import { Context } from '@temporalio/activity';

/** Runs `work`, heartbeating `details` every `everyMs` until it settles. */
export async function whileHeartbeating<T>(work: () => Promise<T>, details: unknown, everyMs: number): Promise<T> {
  const context = Context.current();
  const heartbeat = setInterval(() => context.heartbeat(details), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(heartbeat);
  }
}
