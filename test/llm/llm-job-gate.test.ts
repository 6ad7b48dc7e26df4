// The worker-side gate holding a job's LLM calls to its concurrency (activities/llm/job-gate.ts), on the real
// PostgreSQL: two gates stand for two worker processes sharing one job's slots. Never more calls hold slots than the
// job allows, a slot freed goes to a call waiting on the same worker without waiting for a poll, a paused job's waiting
// calls are deferred, an abandoned wait takes nothing with it, and a dead worker's slots come free with its lease.

import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { ApplicationFailure } from '@temporalio/common';
import { callDeferred, PostgresJobGate, type ReleaseSlot } from '../../activities/llm/job-gate';
import { loadConfig } from '../../config';
import { FailureType } from '../../common/failures';
import { openDatabase } from '../../db/connection';

const db = openDatabase(loadConfig(process.env).DATABASE_URL, 6);
const gates: PostgresJobGate[] = [];
const gate = (options: { pollMs?: number; leaseMs?: number } = {}) => {
  const made = new PostgresJobGate({
    db,
    leaseMs: options.leaseMs ?? 30_000,
    pollMs: options.pollMs ?? 50,
    heartbeatIntervalMs: 1_000,
  });
  gates.push(made);
  return made;
};
const jobIds: string[] = [];
const newJob = () => {
  const id = `gate-test-${randomUUID()}`;
  jobIds.push(id);
  return id;
};
const never = new AbortController().signal;
// Every call of a test listens on this one signal.
setMaxListeners(200, never);
const noBeat = () => undefined;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterAll(async () => {
  for (const made of gates) await made.close();
  await db.deleteFrom('llm_job_slots').where('job_id', 'in', jobIds).execute();
  await db.deleteFrom('jobs').where('id', 'in', jobIds).execute();
  await db.destroy();
});

it('never lets more calls hold slots than the job allows, across two workers, and lets every call through', async () => {
  const jobId = newJob();
  const limit = 4;
  const [a, b] = [gate(), gate()];
  let holding = 0;
  let most = 0;
  const call = async (via: PostgresJobGate, i: number) => {
    const release = await via.acquire(jobId, limit, never, noBeat);
    holding++;
    most = Math.max(most, holding);
    // Held for 5-25 ms, as an LLM call would hold it, then released.
    await sleep(5 + ((i * 7) % 20));
    holding--;
    release();
  };
  await Promise.all(Array.from({ length: 60 }, (_, i) => call(i % 2 === 0 ? a : b, i)));
  expect(most).toBe(limit);
  // Every slot is free again once the calls released theirs.
  await sleep(100);
  const held = await db
    .selectFrom('llm_job_slots')
    .select('slot')
    .where('job_id', '=', jobId)
    .where('holder', 'is not', null)
    .execute();
  expect(held).toEqual([]);
});

it('hands a slot freed on a worker to a call waiting on that worker at once, without a poll', async () => {
  const jobId = newJob();
  // A poll so slow that only the hand-over can grant the waiting call within the test.
  const local = gate({ pollMs: 60_000 });
  const first = await local.acquire(jobId, 1, never, noBeat);
  let granted: ReleaseSlot | undefined;
  const waiting = local.acquire(jobId, 1, never, noBeat).then((release) => (granted = release));
  await sleep(50);
  expect(granted).toBeUndefined();
  const releasedAt = Date.now();
  first();
  await waiting;
  expect(Date.now() - releasedAt).toBeLessThan(1_000);
  granted!();
});

it('defers the calls waiting for a paused job, and sends none of them', async () => {
  const jobId = newJob();
  await db
    .insertInto('jobs')
    .values({
      id: jobId,
      type: 'data_profiling_llm_generation',
      owner: 'gate-test',
      status: 'running',
      workflow_id: jobId,
      metadata: JSON.stringify({}),
      updated_at: new Date(),
    })
    .execute();
  const local = gate({ pollMs: 60_000 });
  const holding = await local.acquire(jobId, 1, never, noBeat);
  const waiting = [1, 2].map(() => local.acquire(jobId, 1, never, noBeat));
  await db.updateTable('jobs').set({ status: 'paused' }).where('id', '=', jobId).execute();
  // The answer of the call holding the slot comes in: the slot is not handed on, both waiting calls are deferred.
  holding();
  for (const wait of waiting) {
    const failure = await wait.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: FailureType.LlmCallDeferred, nonRetryable: true });
  }
  // A call arriving while the job is paused is deferred before it waits at all.
  await expect(local.acquire(jobId, 1, never, noBeat)).rejects.toMatchObject({ type: FailureType.LlmCallDeferred });
  // Resumed, the job's calls go again.
  await db.updateTable('jobs').set({ status: 'running' }).where('id', '=', jobId).execute();
  (await local.acquire(jobId, 1, never, noBeat))();
  expect(callDeferred(jobId).type).toBe(FailureType.LlmCallDeferred);
});

it('takes an abandoned wait off the queue, so the next slot freed goes to a call still waiting', async () => {
  const jobId = newJob();
  const local = gate({ pollMs: 60_000 });
  const holding = await local.acquire(jobId, 1, never, noBeat);
  const cancel = new AbortController();
  const abandoned = local.acquire(jobId, 1, cancel.signal, noBeat);
  const stillWaiting = local.acquire(jobId, 1, never, noBeat);
  const reason = new Error('cancelled by the test');
  cancel.abort(reason);
  await expect(abandoned).rejects.toBe(reason);
  holding();
  (await stillWaiting)();
});

it('gives a dead worker’s slots to another once their lease has run out', async () => {
  const jobId = newJob();
  // The worker that dies holds both slots; its lease is cut to 300 ms from now.
  const dead = gate({ leaseMs: 300 });
  await dead.acquire(jobId, 2, never, noBeat);
  await dead.acquire(jobId, 2, never, noBeat);
  await db
    .updateTable('llm_job_slots')
    .set({ held_until: new Date(Date.now() + 300) })
    .where('holder', '=', dead.holder)
    .execute();
  // Its renewals stop without the slots given back, as when its process is killed.
  clearInterval((dead as unknown as { renewTimer: NodeJS.Timeout }).renewTimer);
  const survivor = gate({ pollMs: 50 });
  const startedAt = Date.now();
  const releases = await Promise.all([1, 2].map(() => survivor.acquire(jobId, 2, never, noBeat)));
  // Not before the lease ran out (300 ms from the update above).
  expect(Date.now() - startedAt).toBeGreaterThanOrEqual(100);
  for (const release of releases) release();
});
