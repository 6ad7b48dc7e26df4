// Checks of the control contract that every job family's suite makes the same way.

import type { Principal } from '../../client/jobs-client';
import type { Harness } from './harness';
import { sleep, waitFor } from './waiting';

/**
 * Once the job has done `afterSteps`, pauses it, waits until it is paused with nothing in flight, and
 * checks that no LLM call starts for a second while it stays paused.
 */
export async function pauseAndExpectNoNewLlmCalls(harness: Harness, principal: Principal, jobId: string, afterSteps = 2): Promise<void> {
  await waitFor(() => harness.jobs.status(principal, jobId), (s) => (s.completed_steps ?? 0) >= afterSteps);
  await harness.jobs.pause(principal, jobId);
  await waitFor(() => harness.jobs.status(principal, jobId), (s) => s.status === 'paused' && s.in_flight === 0);
  const callsWhenPaused = harness.standin.calls().length;
  await sleep(1_000);
  expect(harness.standin.calls().length).toBe(callsWhenPaused);
  expect((await harness.jobs.status(principal, jobId)).status).toBe('paused');
}
