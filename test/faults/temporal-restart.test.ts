// The Temporal server killed mid-job and started again on the same SQLite file: workers and client
// reconnect, the job completes, and each attribute is stored once and asked of the LLM once.

import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { sleep, waitFor } from '../support/waiting';
import { createDevServer, type RestartableDevServer } from './support/dev-server';
import { demoAttributes, expectEachItemStoredOnce, storedCount, waitUntilFinal } from './support/evidence';

let server: RestartableDevServer;
let harness: Harness;
beforeAll(async () => {
  server = await createDevServer();
  await server.start();
  harness = await createHarness({ faults: { latencyMs: 300 }, config: { TEMPORAL_ADDRESS: server.address } });
  await harness.startWorker();
}, 120_000);
afterAll(async () => {
  await harness?.close();
  await server?.dispose();
});

it('completes a job across a SIGKILL and restart of the Temporal server, storing each attribute once', async () => {
  const attributes = await demoAttributes(harness, 30);
  const { jobId } = await harness.jobs.startJob({ jobType: 'data_profiling', owner: 'temporal-restart', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: attributes, llmConcurrency: 4 });
  await waitFor(() => storedCount(harness, jobId), (n) => n >= 5, 60_000);
  await server.kill('SIGKILL');
  const storedAtKill = await storedCount(harness, jobId);
  await sleep(3_000);
  await server.start();

  const job = await waitUntilFinal(harness, jobId);
  expect(storedAtKill).toBeLessThan(attributes.length);
  expect(job.status).toBe('completed');
  expect(job.result).toMatchObject({ attributesProfiled: attributes.length, attributesFailed: 0 });
  await expectEachItemStoredOnce(harness, jobId, attributes);
  console.info(`temporal restart: ${storedAtKill}/${attributes.length} stored at the kill; job ${job.status}`);
}, 300_000);
