// Checks of the control contract that every job family's suite makes the same way, each acting on an observable
// state (units held: LLM calls at a stand-in gate, scans waiting on a lock) and asserting order and counts from
// the job's Temporal history, so no check depends on how fast anything runs.

import type { Principal } from '../../client/jobs-client';
import type { StandinGate } from '../../llm-standin/server';
import type { Harness } from './harness';
import { activityCounts, describeFacts, factsAfter, isControl, jobHistory, type HistoryFact } from './job-history';
import { waitFor } from './waiting';

/** Where a test holds a job's units of work, so that it acts while they are in flight (LLM calls or SQL scans). */
export interface Hold {
  /** Resolves once `count` units of the job are held at once. */
  waitUntilHeld(jobId: string, count: number): Promise<void>;
  /** Lets the units held now go on. */
  release(): Promise<void>;
  /**
   * Resolves once `count` held units were interrupted while held (their client went away, their statement was
   * cancelled).
   */
  waitUntilInterrupted(jobId: string, count: number): Promise<void>;
  /** Holds nothing more: the job may run to its end. */
  open(): Promise<void>;
}

/** A stand-in gate as a Hold: held calls count as held units, aborted calls as interrupted ones. */
export function heldAtGate(gate: StandinGate): Hold {
  return {
    waitUntilHeld: (_jobId, count) => gate.waitUntilHeld(count, 30_000),
    release: async () => gate.release(),
    waitUntilInterrupted: async (_jobId, count) => {
      await waitFor(
        async () => ({ aborted: gate.aborted(), held: gate.held() }),
        (g) => g.aborted >= count && g.held === 0,
        30_000,
        `${count} held LLM calls aborted`,
      );
      expect(gate.aborted()).toBe(count);
    },
    open: async () => gate.open(),
  };
}

/** Sends the control request (by default through the jobs client; a test of the HTTP API or CLI sends its own). */
type Send = () => Promise<unknown>;

/** The facts after the job's first pause (signal or update), up to (not including) the next resume. */
export function whilePaused(facts: HistoryFact[]): HistoryFact[] {
  const after = factsAfter(facts, isControl('pause'));
  const resumed = after.findIndex(isControl('resume'));
  return resumed < 0 ? after : after.slice(0, resumed);
}

const scheduledIn = (facts: HistoryFact[]) => facts.filter((f) => f.kind === 'scheduled');

/**
 * Pauses a job while `count` of its units are held (so it is mid-work), then lets them go. Checks that they
 * finish while the job stays paused and, from the history, that nothing at all was scheduled after the pause
 * reached the workflow (signal or update). Returns the history at that point.
 */
export async function pauseWhileHeld(
  harness: Harness,
  principal: Principal,
  jobId: string,
  hold: Hold,
  count: number,
  activity: string,
  send: Send = () => harness.jobs.pause(principal, jobId),
): Promise<HistoryFact[]> {
  await hold.waitUntilHeld(jobId, count);
  await send();
  await waitFor(
    () => harness.jobs.status(principal, jobId),
    (s) => s.status === 'paused',
    30_000,
    `job ${jobId} paused`,
  );
  await hold.release();
  await waitFor(
    () => harness.jobs.status(principal, jobId),
    (s) => s.in_flight === 0,
    30_000,
    `the ${count} held units of ${jobId} finished while paused`,
  );
  const facts = await waitFor(
    () => jobHistory(harness.temporal, jobId),
    (f) => (activityCounts(whilePaused(f), activity).completed ?? 0) >= count,
    30_000,
    `${count} ${activity} completed after the pause`,
  );
  const paused = whilePaused(facts);
  expect({
    scheduledAfterPause: scheduledIn(paused).map((f) => f.activity),
    [activity]: activityCounts(paused, activity),
  }).toEqual({ scheduledAfterPause: [], [activity]: { completed: count } });
  expect((await harness.jobs.status(principal, jobId)).status).toBe('paused');
  return facts;
}

/**
 * Pauses a job now while `count` of its units are held: those units are interrupted (cancel requested and
 * acknowledged in the history, and gone where they were held), nothing is scheduled after the pause (signal or
 * update), and the job is paused with nothing in flight. Returns the history at that point.
 */
export async function pauseNowWhileHeld(
  harness: Harness,
  principal: Principal,
  jobId: string,
  hold: Hold,
  count: number,
  activity: string,
  send: Send = () => harness.jobs.pause(principal, jobId, { now: true }),
): Promise<HistoryFact[]> {
  await hold.waitUntilHeld(jobId, count);
  await send();
  await waitFor(
    () => harness.jobs.status(principal, jobId),
    (s) => s.status === 'paused' && s.in_flight === 0,
    30_000,
    `job ${jobId} paused with nothing in flight`,
  );
  await hold.waitUntilInterrupted(jobId, count);
  const facts = await waitFor(
    () => jobHistory(harness.temporal, jobId),
    (f) => (activityCounts(whilePaused(f), activity).canceled ?? 0) >= count,
    30_000,
    `${count} ${activity} cancelled after the pause`,
  );
  const paused = whilePaused(facts);
  expect({
    scheduledAfterPause: scheduledIn(paused).map((f) => f.activity),
    [activity]: activityCounts(paused, activity),
  }).toEqual({
    scheduledAfterPause: [],
    [activity]: { 'activity-cancel-requested': count, canceled: count },
  });
  return facts;
}

/**
 * Cancels a job while `count` of its units are held: the job ends cancelled, the held units are interrupted,
 * and the history shows each of them cancelled (acknowledged by the activity, not timed out) within
 * `heartbeatTimeoutMs` of its cancel request on the server's clock — cancellation reaches an activity in the
 * answer to a heartbeat — and nothing scheduled after the cancel request. Returns the history.
 */
export async function cancelWhileHeld(
  harness: Harness,
  principal: Principal,
  jobId: string,
  hold: Hold,
  count: number,
  activity: string,
  heartbeatTimeoutMs: number,
  send: Send = () => harness.jobs.cancel(principal, jobId),
): Promise<HistoryFact[]> {
  await hold.waitUntilHeld(jobId, count);
  await send();
  const job = await waitFor(
    () => harness.jobs.job(jobId),
    (j) => j?.status === 'cancelled',
    30_000,
    `job ${jobId} cancelled`,
  );
  expect(job).toMatchObject({ status: 'cancelled', error: 'Cancelled by request' });
  await hold.waitUntilInterrupted(jobId, count);
  const facts = await jobHistory(harness.temporal, jobId);
  const cancelled = factsAfter(facts, (f) => f.kind === 'cancel-requested');
  expect({
    scheduledAfterCancel: scheduledIn(cancelled).map((f) => f.activity),
    [activity]: activityCounts(cancelled, activity),
  }).toEqual({
    scheduledAfterCancel: [],
    [activity]: { 'activity-cancel-requested': count, canceled: count },
  });
  for (const ended of cancelled.filter((f) => f.kind === 'canceled')) {
    const requested = cancelled.find(
      (f) =>
        f.kind === 'activity-cancel-requested' && f.run === ended.run && f.scheduledEventId === ended.scheduledEventId,
    );
    if (!requested) throw new Error(`no cancel request for ${describeFacts([ended])}`);
    expect(ended.at - requested.at).toBeLessThanOrEqual(heartbeatTimeoutMs);
  }
  return facts;
}
