// An LLM-bound job scheduled ahead of its calls (LLM_CALLS_GATED_BY_WORKER in workflows/control/control.ts): at a
// concurrency of 20 a profiling job runs its attributes two to an activity (generateValidationRulesBatch) and keeps
// three times its calls in flight, while the worker's gate (activities/llm/job-gate.ts) holds the calls themselves to
// 20. Real Temporal dev server, PostgreSQL, and the openai client against the stand-in. `RECORD_HISTORIES=1` also
// saves both jobs' histories for test/replay.test.ts.

import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import { mostAtOnce } from '../../llm-standin/call-log';
import { pauseSignal, resumeSignal } from '../../workflows/control/control';
import { createHarness, type Harness } from '../support/harness';
import { saveHistory } from '../support/histories';
import { waitFor } from '../support/waiting';

const CONCURRENCY = 20;
const BATCH = 'generateValidationRulesBatch';
const owner = 'gated';
const principal = { subject: owner, admin: false };
const item = (attribute: string) => `${DEMO_DATA_SOURCE_ID}.${attribute}`;

let harness: Harness;
let attributes: string[];
/** An attribute whose request the provider refuses (400): it fails for good inside its batch, alone. */
let refused: string;

beforeAll(async () => {
  const catalogue = await (async () => {
    const probe = await createHarness();
    try {
      return (await demoCatalogue(probe.db)).map((a) => a.name);
    } finally {
      await probe.close();
    }
  })();
  attributes = catalogue;
  refused = catalogue[7]!;
  harness = await createHarness({
    faults: { latencyMs: 100, rules: [{ kind: 'server_error', status: 400, items: [item(refused)] }] },
  });
  await harness.startWorker();
});
afterAll(() => harness.close());
beforeEach(() => harness.standin.reset());

const start = async (ids: string[]) =>
  (
    await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: ids,
      llmConcurrency: CONCURRENCY,
    })
  ).jobId;

/** Activities of `type` scheduled before the first one of them closed: how far the job ran ahead of its answers. */
async function scheduledBeforeFirstClosed(jobId: string, type: string): Promise<number> {
  const history = await harness.temporal.workflow.getHandle(jobId).fetchHistory();
  const ofType = new Set<string>();
  let scheduled = 0;
  for (const event of history.events ?? []) {
    const s = event.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name === type) {
      ofType.add(String(event.eventId));
      scheduled++;
    }
    const closedOf =
      event.activityTaskCompletedEventAttributes?.scheduledEventId ??
      event.activityTaskFailedEventAttributes?.scheduledEventId;
    if (closedOf !== undefined && closedOf !== null && ofType.has(String(closedOf))) return scheduled;
  }
  return scheduled;
}

it('runs two attributes to an activity, keeps three times its calls scheduled, sends at most its concurrency at once, and asks each attribute once', async () => {
  const ids = attributes.slice(0, 60);
  const jobId = await start(ids);
  const row = await harness.jobs.waitForJob(jobId);
  expect(row).toMatchObject({ status: 'completed' });

  // The activities: 30 of two attributes, 30 (= 3 × 20 calls / 2) scheduled before any closed.
  expect(await scheduledBeforeFirstClosed(jobId, BATCH)).toBe(30);
  // The calls: never more than the job's concurrency in flight, though 60 attributes were scheduled at once.
  const calls = harness.standin.calls();
  expect(mostAtOnce(calls)).toBeLessThanOrEqual(CONCURRENCY);
  expect(mostAtOnce(calls)).toBeGreaterThan(CONCURRENCY / 2);
  for (const attribute of ids) expect(harness.standin.callCount(item(attribute))).toBe(1);

  // The refused attribute failed alone; its batch partner and every other attribute stored their rules.
  const results = await harness.db
    .selectFrom('attribute_results')
    .select(['attribute', 'status', 'failure_reason'])
    .where('job_id', '=', jobId)
    .execute();
  expect(results).toHaveLength(60);
  expect(results.filter((r) => r.status === 'failed')).toEqual([
    { attribute: refused, status: 'failed', failure_reason: expect.stringContaining('400') },
  ]);
  expect(await harness.jobs.status(principal, jobId)).toMatchObject({
    status: 'completed',
    completed_steps: 60,
    failed_steps: 1,
  });
  if (process.env.RECORD_HISTORIES) saveHistory(harness.config.TEMPORAL_ADDRESS, jobId, 'data-profiling-gated-batches');
});

it('on pause, defers the calls still waiting for a slot (nothing sent once paused), and on resume asks each remaining attribute once', async () => {
  const ids = attributes.slice(60, 110);
  const held = harness.standin.gate({});
  const jobId = await start(ids);
  // 20 calls held at the provider, the other 30 attributes waiting at the worker's gate.
  await held.waitUntilHeld(CONCURRENCY, 30_000);
  await harness.jobs.handle(jobId).signal(pauseSignal);
  await waitFor(
    () => harness.jobs.status(principal, jobId),
    (s) => s.status === 'paused',
    30_000,
    'the job paused',
  );
  held.open();
  await waitFor(
    () => harness.jobs.status(principal, jobId),
    (s) => s.in_flight === 0,
    30_000,
    'the calls out answered and the waiting ones deferred',
  );
  // Only the 20 calls out before the pause reached the provider; their results are stored.
  expect(harness.standin.calls()).toHaveLength(CONCURRENCY);
  const stored = await harness.db
    .selectFrom('attribute_results')
    .select('attribute')
    .where('job_id', '=', jobId)
    .execute();
  // (An activity whose partner was deferred goes back to the queue whole: its stored attribute is reused on resume.)
  expect(stored).toHaveLength(CONCURRENCY);
  expect(await harness.jobs.status(principal, jobId)).toMatchObject({ status: 'paused' });

  await harness.jobs.handle(jobId).signal(resumeSignal);
  expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'completed' });
  for (const attribute of ids) expect(harness.standin.callCount(item(attribute))).toBe(1);
  expect(await harness.jobs.status(principal, jobId)).toMatchObject({ completed_steps: 50, failed_steps: 0 });
  if (process.env.RECORD_HISTORIES)
    saveHistory(harness.config.TEMPORAL_ADDRESS, jobId, 'data-profiling-gated-paused-deferred');
});
