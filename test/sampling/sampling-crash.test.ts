// A worker process SIGKILLed in the middle of a sampling scan: the retry on a new worker resumes the unit
// from the checkpoint in its last heartbeat instead of from the start, and the sample it draws is exactly
// the one an uninterrupted run with the same seed draws.
//
// The kill lands mid-unit by construction, not by a throttle's timing: the scans read a view held on an
// advisory lock (support/scan-hold.ts), let through one 100-row chunk at a time until the first unit has read
// 2 500 of its 5 000 rows, and the worker is killed while the next chunk waits on the lock — once the server
// shows that checkpoint in the activity's heartbeat.

import { defaultPayloadConverter } from '@temporalio/common';
import type { SamplingStartRequest } from '../../client/sampling/sampling-definition';
import { createHarness, type Harness } from '../support/harness';
import { createScanHold, type ScanHold } from '../support/scan-hold';
import { waitFor } from '../support/waiting';
import { endAllSpawnedWorkers, spawnWorkerProcess } from '../support/worker-process';

let harness: Harness;
let hold: ScanHold;
beforeAll(async () => {
  harness = await createHarness();
  hold = await createScanHold(harness, 'crash_sampling', ROWS);
});
afterEach(() => endAllSpawnedWorkers());
afterAll(async () => {
  await endAllSpawnedWorkers();
  await hold?.end();
  await harness?.close();
});

const ROWS = 10_000;
const CHUNK = 100;
const KILL_AFTER_ROW = 2_500;
const request = (): SamplingStartRequest => ({
  jobType: 'intelligent_sampling',
  owner: 'crash-sampler',
  dataSourceId: hold.dataSourceId,
  confidenceLevel: 0.95,
  marginOfError: 0.05,
  strataColumns: ['product_type'],
  seed: 11,
});

const attemptsOf = (jobId: string) =>
  harness.db.selectFrom('sampling_scan_progress').selectAll().where('job_id', '=', jobId).orderBy('id').execute();
const sampleOf = async (jobId: string) =>
  (
    await harness.db
      .selectFrom('sample_records')
      .select(['row_id', 'stratum', 'reason'])
      .where('job_id', '=', jobId)
      .orderBy('row_id')
      .execute()
  ).map((r) => `${r.row_id}:${r.stratum}:${r.reason}`);

/** The checkpoint the server holds in the running scan's last heartbeat (what a retry would resume from). */
async function serverCheckpoint(jobId: string): Promise<number | undefined> {
  const { raw } = await harness.jobs.handle(jobId).describe();
  const payload = (raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'scanSamplingUnit')
    ?.heartbeatDetails?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload<{ lastRowId?: number }>(payload).lastRowId : undefined;
}

it('resumes a killed scan from its heartbeat checkpoint and draws the same sample as an uninterrupted run', async () => {
  const first = spawnWorkerProcess(harness.config);
  await first.ready;
  await hold.close();
  // Units of 5 000 rows in chunks of 100: the first unit's scan passes the hold one chunk per step.
  const { jobId } = await harness.jobs.startJob({ ...request(), chunkSize: CHUNK, chunksPerUnit: 50 });
  // Where the scan is held once it has passed KILL_AFTER_ROW: usually that row, a chunk further when a chunk slipped
  // through between a release and the next close (the hold is one lock, so that moment cannot be closed).
  let killRow: number;
  for (let step = 0; ; step++) {
    // Each bound: one chunk of 100 rows and its progress write, on a busy machine.
    await hold.waitUntilHeld(jobId, 1);
    const [unit] = await attemptsOf(jobId);
    if ((unit?.last_row_id ?? 0) >= KILL_AFTER_ROW) {
      killRow = unit!.last_row_id!;
      break;
    }
    if (step > KILL_AFTER_ROW / CHUNK + 5)
      throw new Error(
        `the first unit did not reach row ${KILL_AFTER_ROW} in ${step} chunks; progress ${JSON.stringify(unit)}`,
      );
    await hold.release();
    await hold.close();
  }
  // The next chunk waits on the hold; the heartbeat naming the last one read reaches the server within its throttle (1
  // s).
  await waitFor(
    () => serverCheckpoint(jobId),
    (row) => row === killRow,
    15_000,
    `the server holding the checkpoint at row ${killRow}`,
  );
  await first.kill('SIGKILL');
  const [killed] = await attemptsOf(jobId);
  expect(killed).toMatchObject({
    pass: 'count',
    unit_index: 0,
    resumed: false,
    started_after_row_id: 0,
    last_row_id: killRow,
  });

  await hold.open();
  await harness.startWorker();
  const job = await harness.jobs.waitForJob(jobId);
  expect(job).toMatchObject({ status: 'completed', error: null, result: { population: ROWS, sampleTotal: 370 } });

  const attempts = await attemptsOf(jobId);
  const resumed = attempts.filter((a) => a.pass === 'count' && a.unit_index === 0 && a.id !== killed!.id);
  expect(resumed).toHaveLength(1);
  // The retry started exactly where the killed attempt's last heartbeat left off.
  expect(resumed[0]).toMatchObject({ resumed: true, attempt: 2, started_after_row_id: killRow });
  const countPassRows = attempts.filter((a) => a.pass === 'count').reduce((sum, a) => sum + Number(a.rows_scanned), 0);
  expect(countPassRows).toBe(ROWS);
  expect(job!.result).toMatchObject({ scansResumedFromCheckpoint: 1 });

  // The checkpoint carried the partial strata counts: the merged population and sample are those of a clean run.
  const reference = await harness.jobs.startJob({ ...request(), chunkSize: 1_000 });
  expect(await harness.jobs.waitForJob(reference.jobId)).toMatchObject({
    status: 'completed',
    result: { strata: (job!.result as { strata: unknown }).strata },
  });
  const sample = await sampleOf(jobId);
  expect(sample).toHaveLength(370);
  expect(sample).toEqual(await sampleOf(reference.jobId));
  console.info(
    `sampling crash figures: killed after row ${killed!.last_row_id}, resumed after row ${resumed[0]!.started_after_row_id}, count pass read ${countPassRows} rows for ${ROWS}`,
  );
}, 120_000);
