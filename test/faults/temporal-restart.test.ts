// The Temporal server killed mid-job and started again on the same SQLite file: workers and client
// reconnect, the job completes, and each attribute is stored once and answered by the LLM no more often than
// its activity had attempts.
//
// The kill lands mid-job by construction: the first 5 calls pass, every later one waits at a gate, and the
// server is killed once those 5 items are stored and the job's 4 in-flight calls are held; they are let go
// only after the server is back.

import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { sleep, waitFor } from '../support/waiting';
import { createDevServer, type RestartableDevServer } from './support/dev-server';
import { demoAttributes, expectEachItemStoredOnce, storedCount, waitUntilFinal } from './support/evidence';

/**
 * How long the server stays down: long enough for every poll and heartbeat of the worker to fail, as in a real outage.
 */
const OUTAGE_MS = 3_000;
const PASSED = 5;
const CONCURRENCY = 4;

let server: RestartableDevServer;
let harness: Harness;
beforeAll(async () => {
  server = await createDevServer();
  await server.start();
  harness = await createHarness({ config: { TEMPORAL_ADDRESS: server.address } });
  await harness.startWorker();
}, 120_000);
afterAll(async () => {
  await harness?.close();
  await server?.dispose();
});

it('completes a job across a SIGKILL and restart of the Temporal server, storing each attribute once', async () => {
  const attributes = await demoAttributes(harness, 30);
  const gate = harness.standin.gate({ fromCall: PASSED + 1 });
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling',
    owner: 'temporal-restart',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: attributes,
    llmConcurrency: CONCURRENCY,
  });
  // Bounds: a handful of activities on an idle worker take well under a second; 30 s allows a busy machine.
  await gate.waitUntilHeld(CONCURRENCY, 30_000);
  await waitFor(
    () => storedCount(harness, jobId),
    (n) => n === PASSED,
    30_000,
    `the ${PASSED} attributes whose calls passed the gate stored`,
  );
  await server.kill('SIGKILL');
  const storedAtKill = await storedCount(harness, jobId);
  await sleep(OUTAGE_MS);
  await server.start();
  gate.open();

  // The held activities may have timed out on heartbeat during the outage and run again: a few minutes at most.
  const job = await waitUntilFinal(harness, jobId, 240_000);
  expect(storedAtKill).toBe(PASSED);
  expect(job.status).toBe('completed');
  expect(job.result).toMatchObject({ attributesProfiled: attributes.length, attributesFailed: 0 });
  await expectEachItemStoredOnce(harness, jobId, attributes);
  console.info(
    `temporal restart: ${storedAtKill}/${attributes.length} stored at the kill, ${CONCURRENCY} calls held across it; job ${job.status}`,
  );
}, 300_000);
