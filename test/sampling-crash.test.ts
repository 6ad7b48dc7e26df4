// A worker process SIGKILLed in the middle of a sampling scan: the retry on a new worker resumes the unit
// from the checkpoint in its last heartbeat instead of from the start, and the sample it draws is exactly
// the one an uninterrupted run with the same seed draws.

import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { createHarness, type Harness } from './support/harness';
import { waitFor } from './support/waiting';
import { spawnWorkerProcess } from './support/worker-process';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness();
});
afterAll(() => harness.close());

const ROWS = 10_000;
const request = { jobType: 'intelligent_sampling', owner: 'crash-sampler', dataSourceId: DEMO_DATA_SOURCE_ID, confidenceLevel: 0.95, marginOfError: 0.05, strataColumns: ['product_type'], seed: 11 } as const;

const attemptsOf = (jobId: string) => harness.db.selectFrom('sampling_scan_progress').selectAll().where('job_id', '=', jobId).orderBy('id').execute();
const sampleOf = async (jobId: string) =>
  (await harness.db.selectFrom('sample_records').select(['row_id', 'stratum', 'reason']).where('job_id', '=', jobId).orderBy('row_id').execute()).map((r) => `${r.row_id}:${r.stratum}:${r.reason}`);

it('resumes a killed scan from its heartbeat checkpoint and draws the same sample as an uninterrupted run', async () => {
  const first = spawnWorkerProcess(harness.config);
  await first.ready;
  // Units of 5 000 rows at 2 000 rows/s: the first unit takes 2.5 s, so the kill lands mid-unit.
  const { jobId } = await harness.jobs.startJob({ ...request, chunkSize: 100, chunksPerUnit: 50, scanRowsPerSecond: 2_000 });
  // Past the first heartbeat (sent at once) and well into the unit; the next one is at most a second behind.
  await waitFor(() => attemptsOf(jobId), (a) => (a[0]?.last_row_id ?? 0) >= 2_500, 30_000);
  await first.kill('SIGKILL');
  const [killed] = await attemptsOf(jobId);
  expect(killed).toMatchObject({ pass: 'count', unit_index: 0, resumed: false, started_after_row_id: 0 });

  await harness.startWorker();
  const job = await harness.jobs.waitForJob(jobId);
  expect(job).toMatchObject({ status: 'completed', error: null, result: { population: ROWS, sampleTotal: 370 } });

  const attempts = await attemptsOf(jobId);
  const resumed = attempts.filter((a) => a.pass === 'count' && a.unit_index === 0 && a.id !== killed!.id);
  expect(resumed).toHaveLength(1);
  // The retry started where a heartbeat left off: past the unit's start, not beyond what the killed attempt read.
  expect(resumed[0]).toMatchObject({ resumed: true, attempt: 2 });
  expect(resumed[0]!.started_after_row_id).toBeGreaterThan(0);
  expect(resumed[0]!.started_after_row_id).toBeLessThanOrEqual(killed!.last_row_id! + 100);
  const countPassRows = attempts.filter((a) => a.pass === 'count').reduce((sum, a) => sum + Number(a.rows_scanned), 0);
  expect(countPassRows).toBeGreaterThanOrEqual(ROWS);
  expect(countPassRows).toBeLessThan(2 * ROWS);
  expect(job!.result).toMatchObject({ scansResumedFromCheckpoint: 1 });

  // The checkpoint carried the partial strata counts: the merged population and sample are those of a clean run.
  const reference = await harness.jobs.startJob({ ...request, chunkSize: 1_000 });
  expect(await harness.jobs.waitForJob(reference.jobId)).toMatchObject({ status: 'completed', result: { strata: (job!.result as { strata: unknown }).strata } });
  const sample = await sampleOf(jobId);
  expect(sample).toHaveLength(370);
  expect(sample).toEqual(await sampleOf(reference.jobId));
  console.info(`sampling crash figures: killed after row ${killed!.last_row_id}, resumed after row ${resumed[0]!.started_after_row_id}, count pass read ${countPassRows} rows for ${ROWS}`);
}, 120_000);
