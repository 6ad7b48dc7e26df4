// The worker's logs (workers/logging.ts) from the real worker process: one JSON line per log call on stdout, the
// SDK's and the activities' lines with `jobId` and `item` as fields, LOG_LEVEL obeyed, and no task token anywhere.

import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import { itemOf, logFieldsOf } from '../../workers/logging';
import { createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/waiting';
import { endAllSpawnedWorkers, spawnWorkerProcess } from '../support/worker-process';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness();
});
afterAll(async () => {
  await endAllSpawnedWorkers();
  await harness?.close();
});

type Line = Record<string, unknown>;

/** Every non-empty line of the output, parsed; a line that is not a JSON object fails the test with its text. */
function jsonLines(output: string): Line[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Line;
      } catch {
        throw new Error(`not a JSON line: ${line}`);
      }
    });
}

it('logs a job as JSON lines with jobId and item fields and never a task token', async () => {
  const attributes = (await demoCatalogue(harness.db)).slice(0, 2).map((r) => r.name);
  const worker = spawnWorkerProcess(harness.config, { logLevel: 'debug' });
  await worker.ready;
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner: 'worker-logs-test',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: attributes,
  });
  // Two attributes on the stand-in take seconds; a minute covers a busy machine.
  await waitFor(
    () => harness.jobs.job(jobId),
    (row) => row?.status === 'completed' || row?.status === 'failed',
    60_000,
    `job ${jobId} to end`,
  );
  await worker.kill('SIGTERM');
  expect(await worker.exited).toEqual({ code: 0, signal: null });

  const output = worker.output();
  const lines = jsonLines(output);
  expect(output).not.toMatch(/task_?token/i);
  expect(lines.every((l) => l.service === 'worker' && typeof l.level === 'string' && typeof l.time === 'string')).toBe(
    true,
  );

  // The activities' own lines and the SDK's lifecycle lines for each item carry the job and the item as fields.
  // (Not the SDK's "Activity started": it is written before the activity's input is decoded, so it has no item.)
  const perItem = lines.filter(
    (l) => l.jobId === jobId && l.activityType === 'generateValidationRules' && l.msg !== 'Activity started',
  );
  expect(new Set(perItem.map((l) => l.item))).toEqual(new Set(attributes));
  expect(perItem.some((l) => l.msg === 'generating validation rules' && l.attempt === 1)).toBe(true);
  expect(perItem.some((l) => l.msg === 'Activity completed' && l.workflowType !== undefined)).toBe(true);
  // The workflow's lines carry the job too.
  expect(lines.some((l) => l.jobId === jobId && l.msg === 'Workflow completed')).toBe(true);
  // The Rust core's lines come through the same logger (forwarded), as JSON with the job's id.
  expect(lines.some((l) => l.sdkComponent === 'core' && l.jobId === jobId)).toBe(true);
  expect(lines.map((l) => l.msg)).toContain('synapse-jobs worker: stopped');
});

it('writes the start and stop announcements only at warn, and nothing below it', async () => {
  const worker = spawnWorkerProcess(harness.config, { logLevel: 'warn' });
  await worker.ready;
  await worker.kill('SIGTERM');
  expect(await worker.exited).toEqual({ code: 0, signal: null });
  const lines = jsonLines(worker.output());
  const below = lines.filter((l) => l.level === 'debug' || l.level === 'trace');
  expect(below).toEqual([]);
  expect(lines.filter((l) => l.level === 'info').map((l) => l.msg)).toEqual([
    `synapse-jobs worker: task queue ${harness.config.TEMPORAL_TASK_QUEUE} polling`,
    'synapse-jobs worker: stopped',
  ]);
});

describe('the SDK metadata as log fields', () => {
  it('drops the task token (by key and inside text), names the workflow id jobId and keeps the rest flat', () => {
    const error = new Error('boom');
    expect(
      logFieldsOf({
        taskToken: 'c2VjcmV0',
        workflowId: 'job-1',
        workflowType: 'profilingJob',
        activityType: 'generateValidationRules',
        attempt: 2,
        item: 'email',
        action: 'NewWft(PreparedWFT { task_token: TaskToken(CiQwMWEy), attempt: 1 })',
        error,
        [Symbol.for('log_timestamp')]: 1n,
      }),
    ).toEqual({
      jobId: 'job-1',
      workflowType: 'profilingJob',
      activityType: 'generateValidationRules',
      attempt: 2,
      item: 'email',
      action: 'NewWft(PreparedWFT { attempt: 1 })',
      err: error,
    });
  });

  it("finds a per-item activity's item in its input", () => {
    expect(itemOf({ jobId: 'j', attribute: { name: 'email' } })).toBe('email');
    expect(itemOf({ jobId: 'j', attribute: 'email' })).toBe('email');
    expect(itemOf({ jobId: 'j', pdeId: 7 })).toBe('pde-7');
    expect(itemOf({ jobId: 'j', chunk: { documentId: 3, chunkIndex: 1 } })).toBe('chunk-3#1');
    expect(itemOf({ jobId: 'j', unit: { index: 4 } })).toBe('unit-4');
    expect(itemOf({ jobId: 'j' })).toBeUndefined();
  });
});
