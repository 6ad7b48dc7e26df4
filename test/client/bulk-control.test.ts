// Admin bulk control: pausing, resuming and cancelling every job of one owner in one call, through the API
// and the CLI, leaves other owners' jobs running, refuses non-admins, and audits each job and the bulk call.
// The jobs' LLM calls wait at a stand-in gate, so every job is mid-work for as long as the test needs it.

import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/waiting';

let harness: Harness;
let api: Awaited<ReturnType<Harness['startApi']>>;
beforeAll(async () => {
  harness = await createHarness();
  await harness.startWorker();
  api = await harness.startApi();
});
afterAll(() => harness.close());

const admin = { subject: 'ops', admin: true };
const attributeIds = [
  'credit_score',
  'apr_rate',
  'account_status',
  'email_address',
  'billing_zip',
  'product_type',
  'customer_id',
  'account_id',
];

const start = async (owner: string) =>
  (
    await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      llmConcurrency: 1,
    })
  ).jobId;
const statusOf = async (jobId: string) => (await harness.jobs.status(admin, jobId)).status;
const reach = (jobId: string, status: string) =>
  waitFor(
    () => statusOf(jobId),
    (s) => s === status,
    30_000,
    `job ${jobId} ${status}`,
  );

/**
 * A CLI process still running after this is killed (SIGTERM), so a hung one fails its test instead of outliving the
 * suite.
 */
const CLI_TIMEOUT_MS = 120_000;

async function cli(...args: string[]): Promise<{ code: number; stdout: string }> {
  const env = {
    ...process.env,
    DATABASE_URL: harness.config.DATABASE_URL,
    TEMPORAL_ADDRESS: harness.config.TEMPORAL_ADDRESS,
    TEMPORAL_TASK_QUEUE: harness.config.TEMPORAL_TASK_QUEUE,
    // The operator's machine: `--admin` needs an admin credential, and this is the operator's (docs/cli.md).
    SYNAPSE_CLI_OPERATOR: 'true',
  };
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [path.resolve(__dirname, '../../bin/synapse-jobs.js'), ...args],
      { env, timeout: CLI_TIMEOUT_MS },
    );
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

it("pauses, resumes and cancels one owner's jobs in one call each, leaving other owners' jobs running", async () => {
  // Holds every call of the three jobs: each (concurrency 1) is mid-item, whatever the machine's speed.
  const gate = harness.standin.gate({ items: attributeIds.map((a) => `${DEMO_DATA_SOURCE_ID}.${a}`) });
  const aliceJobs = [await start('bulk-alice'), await start('bulk-alice')];
  const bobJob = await start('bulk-bob');
  try {
    await gate.waitUntilHeld(3, 30_000);
    for (const jobId of [...aliceJobs, bobJob]) await reach(jobId, 'running');

    const paused = await api.request('ops', 'POST', '/api/v1/admin/jobs/pause', { owner: 'bulk-alice' }, ['admin']);
    expect(paused.status).toBe(202);
    expect(paused.body).toMatchObject({ action: 'pause', matched: 2, failed: [] });
    expect([...paused.body.done].sort()).toEqual([...aliceJobs].sort());
    for (const jobId of aliceJobs) await reach(jobId, 'paused');
    expect(await statusOf(bobJob)).toBe('running');

    const resumed = await cli('bulk', 'resume', '--owner', 'bulk-alice', '--as', 'ops', '--admin');
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ action: 'resume', matched: 2, failed: [] });
    for (const jobId of aliceJobs) await reach(jobId, 'running');

    const cancelled = await api.request(
      'ops',
      'POST',
      '/api/v1/admin/jobs/cancel',
      { owner: 'bulk-alice', jobType: 'data_profiling_llm_generation' },
      ['admin'],
    );
    expect(cancelled.body).toMatchObject({ action: 'cancel', matched: 2, failed: [] });
    for (const jobId of aliceJobs) expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'cancelled' });
    // Still held mid-item: bob's job was neither paused nor cancelled by alice's bulk calls.
    expect(await statusOf(bobJob)).toBe('running');
    expect(harness.standin.calls().filter((c) => c.jobId === bobJob)).toHaveLength(1);
    gate.open();
    expect(await harness.jobs.waitForJob(bobJob)).toMatchObject({ status: 'completed' });
  } finally {
    gate.open();
  }

  const audit = await harness.db
    .selectFrom('audit_log')
    .select(['action', 'job_id', 'outcome', 'actor'])
    .where('actor', '=', 'ops')
    .orderBy('id')
    .execute();
  // The database is shared with other suites (whose admins change budgets as 'ops' too): only bulk entries count here.
  const bulkEntries = audit
    .filter((a) => a.job_id === null && a.action.startsWith('bulk-'))
    .map((a) => [a.action, a.outcome]);
  expect(bulkEntries).toEqual([
    ['bulk-pause', 'ok'],
    ['bulk-resume', 'ok'],
    ['bulk-cancel', 'ok'],
  ]);
  for (const jobId of aliceJobs) {
    expect(audit.filter((a) => a.job_id === jobId).map((a) => a.action)).toEqual(['pause', 'resume', 'cancel']);
  }
  expect(audit.some((a) => a.job_id === bobJob)).toBe(false);
});

it('refuses bulk control to non-admins and a filter that names no owner or job type', async () => {
  const refused = await api.request('bulk-alice', 'POST', '/api/v1/admin/jobs/cancel', { owner: 'bulk-bob' });
  expect(refused).toEqual({
    status: 403,
    body: {
      type: 'urn:synapse-jobs:problem:forbidden',
      title: 'Forbidden',
      status: 403,
      detail: 'bulk cancel needs the admin role',
      instance: '/api/v1/admin/jobs/cancel',
      code: 'forbidden',
    },
  });
  const unfiltered = await api.request('ops', 'POST', '/api/v1/admin/jobs/pause', {}, ['admin']);
  expect(unfiltered.status).toBe(400);
  expect(unfiltered.body.detail).toMatch(/give owner or jobType/);
});

it('shows and changes the LLM budget through the API, for admins only', async () => {
  const changed = await api.request(
    'ops',
    'PUT',
    '/api/v1/llm-budget/bulk-test-model',
    { rpm: 42, tpm: 9_000, windowMs: 30_000 },
    ['admin'],
  );
  expect(changed.status).toBe(200);
  expect(changed.body).toMatchObject({
    model: 'bulk-test-model',
    limits: { rpm: 42, tpm: 9_000, window_ms: 30_000 },
    updated_by: 'ops',
    waiting: { calls: 0, by_owner: {} },
  });
  const shown = await api.request('ops', 'GET', '/api/v1/llm-budget', undefined, ['admin']);
  expect(shown.body.models.find((m: { model: string }) => m.model === 'bulk-test-model')).toMatchObject({
    limits: { rpm: 42 },
  });
  expect((await api.request('bulk-alice', 'GET', '/api/v1/llm-budget')).status).toBe(403);
  expect((await api.request('ops', 'PATCH', '/api/v1/llm-budget/bulk-test-model', { rpm: 0 }, ['admin'])).status).toBe(
    400,
  );
});
