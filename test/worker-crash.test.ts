// A worker process killed with SIGKILL in the middle of a job: a new worker finishes the job, nothing is
// stored twice, and no attribute whose result was already stored is sent to the LLM again.

import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { createHarness, type Harness } from './support/harness';
import { spawnWorkerProcess } from './support/worker-process';
import { sleep } from './support/waiting';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness({ faults: { latencyMs: 400 } });
});
afterAll(() => harness.close());

async function storedAttributes(jobId: string): Promise<string[]> {
  const rows = await harness.db.selectFrom('attribute_results').select('attribute').where('job_id', '=', jobId).execute();
  return rows.map((r) => r.attribute);
}

it('finishes a job after its worker is SIGKILLed, without asking the LLM again for stored attributes', async () => {
  const catalogue = await harness.db.selectFrom('data_source_attributes').select('name').where('data_source_id', '=', DEMO_DATA_SOURCE_ID).orderBy('position').limit(60).execute();
  const attributes = catalogue.map((a) => a.name);

  const first = spawnWorkerProcess(harness.config);
  await first.ready;
  const { jobId } = await harness.jobs.startJob({ jobType: 'data_profiling', owner: 'crash-test', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: attributes, llmConcurrency: 6 });

  while ((await storedAttributes(jobId)).length < 15) await sleep(100);
  await first.kill('SIGKILL');
  const killedAt = Date.now();
  const storedAtKill = await storedAttributes(jobId);
  expect(storedAtKill.length).toBeLessThan(attributes.length);

  await harness.startWorker();
  while ((await storedAttributes(jobId)).length === storedAtKill.length) await sleep(100);
  const secondsToProgress = (Date.now() - killedAt) / 1000;

  const job = await harness.jobs.waitForJob(jobId);
  expect(job?.status).toBe('completed');
  expect((await storedAttributes(jobId)).sort()).toEqual([...attributes].sort());

  const counts = attributes.map((a) => harness.standin.callCount(`${DEMO_DATA_SOURCE_ID}.${a}`));
  for (const attribute of storedAtKill) expect(harness.standin.callCount(`${DEMO_DATA_SOURCE_ID}.${attribute}`)).toBe(1);
  const redone = counts.filter((n) => n > 1).length;
  // Only what was in flight at the kill can have been asked twice.
  expect(redone).toBeLessThanOrEqual(6);
  console.info(`crash figures: ${storedAtKill.length}/${attributes.length} stored at kill, ${redone} attributes redone, progress again after ${secondsToProgress.toFixed(1)} s`);
});
