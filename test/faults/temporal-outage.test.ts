// The Temporal server stopped while the API serves: status answers from the stored snapshot, start and
// control answer 503 with Retry-After, each within 3 s, and nothing is half-written (no job row, no
// control request recorded); once the server is back, the same requests work and the job completes.

import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness, type RunningApi } from '../support/harness';
import { waitFor } from '../support/waiting';
import { createDevServer, type RestartableDevServer } from './support/dev-server';
import { waitUntilFinal } from './support/evidence';

/** What the API promises for a dependency failure: an answer (a 503 or the stored state) within this. */
const ANSWER_BOUND_MS = 3_000;

let server: RestartableDevServer;
let harness: Harness;
let api: RunningApi;
beforeAll(async () => {
  server = await createDevServer();
  await server.start();
  harness = await createHarness({ config: { TEMPORAL_ADDRESS: server.address } });
  await harness.startWorker();
  api = await harness.startApi();
}, 120_000);
afterAll(async () => {
  await harness?.close();
  await server?.dispose();
});

const owner = 'temporal-outage';

/** One API request as `owner`, with how long it took and its Retry-After header. */
async function timed(method: string, path: string, body?: unknown) {
  const started = Date.now();
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${await api.tokenFor(owner)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as any, ms: Date.now() - started };
}

const job = (attributeIds: string[]) => ({ jobType: 'data_profiling_llm_generation', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds, llmConcurrency: 1 });
const rowsOf = () => harness.db.selectFrom('jobs').select(['id', 'status', 'error', 'requested_action']).where('owner', '=', owner).orderBy('id').execute();

it('answers within 3 s while Temporal is stopped (status from the snapshot, start and control 503 with Retry-After), writes nothing half-way, and works again once it is back', async () => {
  const gate = harness.standin.gate({ itemPattern: 'credit_score' });
  try {
    const started = await timed('POST', '/api/v1/jobs', job(['credit_score', 'apr_rate']));
    expect(started.status).toBe(201);
    const jobId = started.body.job_id;
    await gate.waitUntilHeld(1);
    await waitFor(() => harness.jobs.job(jobId), (r) => r?.status === 'running', 30_000, 'the job row to say running');
    const rowsBefore = await rowsOf();

    await server.kill('SIGKILL');
    const answeredMs: string[] = [];
    for (const [method, path, body] of [
      ['POST', `/api/v1/jobs/${jobId}/pause`, undefined],
      ['POST', `/api/v1/jobs/${jobId}/cancel`, undefined],
      ['POST', '/api/v1/jobs', job(['billing_zip'])],
    ] as const) {
      const refused = await timed(method, path, body);
      expect({ path, status: refused.status, code: refused.body.error?.code, retryAfter: Number(refused.retryAfter) > 0 }).toEqual({ path, status: 503, code: 'dependency_unavailable', retryAfter: true });
      expect(refused.ms).toBeLessThan(ANSWER_BOUND_MS);
      answeredMs.push(`${method} ${path.replace(jobId, ':id')} ${refused.ms} ms`);
    }
    // After a control request (which never answers from the cache), so no live answer from before the stop is served.
    const status = await timed('GET', `/api/v1/jobs/${jobId}/status`);
    expect(status).toMatchObject({ status: 200, body: { job_id: jobId, status: 'running', progress_source: 'snapshot' } });
    expect(status.ms).toBeLessThan(ANSWER_BOUND_MS);
    expect(await rowsOf()).toEqual(rowsBefore);
    console.info(`temporal outage: answered ${[...answeredMs, `GET status ${status.ms} ms`].join(', ')}`);

    await server.start();
    const paused = await waitFor(() => timed('POST', `/api/v1/jobs/${jobId}/pause`), (r) => r.status !== 503, 60_000, 'pause to be accepted once Temporal is back');
    expect(paused.status).toBe(202);
    await waitFor(() => timed('GET', `/api/v1/jobs/${jobId}/status`), (r) => r.body.status === 'paused', 30_000, 'the job to be paused');
    expect((await timed('POST', `/api/v1/jobs/${jobId}/resume`)).status).toBe(202);
    gate.open();
    expect((await waitUntilFinal(harness, jobId)).status).toBe('completed');
    expect((await timed('POST', '/api/v1/jobs', job(['billing_zip']))).status).toBe(201);
  } finally {
    gate.open();
  }
}, 300_000);
