// Jobs whose workflow ended outside the control contract, or never started: a workflow terminated with the
// stock `temporal` CLI, and an API process SIGKILLed between writing a job's row and starting its workflow.
// Each job's row reaches a true final state (never before JOB_START_BOUND_MS for one that never started, on
// PostgreSQL's clock), control answers 409, and its quota slot is free. How soon: docs/failure-handling.md.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { sql } from 'kysely';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, TEST_JWT_SECRET, type Harness, type RunningApi } from '../support/harness';
import { freePort } from '../support/ports';
import { temporalCliPath } from '../support/temporal-cli';
import { waitFor } from '../support/waiting';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';

/** The reconciler's bound for a row whose workflow never appeared, short here so the test need not wait 30 s. */
const START_BOUND_MS = 5_000;

let harness: Harness;
let api: RunningApi;
beforeAll(async () => {
  harness = await createHarness({ config: { JOB_MAX_ACTIVE_PER_OWNER: 1, JOB_START_BOUND_MS: START_BOUND_MS } });
  await harness.startWorker();
  api = await harness.startApi();
});
afterAll(() => harness?.close());

const job = (attributeIds: string[]) => ({
  jobType: 'data_profiling_llm_generation',
  dataSourceId: DEMO_DATA_SOURCE_ID,
  attributeIds,
  llmConcurrency: 1,
});
const history = async (owner: string, jobId: string) =>
  (await api.request(owner, 'GET', `/api/v1/jobs/${jobId}/history`)).body.events.map(
    (e: { action: string; outcome: string }) => `${e.action}:${e.outcome.split(':')[0]}`,
  );

it('records a job terminated from the temporal CLI as failed with the reason, answers control with 409 and frees its quota slot', async () => {
  const owner = 'terminated-from-cli';
  const gate = harness.standin.gate({ itemPattern: 'credit_score' });
  try {
    const started = await api.request(owner, 'POST', '/api/v1/jobs', job(['credit_score', 'apr_rate']));
    expect(started.status).toBe(201);
    const jobId = started.body.job_id;
    await gate.waitUntilHeld(1);

    await promisify(execFile)(temporalCliPath(), [
      'workflow',
      'terminate',
      '--workflow-id',
      jobId,
      '--reason',
      'stopped by the on-call operator',
      '--address',
      harness.config.TEMPORAL_ADDRESS,
      '--namespace',
      harness.config.TEMPORAL_NAMESPACE,
    ]);
    const row = await waitFor(
      () => harness.jobs.job(jobId),
      (r) => r?.status !== 'running' && r?.status !== 'pending',
      30_000,
      'the terminated job’s row to leave running',
    );

    expect(row).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^Terminated in Temporal by .+: stopped by the on-call operator$/),
    });
    expect(row?.completed_at).toBeInstanceOf(Date);
    const status = (await api.request(owner, 'GET', `/api/v1/jobs/${jobId}/status`)).body;
    expect(status).toMatchObject({ status: 'failed', error: row?.error, in_flight: 0, eta_seconds: null });

    const cancel = await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/cancel`);
    expect(cancel.status).toBe(409);
    expect(cancel.body.detail).toMatch(/it is failed/);
    expect((await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/pause`)).status).toBe(409);
    expect(await history(owner, jobId)).toEqual(['start:ok', 'reconcile:ok', 'cancel:refused', 'pause:refused']);

    // The slot the terminated job held is free: the owner's one allowed job starts.
    const next = await api.request(owner, 'POST', '/api/v1/jobs', job(['billing_zip']));
    expect(next.status).toBe(201);
  } finally {
    gate.open();
  }
});

describe('an API process killed mid-start', () => {
  let proxy: TcpProxy | undefined;
  let apiProcess: ChildProcess | undefined;
  afterEach(async () => {
    if (apiProcess && apiProcess.exitCode === null && apiProcess.signalCode === null) {
      await new Promise((resolve) => {
        apiProcess!.once('exit', resolve);
        apiProcess!.kill('SIGKILL');
      });
    }
    await proxy?.close();
  });

  /**
   * client/http/main.ts as its own process, reaching Temporal through `proxy`; resolves with its URL once it serves.
   */
  async function spawnApi(temporalAddress: string): Promise<string> {
    const port = await freePort();
    const env = {
      ...process.env,
      DATABASE_URL: harness.config.DATABASE_URL,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_TASK_QUEUE: harness.config.TEMPORAL_TASK_QUEUE,
      JWT_SECRET: TEST_JWT_SECRET,
      API_PORT: String(port),
      // Longer than the test takes to see the row and kill the process: the start must still be hanging then.
      TEMPORAL_RPC_TIMEOUT_MS: '20000',
    };
    apiProcess = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../../client/http/main.ts')], {
      cwd: path.resolve(__dirname, '../..'),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      apiProcess!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('synapse-jobs API on')) resolve();
      });
      apiProcess!.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      apiProcess!.once('exit', (code) => reject(new Error(`API exited (${code}) before serving:\n${output}`)));
    });
    return `http://127.0.0.1:${port}`;
  }

  it('fails the job whose row was written but whose workflow was never started, within the bound, and frees its quota slot', async () => {
    const owner = 'killed-mid-start';
    const [host, port] = harness.config.TEMPORAL_ADDRESS.split(':');
    proxy = await startTcpProxy('127.0.0.1', { host: host!, port: Number(port) });
    const url = await spawnApi(`${proxy.host}:${proxy.port}`);

    proxy.hold();
    const answer = fetch(`${url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await api.tokenFor(owner)}`, 'content-type': 'application/json' },
      body: JSON.stringify(job(['credit_score'])),
    }).then(
      (r) => r.status,
      () => 'no answer',
    );
    const row = await waitFor(
      () => harness.db.selectFrom('jobs').selectAll().where('owner', '=', owner).executeTakeFirst(),
      (r) => r !== undefined,
      30_000,
      'the row the API writes before it starts the workflow',
    );
    expect(row?.status).toBe('pending');
    await new Promise((resolve) => {
      apiProcess!.once('exit', resolve);
      apiProcess!.kill('SIGKILL');
    });
    expect(await answer).toBe('no answer');
    await expect(harness.temporal.workflow.getHandle(row!.id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);

    const failed = await waitFor(
      () => harness.jobs.job(row!.id),
      (r) => r?.status !== 'pending',
      START_BOUND_MS + 20_000,
      'the row of the job that never started to be failed',
    );
    expect(failed).toMatchObject({ status: 'failed', error: expect.stringMatching(/^Never started:/) });
    // Not before the bound: the reconcile entry is at least JOB_START_BOUND_MS after the row was written, both on
    // PostgreSQL's clock (a start may still be under way until then, so failing it sooner could be a lie).
    const { rows } = await sql<{ age_ms: number }>`
      select extract(epoch from (a.at - j.created_at)) * 1000 as age_ms from audit_log a join jobs j on j.id = a.job_id
      where a.job_id = ${row!.id} and a.action = 'reconcile'`.execute(harness.db);
    expect(rows).toHaveLength(1);
    expect(Number(rows[0]!.age_ms)).toBeGreaterThanOrEqual(START_BOUND_MS);
    const next = await api.request(owner, 'POST', '/api/v1/jobs', job(['apr_rate']));
    expect(next.status).toBe(201);
  });
});
