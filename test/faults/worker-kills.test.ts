// Worker processes killed with SIGKILL again and again during one profiling job, a fresh one started after
// each kill: the job completes, every attribute is stored once, and no attribute is answered twice or asked
// again once stored. CI kills 3 times; `npm run faults` (FAULTS_SLOW=1) kills 20 times.
//
// No race with the stand-in's speed: every LLM call waits at a gate, so each round waits until every LLM
// activity started on a live worker is a held call (an observable state), lets a seeded random number of them
// go (keeping one) and waits until those items are stored, then SIGKILLs a seeded random worker among those
// running a held call. The kill therefore
// always lands mid-job and cuts calls in flight; the calls it cut are counted at the gate (aborted) and are the
// only ones asked again. Random choices print their seed: replay a failure with TEST_SEED=<seed>.

import { hostname } from 'node:os';
import { temporal } from '@temporalio/proto';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import type { StandinGate } from '../../llm-standin/server';
import { createHarness, type Harness } from '../support/harness';
import { replayableOnFailure, seededRandom, type SeededRandom } from '../support/random';
import { waitFor } from '../support/waiting';
import { endAllSpawnedWorkers, spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import {
  demoAttributes,
  expectEachItemStoredOnce,
  itemKey,
  slowIt,
  storedCount,
  waitUntilFinal,
} from './support/evidence';

let harness: Harness;
const alive = new Set<WorkerProcess>();
beforeAll(async () => {
  harness = await createHarness();
});
afterEach(async () => {
  alive.clear();
  await endAllSpawnedWorkers();
});
afterAll(async () => {
  await endAllSpawnedWorkers();
  await harness?.close();
});

async function startWorker(): Promise<WorkerProcess> {
  const worker = spawnWorkerProcess(harness.config);
  alive.add(worker);
  await worker.ready;
  return worker;
}

interface Storm {
  attributes: number;
  workers: number;
  kills: number;
  llmConcurrency: number;
}

/** The SDK's default worker identity, as the server records it on the activities a worker runs. */
const identityOf = (worker: WorkerProcess) => `${worker.process.pid}@${hostname()}`;

/**
 * The identity of the worker of each of the job's LLM activities started on a worker still alive (one entry per
 * activity).
 */
async function startedOnLiveWorkers(jobId: string): Promise<string[]> {
  const live = new Set([...alive].map(identityOf));
  const { raw } = await harness.jobs.handle(jobId).describe();
  return (raw.pendingActivities ?? [])
    .filter(
      (a) =>
        a.activityType?.name === 'generateValidationRules' &&
        a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
    )
    .map((a) => a.lastWorkerIdentity ?? '')
    .filter((identity) => live.has(identity));
}

interface Kill {
  storedBefore: number;
  released: number;
  /** Held calls the kill cut (their client went away at the gate). */
  cut: number;
}

/** Runs one job through the storm; every wait below has its own bound and names the state it waited for. */
async function profileThroughKills(storm: Storm, random: SeededRandom) {
  for (let i = 0; i < storm.workers; i++) await startWorker();
  const attributes = await demoAttributes(harness, storm.attributes);
  const gate: StandinGate = harness.standin.gate({});
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling',
    owner: 'kill-storm',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: attributes,
    llmConcurrency: storm.llmConcurrency,
  });

  /**
   * Waits until every LLM activity started on a live worker is a call held at the gate (none still reading its
   * column profile), with at least one held. Bound: an item a kill cut waits its heartbeat timeout (10 s) and a
   * retry back-off that doubles up to 60 s when the same item is cut again and again, plus a busy machine.
   */
  const allStartedHeld = async (what: string) => {
    const state = await waitFor(
      async () => {
        const running = await startedOnLiveWorkers(jobId);
        return { held: gate.held(), started: running.length, workers: new Set(running) };
      },
      (s) => s.held >= 1 && s.held === s.started,
      100_000,
      `every started LLM activity of ${jobId} held at the gate (${what})`,
    );
    return state;
  };

  const kills: Kill[] = [];
  for (let k = 0; k < storm.kills; k++) {
    const before = await allStartedHeld(`before release ${k + 1}`);
    const storedBefore = await storedCount(harness, jobId);
    // Let some go (always keeping one held, so the kill cuts a call in flight) and see them stored.
    const released = before.held > 1 ? 1 + random.int(before.held - 1) : 0;
    gate.release(released);
    await waitFor(
      () => storedCount(harness, jobId),
      (n) => n >= storedBefore + released,
      30_000,
      `${released} released items of ${jobId} stored`,
    );
    const { workers: running } = await allStartedHeld(`before kill ${k + 1}`);
    expect((await harness.jobs.job(jobId))?.status).toBe('running');
    const candidates = [...alive].filter((w) => running.has(identityOf(w)));
    if (candidates.length === 0)
      throw new Error(`no live worker runs a held call of ${jobId}; running: ${[...running].join(', ')}`);
    const victim = random.pick(candidates);
    const abortedBefore = gate.aborted();
    alive.delete(victim);
    await victim.kill('SIGKILL');
    // The stand-in sees the dead worker's connections close: at least one held call is cut.
    await waitFor(
      async () => gate.aborted(),
      (n) => n > abortedBefore,
      10_000,
      `a held call of the killed worker ${identityOf(victim)} aborted at the gate`,
    );
    kills.push({ storedBefore, released, cut: gate.aborted() - abortedBefore });
    await startWorker();
  }
  gate.open();
  // The rest of the job unheld: its LLM calls and rule scans, plus one heartbeat timeout for the last kill's items.
  const job = await waitUntilFinal(harness, jobId, 180_000);
  return { jobId, job, attributes, kills, aborted: gate.aborted() };
}

async function expectNothingLostOrRepeated(run: Awaited<ReturnType<typeof profileThroughKills>>, storm: Storm) {
  expect(run.kills).toHaveLength(storm.kills);
  expect(run.job.status).toBe('completed');
  expect(run.job.result).toMatchObject({
    attributesTotal: storm.attributes,
    attributesProfiled: storm.attributes,
    attributesFailed: 0,
  });
  await expectEachItemStoredOnce(harness, run.jobId, run.attributes);
  const asked = run.attributes.map((a) => harness.standin.callCount(itemKey(a)));
  // Every attribute asked once, plus once more for each of its calls a kill cut at the gate, and nothing else.
  expect(asked.every((n) => n >= 1)).toBe(true);
  expect(asked.reduce((a, b) => a + b, 0)).toBe(storm.attributes + run.aborted);
  const answered = run.attributes.map(
    (a) => harness.standin.calls().filter((c) => c.itemKey === itemKey(a) && c.outcome === 'ok').length,
  );
  expect(answered.filter((n) => n !== 1)).toEqual([]);
  console.info(
    `kill storm: ${run.kills.length} kills at ${run.kills.map((k) => `${k.storedBefore + k.released} stored/${k.cut} cut`).join(', ')} of ${storm.attributes}; ${run.aborted} held calls cut, ${asked.reduce((a, b) => a + b, 0)} LLM calls`,
  );
}

async function storm(label: string, shape: Storm) {
  const random = seededRandom(label);
  await replayableOnFailure(random, async () =>
    expectNothingLostOrRepeated(await profileThroughKills(shape, random), shape),
  );
}

it('completes a job through 3 SIGKILLs of its workers mid-call, storing each attribute once and answering none twice', async () => {
  await storm('kill storm (3 kills)', { attributes: 40, workers: 2, kills: 3, llmConcurrency: 6 });
}, 300_000);

slowIt(
  'completes a 110-attribute job through 20 SIGKILLs of its 3 workers mid-call, storing each attribute once and answering none twice',
  async () => {
    harness.standin.reset();
    await storm('kill storm (20 kills)', { attributes: 110, workers: 3, kills: 20, llmConcurrency: 6 });
  },
  1_500_000,
);
