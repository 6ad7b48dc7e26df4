// The production build (`npm run build`, scripts/build-dist.ts) run as production runs it: the built worker and API
// started with plain node from the build (no tsx loaded, no workflow bundling at start), a job started through the
// API with a bearer token and completed by the built worker, then both stopped with SIGTERM and exiting cleanly; and a
// built worker that traces, on the build's traced bundle.
// Built into .tmp/ (inside the repository, so node_modules resolves), leaving a developer's dist/ alone.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import { createHarness, TEST_JWT_SECRET, type Harness } from '../support/harness';
import { trackUntilClosed } from '../support/leftovers';
import { startOtlpReceiver } from '../support/otlp-receiver';
import { freePort } from '../support/ports';
import { waitFor } from '../support/waiting';

const root = path.resolve(__dirname, '../..');
const outDir = path.join(root, '.tmp', `build-test-${process.pid}`);

let harness: Harness;
const running = new Set<Child>();

beforeAll(async () => {
  // tsc over the runtime folders and a webpack bundle: about 25 s alone, a few minutes on a machine busy with tests.
  const build = spawnSync('npm', ['run', '--silent', 'build', '--', '--out-dir', outDir], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (build.status !== 0) throw new Error(`npm run build failed (${build.status}):\n${build.stdout}\n${build.stderr}`);
  harness = await createHarness();
}, 360_000);

afterAll(async () => {
  await Promise.all([...running].map((child) => child.stop('SIGKILL')));
  await harness?.close();
  rmSync(outDir, { recursive: true, force: true });
});

interface Child {
  process: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `node <built file>` as production runs it: no NODE_OPTIONS (so no `--import tsx`), no WORKFLOW_BUNDLE_PATH (so the
 * worker must find the build's own bundle), and a preload that fails the process if anything requires tsx.
 */
function startBuilt(file: string, settings: Record<string, unknown>): Child {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(settings))
    env[key] = value === undefined ? undefined : typeof value === 'string' ? value : JSON.stringify(value);
  delete env.NODE_OPTIONS;
  delete env.WORKFLOW_BUNDLE_PATH;
  const child = spawn(process.execPath, ['--require', path.join(outDir, 'no-tsx.js'), path.join(outDir, file)], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const untrack = trackUntilClosed(`built ${file} (pid ${child.pid})`, async () => void (await handle.stop('SIGKILL')));
  const handle: Child = {
    process: child,
    output: () => output,
    exited,
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  running.add(handle);
  void exited.then(() => (running.delete(handle), untrack()));
  return handle;
}

/** Every .js file under `dir`. */
function builtFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? builtFiles(full) : name.endsWith('.js') ? [full] : [];
  });
}

it('builds what the start scripts run, with the workflow bundles and without tsx', () => {
  const scripts = (
    JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  for (const name of ['start:worker', 'start:api', 'start:migrate', 'start:standin']) {
    const [command, file] = scripts[name]!.split(' ');
    expect(command).toBe('node');
    expect(statSync(path.join(outDir, path.relative('dist', file!))).isFile()).toBe(true);
  }
  expect(statSync(path.join(outDir, 'workflow-bundle.js')).size).toBeGreaterThan(0);
  // The bundle a worker that traces uses (workers/workflow-bundle.ts): the same workflows with the tracing interceptors.
  expect(readFileSync(path.join(outDir, 'workflow-bundle.js'), 'utf8')).not.toContain(
    'OpenTelemetryInboundInterceptor',
  );
  expect(readFileSync(path.join(outDir, 'workflow-bundle-traced.js'), 'utf8')).toContain(
    'OpenTelemetryInboundInterceptor',
  );
  const needingTsx = builtFiles(outDir).filter((file) =>
    /require\(["']tsx|from ["']tsx|import\(["']tsx/.test(readFileSync(file, 'utf8')),
  );
  expect(needingTsx).toEqual([]);
});

it('runs a job through the built API and worker, then both stop cleanly on SIGTERM', async () => {
  writeFileSync(
    path.join(outDir, 'no-tsx.js'),
    `const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  if (/^tsx(\\/|$)/.test(request)) { console.error('tsx required at run time: ' + request); process.exit(70); }
  return load.call(this, request, ...rest);
};
`,
  );
  const [apiPort, healthPort] = [await freePort(), await freePort()];
  const settings = {
    ...harness.config,
    WORKFLOW_BUNDLE_PATH: undefined,
    LOG_LEVEL: 'info',
    WORKER_HEALTH_PORT: healthPort,
    API_PORT: apiPort,
    API_HOST: '127.0.0.1',
  };
  const worker = startBuilt('workers/main.js', settings);
  const api = startBuilt('client/http/main.js', settings);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  // Connecting to Temporal and PostgreSQL and loading the bundle: seconds; a minute covers a busy machine.
  await waitFor(
    async () => worker.output(),
    (output) => output.includes('synapse-jobs worker: task queue') || worker.process.exitCode !== null,
    60_000,
    'the built worker to poll its task queue',
  );
  await waitFor(
    () =>
      fetch(`${apiUrl}/healthz`).then(
        (r) => r.status,
        () => 0,
      ),
    (status) => status === 200 || api.process.exitCode !== null,
    60_000,
    'the built API to answer /healthz',
  );
  expect({ worker: worker.process.exitCode, api: api.process.exitCode }).toEqual({ worker: null, api: null });
  expect((await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(200);

  const token = await new SignJWT({ roles: [] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('build-test')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const attributes = (await demoCatalogue(harness.db)).slice(0, 2).map((r) => r.name);
  const started = await fetch(`${apiUrl}/api/v1/jobs`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      jobType: 'data_profiling_llm_generation',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: attributes,
    }),
  });
  const body = (await started.json()) as { job_id?: string };
  expect({ status: started.status, jobId: typeof body.job_id }).toEqual({ status: 201, jobId: 'string' });

  // Two attributes on the stand-in: seconds; a minute covers a busy machine.
  const status = await waitFor(
    () =>
      fetch(`${apiUrl}/api/v1/jobs/${body.job_id}`, { headers }).then((r) => r.json() as Promise<{ status?: string }>),
    (job) => ['completed', 'failed', 'cancelled'].includes(job.status ?? ''),
    60_000,
    `job ${body.job_id} to end`,
  );
  expect(status.status).toBe('completed');
  // The job page and the chart.js it loads resolve from the build too (chart.js from node_modules, beside dist/).
  const results = await fetch(`${apiUrl}/api/v1/jobs/${body.job_id}/results`, { headers });
  expect({
    status: results.status,
    family: ((await results.json()) as { results?: { family?: string } }).results?.family,
  }).toEqual({ status: 200, family: 'profiling' });
  const detail = await fetch(`${apiUrl}/jobs/${body.job_id}`);
  const chartSrc = /<script src="(\/assets\/[^"]+)"/.exec(await detail.text())?.[1];
  expect({ status: detail.status, chartSrc: typeof chartSrc }).toEqual({ status: 200, chartSrc: 'string' });
  const chart = await fetch(`${apiUrl}${chartSrc}`);
  expect({ status: chart.status, type: chart.headers.get('content-type') }).toEqual({
    status: 200,
    type: 'text/javascript; charset=utf-8',
  });
  expect(await chart.text()).toContain('Chart.js v4');

  // SIGTERM: the worker drains and exits 0, the API closes its server, pool and connection and exits 0.
  const [workerExit, apiExit] = await Promise.all([worker.stop('SIGTERM'), api.stop('SIGTERM')]);
  expect({ worker: workerExit, api: apiExit }).toEqual({
    worker: { code: 0, signal: null },
    api: { code: 0, signal: null },
  });

  // The worker ran the build's prebuilt bundle: bundling at start logs "Workflow bundle created".
  expect(worker.output()).not.toContain('Workflow bundle created');
  expect(worker.output()).toContain('synapse-jobs worker: stopped');
  expect(`${worker.output()}${api.output()}`).not.toContain('tsx required at run time');
});

it('runs a built worker that traces on the traced bundle: its workflow spans reach the collector', async () => {
  const receiver = await startOtlpReceiver();
  try {
    const worker = startBuilt('workers/main.js', {
      ...harness.config,
      WORKFLOW_BUNDLE_PATH: undefined,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      // The batch goes out every 200 ms rather than the SDK's 5 s, so the test waits for spans less long.
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    // Connecting and loading the bundle: seconds; a minute covers a busy machine.
    await waitFor(
      async () => worker.output(),
      (output) => output.includes('synapse-jobs worker: task queue') || worker.process.exitCode !== null,
      60_000,
      'the built worker that traces to poll its task queue',
    );
    const attributeIds = (await demoCatalogue(harness.db)).slice(0, 1).map((r) => r.name);
    const { jobId } = await harness.jobs.startFor(
      { subject: 'build-test', admin: false },
      { jobType: 'data_profiling_llm_generation', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds },
    );
    // One attribute on the stand-in: seconds; the workflow's span is exported when it ends, within a 200 ms batch.
    const spans = await waitFor(
      async () =>
        receiver.spans().filter((s) => s.attributes.workflowId === jobId || s.attributes.temporalWorkflowId === jobId),
      (found) => found.some((s) => s.name === 'RunWorkflow:dataProfilingLlmGeneration'),
      60_000,
      `the RunWorkflow span of job ${jobId}`,
    );
    expect(spans.every((s) => s.service === 'synapse-jobs-worker')).toBe(true);
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(worker.output()).not.toContain('Workflow bundle created');
    expect(worker.output()).not.toContain('tsx required at run time');
  } finally {
    await receiver.close();
  }
});
