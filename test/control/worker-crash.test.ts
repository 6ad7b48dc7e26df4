// A worker process killed with SIGKILL in the middle of a job: a new worker finishes the job, nothing is
// stored twice, and no attribute whose result was already stored is sent to the LLM again.
//
// The kill lands at a known point, whatever the machine's speed: the first 15 calls pass, every later one waits
// at a gate, and the worker is killed once those 15 items are stored and the job's six in-flight calls are held.
// Exactly those six are cut (aborted at the gate) and asked again; nothing else is.

import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { expectEachItemStoredOnce, itemKey } from '../faults/support/evidence';
import { createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/waiting';
import { endAllSpawnedWorkers, spawnWorkerProcess } from '../support/worker-process';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness();
});
afterEach(() => endAllSpawnedWorkers());
afterAll(async () => {
  await endAllSpawnedWorkers();
  await harness?.close();
});

async function storedAttributes(jobId: string): Promise<string[]> {
  const rows = await harness.db
    .selectFrom('attribute_results')
    .select('attribute')
    .where('job_id', '=', jobId)
    .execute();
  return rows.map((r) => r.attribute);
}

it('finishes a job after its worker is SIGKILLed, without asking the LLM again for stored attributes', async () => {
  const catalogue = await harness.db
    .selectFrom('data_source_attributes')
    .select('name')
    .where('data_source_id', '=', DEMO_DATA_SOURCE_ID)
    .orderBy('position')
    .limit(60)
    .execute();
  const attributes = catalogue.map((a) => a.name);
  const passed = 15;
  const concurrency = 6;

  const first = spawnWorkerProcess(harness.config);
  await first.ready;
  const gate = harness.standin.gate({ fromCall: passed + 1 });
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling',
    owner: 'crash-test',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: attributes,
    llmConcurrency: concurrency,
  });

  // Bounds: 60 attribute activities on an idle worker take well under a second each; 30 s allows a busy machine.
  await gate.waitUntilHeld(concurrency, 30_000);
  await waitFor(
    () => storedAttributes(jobId),
    (stored) => stored.length === passed,
    30_000,
    `the ${passed} attributes whose calls passed the gate stored`,
  );
  await first.kill('SIGKILL');
  const killedAt = Date.now();
  await waitFor(
    async () => gate.aborted(),
    (n) => n === concurrency,
    10_000,
    `the killed worker's ${concurrency} held calls aborted at the gate`,
  );
  const storedAtKill = await storedAttributes(jobId);
  expect(storedAtKill).toHaveLength(passed);

  const rescuer = await harness.startWorker();
  gate.open();
  // The rescuer picks the cut items up after their 10 s heartbeat timeout; 30 s allows a busy machine.
  await waitFor(
    () => storedAttributes(jobId),
    (stored) => stored.length > passed,
    30_000,
    'progress after the kill',
  );
  const secondsToProgress = (Date.now() - killedAt) / 1000;

  const job = await harness.jobs.waitForJob(jobId);
  expect(job?.status).toBe('completed');
  expect((await storedAttributes(jobId)).sort()).toEqual([...attributes].sort());
  await expectEachItemStoredOnce(harness, jobId, attributes);

  const counts = new Map(attributes.map((a) => [a, harness.standin.callCount(itemKey(a))]));
  for (const attribute of storedAtKill) expect([attribute, counts.get(attribute)]).toEqual([attribute, 1]);
  // Only the six calls held (and cut) at the kill were asked again, each once.
  const redone = [...counts].filter(([, n]) => n > 1);
  expect(redone.map(([, n]) => n)).toEqual(Array(concurrency).fill(2));
  expect(
    harness.standin
      .calls()
      .filter((c) => c.outcome === 'client_aborted')
      .map((c) => c.itemKey)
      .sort(),
  ).toEqual(redone.map(([a]) => itemKey(a)).sort());
  await rescuer.stop();
  console.info(
    `crash figures: ${storedAtKill.length}/${attributes.length} stored at kill, ${redone.length} attributes redone, progress again after ${secondsToProgress.toFixed(1)} s`,
  );
}, 120_000);
