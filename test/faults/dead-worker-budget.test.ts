// A worker SIGKILLed while its LLM calls wait for the fleet-wide budget (docs/llm.md, the fleet budget: "A dead
// worker's
// waiting calls are dropped after 10 s"): its rows in llm_budget_calls do not hold their place forever. Once
// its activities time out and wait again on another worker, that worker's grant rounds drop the dead worker's
// rows (not refreshed for staleWaiterMs), while the budget is still held, so they are dropped and not granted;
// then the budget is released and the job completes with each item stored once.
//
// The budget is held the way a provider's 429 would hold it (paused_until far ahead), so the calls are waiting,
// observably, as rows in the ledger when the kill comes; every wait has its own bound.

import { hostname } from 'node:os';
import { notifyBudgetChanged } from '../../activities/llm/budget/llm-budget-ledger';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/waiting';
import { endAllSpawnedWorkers, spawnWorkerProcess } from '../support/worker-process';
import { demoAttributes, expectEachItemStoredOnce, itemKey, waitUntilFinal } from './support/evidence';

const MODEL = 'dead-worker-budget-model';
let harness: Harness;
beforeAll(async () => {
  harness = await createHarness({
    config: {
      OPENAI_MODEL: MODEL,
      LLM_BUDGET_ENABLED: true,
      LLM_RPM_LIMIT: 1_000,
      LLM_TPM_LIMIT: 10_000_000,
      LLM_BUDGET_WINDOW_MS: 3_000,
    },
  });
});
afterEach(() => endAllSpawnedWorkers());
afterAll(async () => {
  await endAllSpawnedWorkers();
  await harness?.close();
});

const ledger = (jobId: string) =>
  harness.db
    .selectFrom('llm_budget_calls')
    .select(['id', 'worker', 'state'])
    .where('job_id', '=', jobId)
    .orderBy('id')
    .execute();

async function holdBudget(until: Date | null) {
  await harness.db
    .insertInto('llm_budget_limits')
    .values({ model: MODEL, rpm: 1_000, tpm: 10_000_000, window_ms: 3_000, paused_until: until })
    .onConflict((oc) => oc.column('model').doUpdateSet({ paused_until: until }))
    .execute();
  await notifyBudgetChanged(harness.db, MODEL);
}

it("drops a dead worker's waiting budget calls instead of granting them, and the job completes on another worker", async () => {
  await holdBudget(new Date(Date.now() + 10 * 60_000));
  const attributes = await demoAttributes(harness, 4);
  const doomed = spawnWorkerProcess(harness.config);
  await doomed.ready;
  const doomedId = `${hostname()}:${doomed.process.pid}`;
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner: 'dead-budget',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: attributes,
    llmConcurrency: 4,
  });

  // All four calls waiting in the ledger for the doomed worker (a column profile each first; 30 s for a busy machine).
  await waitFor(
    () => ledger(jobId),
    (rows) => rows.length === 4 && rows.every((r) => r.worker === doomedId && r.state === 'waiting'),
    30_000,
    'four waiting budget calls of the doomed worker',
  );
  await doomed.kill('SIGKILL');
  const dead = (await ledger(jobId)).map((r) => r.id);

  const rescuer = await harness.startWorker();
  const rescuerId = `${hostname()}:${process.pid}`;
  // Heartbeat timeout (10 s) and back-off bring the items to the rescuer, whose rounds drop rows unrefreshed for 10 s:
  // 60 s bound.
  const after = await waitFor(
    () => ledger(jobId),
    (rows) => rows.every((r) => !dead.includes(r.id)) && rows.length === 4,
    60_000,
    "the dead worker's rows dropped, the rescuer's four calls waiting",
  );
  // Dropped, not granted: the budget was held throughout, and the rows now are the rescuer's, still waiting.
  expect(after.map((r) => [r.worker, r.state])).toEqual(attributes.map(() => [rescuerId, 'waiting']));
  expect(harness.standin.calls()).toEqual([]);

  await holdBudget(null);
  const job = await waitUntilFinal(harness, jobId, 60_000);
  await rescuer.stop();
  expect(job.status).toBe('completed');
  await expectEachItemStoredOnce(harness, jobId, attributes);
  expect(attributes.map((a) => harness.standin.callCount(itemKey(a)))).toEqual(attributes.map(() => 1));
  // Nothing of the job is left waiting; its granted calls settle out of the window on their own.
  expect((await ledger(jobId)).filter((r) => r.state === 'waiting')).toEqual([]);
}, 120_000);
