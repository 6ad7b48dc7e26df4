// A worker process sent SIGTERM (a deploy, a scale-down) while its LLM calls are in flight, as docs/operations.md
// promises (N workers on N machines): it stops taking work, lets its in-flight activities finish within
// WORKER_SHUTDOWN_GRACE_MS, hands back those that do not (cancelled, retried elsewhere at once, not after a
// heartbeat timeout), and exits cleanly; another worker completes the job with each item stored once.
//
// The calls are held at a stand-in gate, so the signal always lands with them in flight; the drain is observed
// on the worker's /healthz (its SDK state) and its exit, each with a bound, never by elapsed time.

import { hostname } from 'node:os';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { freePort } from '../support/ports';
import { waitFor } from '../support/waiting';
import { endAllSpawnedWorkers, spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { demoAttributes, expectEachItemStoredOnce, itemKey, storedCount, waitUntilFinal } from './support/evidence';
import { activityRunsFor } from './support/history';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness();
});
afterEach(async () => {
  await endAllSpawnedWorkers();
  harness.standin.reset();
});
afterAll(async () => {
  await endAllSpawnedWorkers();
  await harness?.close();
});

async function drainingWorker(graceMs: number): Promise<{ worker: WorkerProcess; health: string }> {
  const port = await freePort();
  const worker = spawnWorkerProcess({ ...harness.config, WORKER_SHUTDOWN_GRACE_MS: graceMs, WORKER_HEALTH_PORT: port });
  await worker.ready;
  return { worker, health: `http://127.0.0.1:${port}/healthz` };
}

/**
 * The SDK state the worker's /healthz reports (RUNNING, STOPPING, DRAINING, ...), or 'gone' once it stops answering.
 */
const workerState = (health: string) =>
  fetch(health)
    .then(async (r) => ((await r.json()) as { worker: string }).worker)
    .catch(() => 'gone');

/** The process exits by itself after a drain: 30 s covers the SDK's shutdown and closing pools on a busy machine. */
async function expectCleanExit(worker: WorkerProcess) {
  const exit = await Promise.race([
    worker.exited,
    new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 30_000).unref()),
  ]);
  expect(exit).toEqual({ code: 0, signal: null });
  expect(worker.output()).toContain('synapse-jobs worker: stopped');
}

/**
 * A job whose first `concurrency` calls are held at a gate, all running on a fresh worker with `graceMs` of shutdown
 * grace.
 */
async function jobHeldOnDrainingWorker(options: {
  attributes: number;
  graceMs: number;
  concurrency: number;
  owner: string;
}) {
  const attributes = await demoAttributes(harness, options.attributes);
  const { worker, health } = await drainingWorker(options.graceMs);
  const gate = harness.standin.gate({});
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner: options.owner,
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: attributes,
    llmConcurrency: options.concurrency,
  });
  await gate.waitUntilHeld(options.concurrency, 30_000);
  const held = harness.standin
    .calls()
    .filter((c) => c.held)
    .map((c) => c.itemKey!);
  return { attributes, worker, health, gate, jobId, held };
}

/** Opens the gate and lets a fresh in-process worker finish the job: completed, each item stored once. */
async function finishOnAnotherWorker(gate: { open(): void }, jobId: string, attributes: string[]) {
  gate.open();
  const rescuer = await harness.startWorker();
  const job = await waitUntilFinal(harness, jobId, 120_000);
  await rescuer.stop();
  expect(job.status).toBe('completed');
  await expectEachItemStoredOnce(harness, jobId, attributes);
}

it('finishes its in-flight activities within the grace period, takes no new work, and exits cleanly', async () => {
  const { attributes, worker, health, gate, jobId, held } = await jobHeldOnDrainingWorker({
    attributes: 8,
    graceMs: 60_000,
    concurrency: 4,
    owner: 'sigterm-drain',
  });

  worker.process.kill('SIGTERM');
  // Polling stopped: the SDK leaves RUNNING at once (10 s bound for a busy machine).
  await waitFor(
    () => workerState(health),
    (state) => state !== 'RUNNING',
    10_000,
    'the worker to leave RUNNING after SIGTERM',
  );
  gate.release();
  await expectCleanExit(worker);

  // Exactly the four held items were finished by the draining worker, on their first attempt; nothing else was started.
  expect(await storedCount(harness, jobId)).toBe(4);
  expect(gate.heldTotal()).toBe(4);
  for (const item of held) {
    const attribute = item.slice(DEMO_DATA_SOURCE_ID.length + 1);
    expect(await activityRunsFor(harness.temporal, jobId, attribute)).toEqual([
      expect.objectContaining({ attempt: 1, completed: true, identity: `${worker.process.pid}@${hostname()}` }),
    ]);
  }

  await finishOnAnotherWorker(gate, jobId, attributes);
  expect(attributes.map((a) => harness.standin.callCount(itemKey(a)))).toEqual(attributes.map(() => 1));
}, 120_000);

it('hands back the activities that outlast the grace period: cancelled, retried elsewhere at once, and the worker exits cleanly', async () => {
  const { attributes, worker, health, gate, jobId, held } = await jobHeldOnDrainingWorker({
    attributes: 6,
    graceMs: 1_000,
    concurrency: 3,
    owner: 'sigterm-handback',
  });

  worker.process.kill('SIGTERM');
  await waitFor(
    () => workerState(health),
    (state) => state !== 'RUNNING',
    10_000,
    'the worker to leave RUNNING after SIGTERM',
  );
  // The 1 s grace runs out with the calls still held: the SDK cancels them and the requests are aborted (15 s bound,
  // busy machine).
  await waitFor(
    async () => gate.aborted(),
    (n) => n === 3,
    15_000,
    'the three held calls aborted when the grace period ran out',
  );
  await expectCleanExit(worker);
  expect(await storedCount(harness, jobId)).toBe(0);

  await finishOnAnotherWorker(gate, jobId, attributes);
  for (const item of held) {
    const attribute = item.slice(DEMO_DATA_SOURCE_ID.length + 1);
    // Handed back, not timed out: the retry's previous attempt failed (worker shutdown), it did not miss heartbeats.
    const runs = await activityRunsFor(harness.temporal, jobId, attribute);
    expect(runs).toEqual([
      expect.objectContaining({
        attempt: 2,
        completed: true,
        lastTimeoutType: undefined,
        identity: `${process.pid}@${hostname()}`,
      }),
    ]);
    expect(
      harness.standin
        .calls()
        .filter((c) => c.itemKey === item)
        .map((c) => c.outcome),
    ).toEqual(['client_aborted', 'ok']);
  }
}, 120_000);
