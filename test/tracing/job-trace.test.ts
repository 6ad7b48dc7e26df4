// One trace per job: the API and worker run as processes from their own entry points (tracing is global to a process,
// and must start before http and pg load) and export to an OTLP receiver here; a job started through the API is one
// trace from the request through the workflow and its activities to each LLM HTTP call and SQL statement.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import { createHarness, testToken, type Harness } from '../support/harness';
import { trackUntilClosed } from '../support/leftovers';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver';
import { freePort } from '../support/ports';
import { ancestry, formatTraceTree, httpUrl, type TraceSpan } from '../support/trace-tree';
import { waitFor } from '../support/waiting';
import { endAllSpawnedWorkers, spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';

const root = path.resolve(__dirname, '../..');
/** OTLP's SpanKind values the assertions name. */
const SERVER = 2;
const CLIENT = 3;

let harness: Harness;
let receiver: OtlpReceiver;
let worker: WorkerProcess | undefined;
let api: ApiProcess | undefined;

/** The tracing settings both processes get: on, exporting to the receiver. */
const tracingEnv = () => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  // The batch goes out every 200 ms rather than the SDK's 5 s, so the test waits for spans less long.
  OTEL_BSP_SCHEDULE_DELAY: '200',
});

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  harness = await createHarness();
});

afterAll(async () => {
  await api?.stop('SIGKILL');
  await endAllSpawnedWorkers();
  await harness?.close();
  await receiver?.close();
});

interface ApiProcess {
  url: string;
  output(): string;
  stop(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The API's entry point as `npm run api` runs it, on a free port, with `env` over the harness's settings. */
async function spawnApi(env: Record<string, string>): Promise<ApiProcess> {
  const port = await freePort();
  const settings = {
    ...process.env,
    ...harness.config,
    API_PORT: port,
    API_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...env,
  };
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'client/http/main.ts')], {
    cwd: root,
    env: Object.fromEntries(
      Object.entries(settings)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]),
    ),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const stop = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  const untrack = trackUntilClosed(`the API process ${child.pid}`, async () => void (await stop('SIGKILL')));
  void exited.then(untrack);
  const url = `http://127.0.0.1:${port}`;
  // Connecting to Temporal and PostgreSQL: seconds; a minute covers a machine busy with other suites.
  await waitFor(
    () =>
      fetch(`${url}/healthz`).then(
        (r) => r.status,
        () => 0,
      ),
    (status) => status === 200 || child.exitCode !== null,
    60_000,
    'the API process to answer /healthz',
  );
  if (child.exitCode !== null) throw new Error(`the API exited (${child.exitCode}) before it answered:\n${output}`);
  return { url, output: () => output, stop };
}

/** `promise`, or a failure naming `what` after `ms`. */
async function withinMs<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The spans of one trace, once `complete` holds for them. */
async function traceOnceComplete(traceId: string, complete: (spans: TraceSpan[]) => boolean): Promise<TraceSpan[]> {
  // Spans arrive in batches, the workflow's when it ends; 30 s is far beyond a few 200 ms batch delays.
  return waitFor(
    async () => receiver.spans().filter((s) => s.traceId === traceId),
    complete,
    30_000,
    `trace ${traceId} to reach the receiver with its workflow, activity, LLM and SQL spans`,
  );
}

it('follows a job in one trace from the API request through the workflow and activities to each LLM call and SQL statement', async () => {
  // The worker bundles its workflows at start (no WORKFLOW_BUNDLE_PATH), so the tracing interceptors are in the bundle.
  worker = spawnWorkerProcess(harness.config, { env: { ...tracingEnv(), WORKFLOW_BUNDLE_PATH: undefined } });
  api = await spawnApi(tracingEnv());
  // Bundling the workflows under webpack: tens of seconds; three minutes cover a machine busy with other suites.
  await withinMs(worker.ready, 180_000, 'the traced worker to poll its task queue');

  const attributeIds = (await demoCatalogue(harness.db)).slice(0, 2).map((row) => row.name);
  const headers = { authorization: `Bearer ${await testToken('tracing')}`, 'content-type': 'application/json' };
  const started = await fetch(`${api.url}/api/v1/jobs`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jobType: 'data_profiling_llm_generation', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds }),
  });
  const jobId = ((await started.json()) as { job_id: string }).job_id;
  expect(started.status).toBe(201);
  // Two attributes on the stand-in: seconds.
  const ended = await waitFor(
    () => fetch(`${api!.url}/api/v1/jobs/${jobId}`, { headers }).then((r) => r.json() as Promise<{ status?: string }>),
    (job) => ['completed', 'failed', 'cancelled'].includes(job.status ?? ''),
    60_000,
    `job ${jobId} to end`,
  );
  expect(ended.status).toBe('completed');

  // The request that started the job is the root of its trace.
  const request = await waitFor(
    async () =>
      receiver
        .spans()
        .find((s) => s.kind === SERVER && s.name === 'POST /api/v1/jobs' && s.service === 'synapse-jobs-api'),
    (span) => span !== undefined,
    30_000,
    'the API request span',
  );
  const isLlmCall = (s: TraceSpan) => s.kind === CLIENT && String(httpUrl(s)).startsWith(harness.standin.url);
  const isSql = (s: TraceSpan) => s.attributes['db.system'] === 'postgresql' && s.name.startsWith('pg.query');
  const spans = await traceOnceComplete(
    request!.traceId,
    (trace) =>
      trace.some((s) => s.name === 'RunWorkflow:dataProfilingLlmGeneration') &&
      trace.filter(isLlmCall).length >= attributeIds.length &&
      trace.some((s) => isSql(s) && s.service === 'synapse-jobs-worker'),
  );

  const tree = formatTraceTree(spans);
  mkdirSync(path.join(root, '.tmp'), { recursive: true });
  writeFileSync(path.join(root, '.tmp', 'trace-tree.txt'), `${tree}\n`);
  console.log(`job ${jobId}: ${spans.length} spans in trace ${request!.traceId}\n${tree}`);

  // One trace for the job: every span the worker made for it (its workflow run, each activity) carries the request's
  // trace id. (A status read is a request of its own, with its own trace.)
  const ofJob = receiver
    .spans()
    .filter(
      (s) =>
        s.service === 'synapse-jobs-worker' &&
        (s.attributes.temporalWorkflowId === jobId || s.attributes.workflowId === jobId),
    );
  expect(ofJob.length).toBeGreaterThan(0);
  expect([...new Set(ofJob.map((s) => s.traceId))]).toEqual([request!.traceId]);
  expect(request!.parentSpanId).toBeUndefined();

  // Each LLM HTTP call hangs under the activity that made it, under the workflow, under the API request.
  const llmCalls = spans.filter(isLlmCall);
  expect(llmCalls.length).toBeGreaterThanOrEqual(attributeIds.length);
  for (const call of llmCalls) {
    const chain = ancestry(call, spans).map((s) => `${s.name} [${s.service}]`);
    expect(chain).toEqual([
      `POST [synapse-jobs-worker]`,
      `RunActivity:generateValidationRules [synapse-jobs-worker]`,
      `StartActivity:generateValidationRules [synapse-jobs-worker]`,
      `RunWorkflow:dataProfilingLlmGeneration [synapse-jobs-worker]`,
      `StartWorkflow:dataProfilingLlmGeneration [synapse-jobs-api]`,
      `POST /api/v1/jobs [synapse-jobs-api]`,
    ]);
  }

  // SQL statements appear under the activities that ran them, and under the request for the API's own.
  const workerSql = spans.filter((s) => isSql(s) && s.service === 'synapse-jobs-worker');
  const parentsOfSql = new Set(workerSql.map((s) => ancestry(s, spans)[1]?.name.split(':')[0]));
  expect(parentsOfSql).toEqual(new Set(['RunActivity']));
  expect(spans.some((s) => isSql(s) && s.service === 'synapse-jobs-api')).toBe(true);

  // Both processes stop cleanly with tracing on, flushing what is left.
  const [workerExit, apiExit] = await Promise.all([
    worker.kill('SIGTERM').then(() => worker!.exited),
    api.stop('SIGTERM'),
  ]);
  expect({ worker: workerExit, api: apiExit }).toEqual({
    worker: { code: 0, signal: null },
    api: { code: 0, signal: null },
  });
  // Three minutes for the worker's bundling at most, one for the job and its spans, on a busy machine.
}, 300_000);
