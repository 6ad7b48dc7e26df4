// The Temporal server stopped while the API serves: status answers from the stored snapshot, start and
// control answer 503 with Retry-After — the first after one deadline, the rest refused at once because
// Temporal is known unreachable — and nothing is half-written (no job row, no control request recorded);
// once the server is back, the same requests work and the job completes. How long each answer takes is
// measured by bench/temporal-outage.ts (`npm run bench:temporal-outage`), not asserted here.

import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness, type RunningApi } from '../support/harness';
import { waitFor } from '../support/waiting';
import { createDevServer, type RestartableDevServer } from './support/dev-server';
import { waitUntilFinal } from './support/evidence';

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

/**
 * One API request as `owner`, with its Retry-After header. A request that gets no answer at all within 30 s
 * fails as a hang (the API's own bound is TEMPORAL_RPC_TIMEOUT_MS, 2 s; the figure is the bench's).
 */
async function request(method: string, path: string, body?: unknown) {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${await api.tokenFor(owner)}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as any,
  };
}

const job = (attributeIds: string[]) => ({
  jobType: 'data_profiling_llm_generation',
  dataSourceId: DEMO_DATA_SOURCE_ID,
  attributeIds,
  llmConcurrency: 1,
});
const rowsOf = () =>
  harness.db
    .selectFrom('jobs')
    .select(['id', 'status', 'error', 'requested_action'])
    .where('owner', '=', owner)
    .orderBy('id')
    .execute();

it('answers while Temporal is stopped (status from the snapshot, start and control 503 with Retry-After, refused at once once known unreachable), writes nothing half-way, and works again once it is back', async () => {
  const gate = harness.standin.gate({ itemPattern: 'credit_score' });
  try {
    const started = await request('POST', '/api/v1/jobs', job(['credit_score', 'apr_rate']));
    expect(started.status).toBe(201);
    const jobId = started.body.job_id;
    await gate.waitUntilHeld(1);
    await waitFor(
      () => harness.jobs.job(jobId),
      (r) => r?.status === 'running',
      30_000,
      'the job row to say running',
    );
    const rowsBefore = await rowsOf();

    await server.kill('SIGKILL');
    const refusals: string[] = [];
    for (const [method, path, body] of [
      ['POST', `/api/v1/jobs/${jobId}/pause`, undefined],
      ['POST', `/api/v1/jobs/${jobId}/cancel`, undefined],
      ['POST', '/api/v1/jobs', job(['billing_zip'])],
    ] as const) {
      const refused = await request(method, path, body);
      expect({
        path,
        status: refused.status,
        code: refused.body.code,
        retryAfter: Number(refused.retryAfter) > 0,
      }).toEqual({ path, status: 503, code: 'dependency_unavailable', retryAfter: true });
      refusals.push(refused.body.detail);
    }
    // The first request finds Temporal gone (no answer, or past its one deadline); every later one is refused from
    // that knowledge without asking Temporal again, so it waits for no deadline.
    expect(refusals[0]).toMatch(/^Temporal (did not answer|is unreachable)\b/);
    expect(refusals.slice(1)).toEqual([
      expect.stringMatching(/^Temporal is unreachable\b/),
      expect.stringMatching(/^Temporal is unreachable\b/),
    ]);
    // After a control request (which never answers from the cache), so no live answer from before the stop is served
    // as live: the stored snapshot, or the live answer the start gave if that is newer (last-live: never older than
    // what the client was shown).
    const status = await request('GET', `/api/v1/jobs/${jobId}/status`);
    expect(status).toMatchObject({
      status: 200,
      body: { job_id: jobId, status: 'running', progress_source: expect.stringMatching(/^(snapshot|last-live)$/) },
    });
    expect(status.body.progress_revision).toBeGreaterThanOrEqual(started.body.progress_revision ?? 0);
    expect(await rowsOf()).toEqual(rowsBefore);

    await server.start();
    const paused = await waitFor(
      () => request('POST', `/api/v1/jobs/${jobId}/pause`),
      (r) => r.status !== 503,
      60_000,
      'pause to be accepted once Temporal is back',
    );
    expect(paused.status).toBe(202);
    await waitFor(
      () => request('GET', `/api/v1/jobs/${jobId}/status`),
      (r) => r.body.status === 'paused',
      30_000,
      'the job to be paused',
    );
    expect((await request('POST', `/api/v1/jobs/${jobId}/resume`)).status).toBe(202);
    gate.open();
    expect((await waitUntilFinal(harness, jobId)).status).toBe('completed');
    expect((await request('POST', '/api/v1/jobs', job(['billing_zip']))).status).toBe(201);
  } finally {
    gate.open();
  }
}, 300_000);
