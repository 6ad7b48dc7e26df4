// Worker processes killed with SIGKILL again and again during one profiling job, a fresh one started after
// each kill: the job completes, every attribute is stored exactly once, and no attribute whose result was
// stored is sent to the LLM again. CI kills 3 times; `npm run faults` (FAULTS_SLOW=1) kills 20 times.

import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { sleep } from '../support/waiting';
import { spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { demoAttributes, expectEachItemStoredOnce, slowIt, storedCount, waitUntilFinal } from './support/evidence';

let harness: Harness;
const alive = new Set<WorkerProcess>();
beforeAll(async () => {
  // Slow enough that every planned kill lands while the job still runs, even as recovery gets faster.
  harness = await createHarness({ faults: { latencyMs: 1_000 } });
});
afterEach(async () => {
  for (const worker of [...alive]) await worker.kill('SIGKILL');
  alive.clear();
});
afterAll(() => harness.close());

function startWorker(): WorkerProcess {
  const worker = spawnWorkerProcess(harness.config);
  alive.add(worker);
  return worker;
}

interface Storm {
  attributes: number;
  workers: number;
  kills: number;
  everyMs: number;
  llmConcurrency: number;
}

/** Runs one job through the storm; returns how many kills landed while the job was still running. */
async function profileThroughKills(storm: Storm) {
  for (let i = 0; i < storm.workers; i++) startWorker();
  await Promise.all([...alive].map((w) => w.ready));
  const attributes = await demoAttributes(harness, storm.attributes);
  const { jobId } = await harness.jobs.startJob({ jobType: 'data_profiling', owner: 'kill-storm', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: attributes, llmConcurrency: storm.llmConcurrency });

  let killsDuringJob = 0;
  const storedAtKills: number[] = [];
  while (killsDuringJob < storm.kills) {
    await sleep(storm.everyMs * (0.5 + Math.random()));
    if ((await harness.jobs.job(jobId))?.status !== 'running') break;
    const victims = [...alive];
    const victim = victims[Math.floor(Math.random() * victims.length)]!;
    alive.delete(victim);
    await victim.kill('SIGKILL');
    storedAtKills.push(await storedCount(harness, jobId));
    killsDuringJob++;
    startWorker();
  }
  const job = await waitUntilFinal(harness, jobId);
  return { jobId, job, attributes, killsDuringJob, storedAtKills };
}

async function expectNothingLostOrRepeated(run: Awaited<ReturnType<typeof profileThroughKills>>, storm: Storm) {
  expect(run.killsDuringJob).toBe(storm.kills);
  expect(run.job.status).toBe('completed');
  expect(run.job.result).toMatchObject({ attributesTotal: storm.attributes, attributesProfiled: storm.attributes, attributesFailed: 0 });
  await expectEachItemStoredOnce(harness, run.jobId, run.attributes);
  const asked = run.attributes.map((a) => harness.standin.callCount(`${DEMO_DATA_SOURCE_ID}.${a}`));
  expect(asked.every((n) => n >= 1)).toBe(true);
  const redone = asked.filter((n) => n > 1).length;
  // Only items in flight at a kill can have been asked twice: at most llmConcurrency per kill.
  expect(redone).toBeLessThanOrEqual(storm.kills * storm.llmConcurrency);
  console.info(`kill storm: ${run.killsDuringJob} kills at ${run.storedAtKills.join('/')} of ${storm.attributes} stored, ${redone} attributes asked again, ${asked.reduce((a, b) => a + b, 0)} LLM calls`);
}

it('completes a job through 3 SIGKILLs of its workers, storing each attribute once and never re-asking a stored one', async () => {
  const storm: Storm = { attributes: 40, workers: 2, kills: 3, everyMs: 1_500, llmConcurrency: 6 };
  await expectNothingLostOrRepeated(await profileThroughKills(storm), storm);
}, 240_000);

slowIt('completes a 110-attribute job through 20 SIGKILLs of its 3 workers, storing each attribute once and never re-asking a stored one', async () => {
  harness.standin.reset();
  const storm: Storm = { attributes: 110, workers: 3, kills: 20, everyMs: 1_500, llmConcurrency: 6 };
  await expectNothingLostOrRepeated(await profileThroughKills(storm), storm);
}, 900_000);
