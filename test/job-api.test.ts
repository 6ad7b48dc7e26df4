// The HTTP API's guarantees around jobs rather than their control: bearer tokens, owner isolation and
// admin access, the active-jobs quota, idempotent starts, clear 4xx errors with nothing started, and a
// status endpoint that keeps answering when every worker is gone.

import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { createHarness, type Harness, type RunningApi } from './support/harness';
import { sleep } from './support/waiting';

let harness: Harness;
let api: RunningApi;

beforeAll(async () => {
  harness = await createHarness({ faults: { latencyMs: 300 }, config: { JOB_MAX_ACTIVE_PER_OWNER: 2 } });
  api = await harness.startApi();
});
afterAll(() => harness.close());

const job = (extra: Record<string, unknown> = {}) => ({ jobType: 'data_profiling_llm_generation', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: ['credit_score', 'apr_rate', 'billing_zip', 'account_status'], llmConcurrency: 1, ...extra });
const workflowsOf = async (owner: string) => (await harness.temporal.workflow.count(`JobOwner = '${owner}'`)).count;

describe('authentication and ownership', () => {
  let jobId: string;
  beforeAll(async () => {
    const worker = await harness.startWorker();
    jobId = (await api.request('alice', 'POST', '/api/v1/jobs', job())).body.job_id;
    await harness.jobs.waitForJob(jobId);
    await worker.stop();
  });

  it('refuses requests without a valid bearer token with 401', async () => {
    const missing = await fetch(`${api.url}/api/v1/jobs/${jobId}/status`);
    expect(missing.status).toBe(401);
    const forged = await fetch(`${api.url}/api/v1/jobs/${jobId}/status`, { headers: { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.bad' } });
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  });

  it("answers 404 for someone else's job, to reads and to control alike", async () => {
    expect((await api.request('mallory', 'GET', `/api/v1/jobs/${jobId}/status`)).status).toBe(404);
    expect((await api.request('mallory', 'POST', `/api/v1/jobs/${jobId}/cancel`)).status).toBe(404);
    expect((await api.request('mallory', 'GET', '/api/v1/jobs')).body.jobs).toEqual([]);
  });

  it('lets an admin see and list every owner’s jobs', async () => {
    expect((await api.request('root', 'GET', `/api/v1/jobs/${jobId}/status`, undefined, ['admin'])).body.owner).toBe('alice');
    const listed = await api.request('root', 'GET', '/api/v1/jobs?owner=alice', undefined, ['admin']);
    expect(listed.body.jobs.map((j: { job_id: string }) => j.job_id)).toContain(jobId);
  });

  it('returns the legacy status shape, field for field', async () => {
    const { status, body } = await api.request('alice', 'GET', `/api/v1/jobs/${jobId}/status`);
    expect(status).toBe(200);
    for (const field of ['job_id', 'job_type', 'status', 'progress_percentage', 'current_step', 'total_steps', 'completed_steps', 'message', 'result', 'error', 'created_at', 'started_at', 'completed_at', 'metadata']) {
      expect(body).toHaveProperty(field);
    }
    expect(body).toMatchObject({ job_id: jobId, job_type: 'data_profiling_llm_generation', status: 'completed', progress_percentage: 100, total_steps: 4, completed_steps: 4, error: null });
  });
});

describe('starting jobs', () => {
  it('returns the same job for the same idempotency key instead of starting a second', async () => {
    const first = await api.request('idem', 'POST', '/api/v1/jobs', job({ idempotencyKey: 'report-12-cycle-3' }));
    const again = await api.request('idem', 'POST', '/api/v1/jobs', job({ idempotencyKey: 'report-12-cycle-3' }));
    expect(first.status).toBe(201);
    expect(again).toMatchObject({ status: 200, body: { job_id: first.body.job_id, created: false } });
    await sleep(500);
    expect(await workflowsOf('idem')).toBe(1);
    await api.request('idem', 'POST', `/api/v1/jobs/${first.body.job_id}/cancel`);
  });

  it('refuses a start over the active-jobs quota with 429 and starts nothing', async () => {
    const a = await api.request('busy', 'POST', '/api/v1/jobs', job());
    const b = await api.request('busy', 'POST', '/api/v1/jobs', job());
    expect([a.status, b.status]).toEqual([201, 201]);
    const refused = await api.request('busy', 'POST', '/api/v1/jobs', job());
    expect(refused.status).toBe(429);
    expect(refused.body.error.message).toMatch(/already has 2 active jobs \(limit 2\)/);
    await sleep(500);
    expect(await workflowsOf('busy')).toBe(2);
    for (const started of [a, b]) await api.request('busy', 'POST', `/api/v1/jobs/${started.body.job_id}/cancel`);
  });

  it.each([
    ['an unknown job type', 400, job({ jobType: 'data_profilng' }), 'jobType'],
    ['an unknown attribute', 400, job({ attributeIds: ['credit_score', 'nope'] }), 'attributeIds.1'],
    ['a wrong type', 400, job({ llmConcurrency: 'many' }), 'llmConcurrency'],
    ['malformed JSON', 400, '{"jobType": ', undefined],
    ['a JSON array', 400, '[1,2]', undefined],
    ['an oversized body', 413, job({ metadata: { blob: 'x'.repeat(1_100_000) } }), undefined],
  ])('answers %s with %i and a clear message, starting nothing', async (_name, status, body, field) => {
    const response = await api.request('careless', 'POST', '/api/v1/jobs', body);
    expect(response.status).toBe(status);
    expect(response.body.error.message).toEqual(expect.any(String));
    if (field) expect(response.body.error.field).toBe(field);
    expect(await workflowsOf('careless')).toBe(0);
  });

  it('answers unknown endpoints with 404 and wrong methods with 405', async () => {
    expect((await api.request('alice', 'GET', '/api/v1/nothing')).status).toBe(404);
    expect((await api.request('alice', 'DELETE', '/api/v1/jobs')).status).toBe(405);
  });
});

describe('status without workers', () => {
  it('keeps answering with the last stored progress when every worker is stopped', async () => {
    const worker = await harness.startWorker();
    const started = await api.request('poller', 'POST', '/api/v1/jobs', job({ attributeIds: ['credit_score', 'apr_rate', 'billing_zip', 'account_status', 'email_address', 'phone_number'] }));
    const jobId = started.body.job_id;
    for (let live = await api.request('poller', 'GET', `/api/v1/jobs/${jobId}/status`); live.body.completed_steps < 2; live = await api.request('poller', 'GET', `/api/v1/jobs/${jobId}/status`)) await sleep(100);
    await worker.stop();
    // A live answer from just before the stop may still be served to pollers while one query refreshes it.
    await sleep(harness.config.STATUS_LIVE_CACHE_MS + harness.config.STATUS_QUERY_TIMEOUT_MS);

    const before = Date.now();
    const { status, body } = await api.request('poller', 'GET', `/api/v1/jobs/${jobId}/status`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ job_id: jobId, status: 'running', progress_source: 'snapshot' });
    expect(body.completed_steps).toBeGreaterThanOrEqual(2);
    expect(Date.now() - before).toBeLessThan(harness.config.STATUS_QUERY_TIMEOUT_MS + 1_000);

    await harness.startWorker();
    expect((await harness.jobs.waitForJob(jobId))?.status).toBe('completed');
  });

  it('answers at once, from the stored state, when no worker polls the queue at all', async () => {
    const idle = await createHarness();
    try {
      const idleApi = await idle.startApi();
      const started = await idleApi.request('idle', 'POST', '/api/v1/jobs', job());
      expect(started.status).toBe(201);
      const before = Date.now();
      const { body } = await idleApi.request('idle', 'GET', `/api/v1/jobs/${started.body.job_id}/status`);
      expect(body).toMatchObject({ status: 'pending', progress_source: 'snapshot' });
      expect(Date.now() - before).toBeLessThan(idle.config.STATUS_QUERY_TIMEOUT_MS);
    } finally {
      await idle.close();
    }
  });
});
