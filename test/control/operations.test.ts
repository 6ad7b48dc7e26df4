// Operations: a worker's Prometheus endpoint (Temporal runtime metrics plus our job and LLM counters),
// its /healthz and /readyz, and the API's /metrics and /readyz, against the real dev server and PostgreSQL.

import { createApiServer, listen, routeTemplate } from '../../client/http/server';
import { apiReadiness } from '../../client/http/metrics';
import { JobsClient } from '../../client/jobs-client';
import { openDatabase } from '../../db/connection';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { startWorkerHealthServer, type WorkerHealthServer } from '../../workers/health';
import { createJobsWorker, type JobsWorker } from '../../workers/create-worker';
import { installWorkerRuntime } from '../../workers/metrics';
import { createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/waiting';
import { freePort } from '../support/ports';
import { sample } from '../support/metrics-text';

const attributeIds = ['credit_score', 'apr_rate', 'account_status'];
const itemKey = (attribute: string) => `${DEMO_DATA_SOURCE_ID}.${attribute}`;
const JOB_TYPE = 'data_profiling_llm_generation';

let harness: Harness;
let metricsUrl: string;

const getText = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
};
const getJson = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as any };
};

beforeAll(async () => {
  const port = await freePort();
  // The runtime is one per process and must carry the exporter before the harness installs its quiet one.
  installWorkerRuntime({ WORKER_OPS_HOST: '127.0.0.1', WORKER_METRICS_PORT: port }, 'ERROR');
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
  harness = await createHarness({
    faults: {
      rules: [
        // One provider failure and one invalid answer, both asked again within the activity's first attempt.
        { kind: 'server_error', items: [itemKey('apr_rate')], firstCallsPerItem: 1, status: 503 },
        { kind: 'wrong_shape', items: [itemKey('account_status')], firstCallsPerItem: 1 },
      ],
    },
  });
});

afterAll(() => harness?.close());

describe('a worker', () => {
  let jobsWorker: JobsWorker;
  let running: Promise<void>;
  let health: WorkerHealthServer;

  beforeAll(async () => {
    jobsWorker = await createJobsWorker(harness.config);
    running = jobsWorker.worker.run();
    health = await startWorkerHealthServer({ ...jobsWorker, namespace: harness.config.TEMPORAL_NAMESPACE }, 0);
  });

  // Each part closed even when beforeAll stopped half-way or another part fails to close, so none is left open.
  afterAll(async () => {
    if (jobsWorker?.worker.getState() === 'RUNNING') jobsWorker.worker.shutdown();
    const results = await Promise.allSettled([running, health?.close()]);
    await jobsWorker?.close();
    for (const result of results) if (result.status === 'rejected') throw result.reason;
  });

  test('serves Temporal runtime metrics and job counters that match what the job did', async () => {
    const { jobId } = await harness.jobs.startJob({
      jobType: JOB_TYPE,
      owner: 'ops',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      llmConcurrency: 3,
    });
    // Three attributes, one call each asked again: done in seconds; 60 s is a job that never finishes.
    await waitFor(
      () => harness.jobs.job(jobId),
      (job) => job?.status === 'completed',
      60_000,
      `the ${JOB_TYPE} job ${jobId} completed`,
    );
    const calls = await harness.db
      .selectFrom('llm_calls')
      .select(['prompt_tokens', 'completion_tokens'])
      .where('job_id', '=', jobId)
      .execute();
    const standinCalls = attributeIds.reduce((sum, a) => sum + harness.standin.callCount(itemKey(a)), 0);
    expect(standinCalls).toBe(5); // three attributes, one 503 retried, one invalid answer asked again

    // The SDK labels our counters in camelCase (taskQueue, activityType, workflowType), its own in snake_case.
    const queue = { taskQueue: harness.config.TEMPORAL_TASK_QUEUE };
    // Workflow metrics reach the exporter through a sink, and the SDK counts a completed workflow only once the
    // server has accepted the final workflow task, which can be after the job's row says completed: poll for both.
    const sdkLabels = { task_queue: harness.config.TEMPORAL_TASK_QUEUE, workflow_type: 'dataProfilingLlmGeneration' };
    const { text } = await waitFor(
      () => getText(metricsUrl),
      (m) =>
        sample(m.text, 'synapse_jobs_finished', { job_type: JOB_TYPE }) === 1 &&
        sample(m.text, 'temporal_workflow_completed', sdkLabels) >= 1,
      10_000,
      'the worker metrics counting the finished job and its completed workflow',
    );
    expect(sample(text, 'synapse_job_steps_done', { ...queue, job_type: JOB_TYPE })).toBe(attributeIds.length);
    expect(sample(text, 'synapse_job_steps_failed', { ...queue, job_type: JOB_TYPE })).toBe(0);
    expect(sample(text, 'synapse_jobs_finished', { ...queue, job_type: JOB_TYPE, status: 'completed' })).toBe(1);
    // Calls that succeeded and the one that failed all reached the stand-in.
    expect(sample(text, 'synapse_llm_requests', { ...queue, model: harness.config.OPENAI_MODEL })).toBe(standinCalls);
    expect(sample(text, 'synapse_llm_errors', { ...queue, failure_type: 'LlmUnavailable' })).toBe(1);
    expect(sample(text, 'synapse_llm_invalid_outputs', queue)).toBe(1);
    // The 503 was waited out inside the attempt (retries by time): it spent no Temporal attempt.
    expect(sample(text, 'synapse_activity_retries', queue)).toBe(0);
    expect(sample(text, 'synapse_llm_cache_hits', queue)).toBe(0);
    const promptTokens = sample(text, 'synapse_llm_prompt_tokens', queue);
    expect(promptTokens).toBeGreaterThan(0);
    expect(promptTokens).toBe(calls.reduce((sum, c) => sum + c.prompt_tokens, 0));
    expect(sample(text, 'synapse_llm_completion_tokens', queue)).toBe(
      calls.reduce((sum, c) => sum + c.completion_tokens, 0),
    );
    // The SDK's own metrics come from the same endpoint.
    expect(sample(text, 'temporal_workflow_completed', sdkLabels)).toBe(1);
    expect(
      sample(text, 'temporal_activity_execution_failed', {
        task_queue: harness.config.TEMPORAL_TASK_QUEUE,
        activity_type: 'generateValidationRules',
      }),
    ).toBe(0);
    expect(text).toMatch(/^temporal_activity_schedule_to_start_latency_bucket\{/m);
  });

  test('is live and ready while it polls, and neither once it has stopped', async () => {
    expect(await getJson(`${health.url}/healthz`)).toEqual({ status: 200, body: { ok: true, worker: 'RUNNING' } });
    expect(await getJson(`${health.url}/readyz`)).toEqual({
      status: 200,
      body: { ok: true, checks: { worker: 'ok', database: 'ok', temporal: 'ok' } },
    });

    jobsWorker.worker.shutdown();
    await running;
    const ready = await getJson(`${health.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.checks.worker).toBe('worker is STOPPED');
    expect((await getJson(`${health.url}/healthz`)).status).toBe(503);
  });
});

describe('the API', () => {
  test('serves Prometheus text with request counts by route template and status, status sources and jobs by status', async () => {
    const api = await harness.startApi();
    // No worker runs this job, so status answers from the stored snapshot.
    const { jobId } = await harness.jobs.startJob({
      jobType: JOB_TYPE,
      owner: 'ops-api',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: ['credit_score'],
    });
    expect((await api.request('ops-api', 'GET', `/api/v1/jobs/${jobId}/status`)).status).toBe(200);
    expect((await api.request('ops-api', 'GET', `/api/v1/jobs/${jobId}/status`)).status).toBe(200);
    expect((await api.request('someone-else', 'GET', `/api/v1/jobs/${jobId}/status`)).status).toBe(404);

    const metrics = await getText(`${api.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const statusRoute = { method: 'GET', route: '/api/v1/jobs/:id/status' };
    expect(sample(metrics.text, 'synapse_api_requests_total', { ...statusRoute, status: '200' })).toBe(2);
    expect(sample(metrics.text, 'synapse_api_requests_total', { ...statusRoute, status: '404' })).toBe(1);
    expect(metrics.text).not.toContain(jobId);
    expect(sample(metrics.text, 'synapse_api_request_duration_seconds_count', statusRoute)).toBe(3);
    expect(sample(metrics.text, 'synapse_api_status_answers_total', { source: 'snapshot' })).toBe(2);
    const pending = await harness.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('type', '=', JOB_TYPE)
      .where('status', '=', 'pending')
      .executeTakeFirstOrThrow();
    expect(Number(pending.n)).toBeGreaterThanOrEqual(1);
    expect(sample(metrics.text, 'synapse_jobs', { job_type: JOB_TYPE, status: 'pending' })).toBe(Number(pending.n));
    expect(metrics.text).toMatch(/^process_cpu_user_seconds_total /m);
    await harness.temporal.workflow.getHandle(jobId).terminate('test done');
  });

  test('labels every endpoint by its route template and anything else `other`', () => {
    expect(routeTemplate('/api/v1/jobs/job-1')).toBe('/api/v1/jobs/:id/status');
    expect(routeTemplate('/api/v1/jobs/job-1/priority')).toBe('/api/v1/jobs/:id/priority');
    expect(routeTemplate('/api/v1/llm-budget')).toBe('/api/v1/llm-budget');
    expect(routeTemplate('/api/v1/llm-budget/gpt-4o-mini')).toBe('/api/v1/llm-budget/:model');
    expect(routeTemplate('/api/v1/admin/jobs/cancel')).toBe('/api/v1/admin/jobs/:action');
    expect(routeTemplate('/readyz')).toBe('/readyz');
    for (const probe of [
      '/wp-login.php',
      '/api/v1/jobs/a/b/c',
      '/api/v1/admin/jobs/drop',
      `/api/v1/jobs/${'x'.repeat(101)}`,
    ])
      expect(routeTemplate(probe)).toBe('other');
  });

  test('keeps /metrics behind API_METRICS_TOKEN when one is set', async () => {
    const token = 'metrics-token-0123456789';
    const server = createApiServer(harness.jobs, { ...harness.config, API_METRICS_TOKEN: token });
    try {
      const url = await listen(server, 0);
      expect((await fetch(`${url}/metrics`)).status).toBe(401);
      expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      const allowed = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(allowed.status).toBe(200);
      expect(sample(await allowed.text(), 'synapse_api_requests_total', { route: '/metrics', status: '401' })).toBe(2);
    } finally {
      await server.close();
    }
  });

  test('is ready when PostgreSQL and Temporal answer, and answers 503 naming PostgreSQL when it cannot reach it', async () => {
    const api = await harness.startApi();
    expect(await getJson(`${api.url}/readyz`)).toEqual({
      status: 200,
      body: { ok: true, checks: { database: 'ok', temporal: 'ok' } },
    });

    const unreachable = new URL(harness.config.DATABASE_URL);
    unreachable.port = String(await freePort());
    const db = openDatabase(unreachable.toString(), 1);
    const server = createApiServer(new JobsClient(harness.temporal, db, harness.config), harness.config, {
      readiness: apiReadiness({
        db,
        connection: harness.temporal.connection,
        namespace: harness.config.TEMPORAL_NAMESPACE,
      }),
    });
    try {
      const url = await listen(server, 0);
      const ready = await getJson(`${url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.body.ok).toBe(false);
      expect(ready.body.checks.temporal).toBe('ok');
      expect(ready.body.checks.database).toMatch(/ECONNREFUSED/);
      expect((await getJson(`${url}/healthz`)).status).toBe(200); // alive all the same: restarting would not bring PostgreSQL back
    } finally {
      await server.close();
      await db.destroy();
    }
  });
});
