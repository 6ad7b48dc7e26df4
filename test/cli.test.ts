// The `synapse-jobs` command as people run it: a separate process against the same server and database,
// starting and watching a job, controlling it, listing, and importing the legacy file.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { createHarness, type Harness } from './support/harness';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness({ faults: { latencyMs: 400 } });
  await harness.startWorker();
});
afterAll(() => harness.close());

/** Asynchronously, so the in-process worker keeps running while the CLI waits on it. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // The cache off as in the harness: earlier suites' stored answers would otherwise finish these jobs at once.
  const env = { ...process.env, DATABASE_URL: harness.config.DATABASE_URL, TEMPORAL_ADDRESS: harness.config.TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE: harness.config.TEMPORAL_TASK_QUEUE, JOB_DEFAULT_USE_LLM_CACHE: 'false' };
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [path.resolve(__dirname, '../bin/synapse-jobs.js'), ...args, '--as', 'cli-user'], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

it('starts a job and watches it to completion with a progress bar', async () => {
  const { code, stdout } = await cli('start', 'data_profiling', '--data-source', DEMO_DATA_SOURCE_ID, '--attributes', 'credit_score,apr_rate,billing_zip', '--watch');
  expect(code).toBe(0);
  const jobId = /started job (\S+)/.exec(stdout)?.[1];
  expect(jobId).toBeDefined();
  expect(stdout).toMatch(/100% completed/);
  const status = JSON.parse((await cli('status', jobId!)).stdout);
  expect(status).toMatchObject({ job_id: jobId, status: 'completed', completed_steps: 6, owner: 'cli-user' });
  expect((await cli('list')).stdout).toContain(jobId);
});

it('pauses and resumes a job, and says why when an action does not apply', async () => {
  // Slow enough that the job is still running when the next CLI process has booted, even on a busy machine.
  harness.standin.setFaults({ latencyMs: 2_000 });
  const started = await cli('start', 'data_profiling_llm_generation', '--data-source', DEMO_DATA_SOURCE_ID, '--attributes', 'credit_score,apr_rate,billing_zip,account_status,email_address,phone_number', '--concurrency', '1');
  const jobId = /started job (\S+)/.exec(started.stdout)![1]!;
  const paused = await cli('pause', jobId);
  expect({ code: paused.code, stderr: paused.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(paused.stdout).job_id).toBe(jobId);
  const refused = await cli('pause', jobId);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/error: cannot pause job .* it is paused/);
  await cli('resume', jobId);
  expect((await cli('watch', jobId)).code).toBe(0);
  harness.standin.setFaults({ latencyMs: 400 });
});

it("starts any job type with its own fields in --params", async () => {
  const params = JSON.stringify({ confidenceLevel: 0.95, marginOfError: 0.05, strataColumns: ['account_status'], allocation: 'proportional', seed: 5 });
  const { code, stdout } = await cli('start', 'intelligent_sampling', '--data-source', DEMO_DATA_SOURCE_ID, '--params', params, '--watch');
  expect(code).toBe(0);
  expect(stdout).toMatch(/100% completed/);
  const jobId = /started job (\S+)/.exec(stdout)![1]!;
  const status = JSON.parse((await cli('status', jobId)).stdout);
  expect(status).toMatchObject({ job_type: 'intelligent_sampling', status: 'completed', result: { seed: 5, sampleSize: { n: 370 } } });
});

it('rejects bad input with the field named and exit code 1', async () => {
  const { code, stderr } = await cli('start', 'data_profiling', '--data-source', 'nope');
  expect(code).toBe(1);
  expect(stderr).toMatch(/error: dataSourceId: unknown data source "nope"/);
});

it('imports a legacy file and reports the counts', async () => {
  // Its own small file: the shared sample's ids belong to the legacy-import suite's exact counts.
  const jobId = randomUUID();
  const legacy = {
    [jobId]: { job_id: jobId, job_type: 'data_profiling', status: 'completed', progress_percentage: 100, total_steps: 4, completed_steps: 4, created_at: '2025-01-10T14:48:00Z', metadata: { user_id: 7 } },
    broken: { job_id: 'broken', job_type: 'data_profiling', status: 'completed', created_at: '2025-01-10T14:48:00Z' },
  };
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'legacy-')), 'jobs_storage.json');
  writeFileSync(file, JSON.stringify(legacy));
  const { code, stdout } = await cli('import-legacy', file);
  expect(code).toBe(0);
  expect(stdout).toMatch(/2 records/);
  expect(stdout).toMatch(/imported\s+1/);
  expect(stdout).toMatch(/rejected\s+1/);
  expect((await harness.jobs.job(jobId))?.source).toBe('legacy');
});
