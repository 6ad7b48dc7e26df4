// PostgreSQL pulling the rug: the backends serving the workers are terminated again and again in the middle
// of a job (pg_terminate_backend, as an operator or a failover would), and under FAULTS_PG_RESTART=1 the
// server itself restarts. Activities retry on fresh connections; the job completes with each item once.
//
// The cuts land mid-job by construction: the job's LLM calls wait at a gate, and each round cuts the workers'
// backends while its in-flight calls are held, then lets a few calls go and waits until those items are stored
// (over freshly opened connections) before the next cut. After the gated rounds the cuts go on every second,
// as before, through the rest of the job (its rule scans included).

import { execFileSync } from 'node:child_process';
import { sql } from 'kysely';
import pg from 'pg';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { sleep, waitFor } from '../support/waiting';
import { endAllSpawnedWorkers, spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { demoAttributes, expectEachItemStoredOnce, storedCount, waitUntilFinal } from './support/evidence';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';

let harness: Harness;
let proxy: TcpProxy;
const workers: WorkerProcess[] = [];
beforeAll(async () => {
  harness = await createHarness();
  const database = new URL(harness.config.DATABASE_URL);
  // The workers reach PostgreSQL through a forwarder, so their backends (and only theirs) can be told apart.
  proxy = await startTcpProxy('127.0.0.1', { host: database.hostname, port: Number(database.port || 5432) });
});
afterAll(async () => {
  await endAllSpawnedWorkers();
  await proxy?.close();
  await harness?.close();
});

/** Cuts made while the job's calls are held, and how many items each round lets through between cuts. */
const GATED_ROUNDS = 4;
const RELEASED_PER_ROUND = 3;

function workerConfig() {
  const database = new URL(harness.config.DATABASE_URL);
  database.port = String(proxy.port);
  return { ...harness.config, DATABASE_URL: database.toString(), WORKER_DB_POOL_SIZE: 5 };
}

async function terminateWorkerBackends(): Promise<number> {
  const ports = proxy.upstreamPorts();
  if (ports.length === 0) return 0;
  // Two statements on purpose: in one, the planner may call pg_terminate_backend before filtering by port.
  const { rows } = await sql<{
    pid: number;
  }>`select pid from pg_stat_activity where datname = current_database() and client_port = any(${ports}::int[]) and pid <> pg_backend_pid()`.execute(
    harness.db,
  );
  if (rows.length === 0) return 0;
  await sql`select pg_terminate_backend(pid) from unnest(${rows.map((r) => r.pid)}::int[]) as pid`.execute(harness.db);
  return rows.length;
}

it('completes a job whose workers lose their PostgreSQL connections again and again mid-job, storing each attribute once', async () => {
  for (let i = 0; i < 2; i++) workers.push(spawnWorkerProcess(workerConfig()));
  await Promise.all(workers.map((w) => w.ready));
  const attributes = await demoAttributes(harness, 40);
  const gate = harness.standin.gate({});
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling',
    owner: 'pg-fault',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: attributes,
    llmConcurrency: 6,
  });

  const cutWhileHeld: number[] = [];
  for (let round = 0; round < GATED_ROUNDS; round++) {
    // All six in-flight calls held: the job is mid-way, each worker's pool holds the connections it stored with.
    // A cut item's activity may need one retry (back-off 2 s) to reach the gate again; 60 s allows a busy machine.
    await gate.waitUntilHeld(6, 60_000);
    cutWhileHeld.push(await terminateWorkerBackends());
    const stored = await storedCount(harness, jobId);
    gate.release(RELEASED_PER_ROUND);
    await waitFor(
      () => storedCount(harness, jobId),
      (n) => n >= stored + RELEASED_PER_ROUND,
      60_000,
      `${RELEASED_PER_ROUND} items stored over fresh connections after round ${round + 1}`,
    );
  }
  gate.open();
  let rounds = 0;
  let terminated = cutWhileHeld.reduce((a, b) => a + b, 0);
  // The rest of the job, cut every second: a cadence of faults, not a wait for anything.
  while ((await harness.jobs.job(jobId))?.status === 'running') {
    await sleep(1_000);
    terminated += await terminateWorkerBackends();
    rounds++;
  }
  const job = await waitUntilFinal(harness, jobId);

  // Every gated round found worker backends to cut: the pools kept the connections their stores had used.
  expect(cutWhileHeld.filter((n) => n === 0)).toEqual([]);
  expect(job.status).toBe('completed');
  expect(job.result).toMatchObject({ attributesProfiled: attributes.length, attributesFailed: 0 });
  await expectEachItemStoredOnce(harness, jobId, attributes);
  // A lost connection is a failed query, not a dead worker: both processes are still up.
  expect(workers.map((w) => w.process.exitCode)).toEqual([null, null]);
  console.info(
    `postgres figures: ${cutWhileHeld.join('/')} worker backends cut in the ${GATED_ROUNDS} gated rounds, ${terminated} in all over ${GATED_ROUNDS + rounds} rounds; job ${job.status}`,
  );
});

const API_APPLICATION_NAME = 'synapse-test-api-pg-cut';

it('retries a read whose pooled connection is terminated mid-request, and answers a control so cut off with 503 and Retry-After', async () => {
  // Its own queue with no worker: the job stays pending, and nothing but the API touches its row. Its connections
  // carry their own application_name, so the backend to cut is the API's and never another waiter on the lock
  // (the running worker's reconciler reads the jobs table every 2 s and can queue on the same lock).
  const apiDatabaseUrl = new URL(harness.config.DATABASE_URL);
  apiDatabaseUrl.searchParams.set('application_name', API_APPLICATION_NAME);
  const idle = await createHarness({ config: { DATABASE_URL: apiDatabaseUrl.toString() } });
  const api = await idle.startApi();
  const jobId = (
    await api.request('pg-cut', 'POST', '/api/v1/jobs', {
      jobType: 'data_profiling_llm_generation',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: ['credit_score'],
    })
  ).body.job_id;
  const locker = new pg.Client({ connectionString: harness.config.DATABASE_URL });
  await locker.connect();
  try {
    /**
     * Sends `request` while the jobs table is locked, terminates the API backend that waits on the lock, then unlocks.
     */
    const cutMidRequest = async <T>(request: () => Promise<T>): Promise<T> => {
      await locker.query('begin');
      await locker.query('lock table jobs in access exclusive mode');
      const answer = request();
      const { rows } = await waitFor(
        () =>
          sql<{
            pid: number;
          }>`select pid from pg_stat_activity where datname = current_database() and application_name = ${API_APPLICATION_NAME} and wait_event_type = 'Lock' and query ilike '%"jobs"%'`.execute(
            harness.db,
          ),
        (r) => r.rows.length === 1,
        10_000,
        "the API's read of the jobs table to wait on the lock",
      );
      await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(harness.db);
      await locker.query('rollback');
      return answer;
    };
    const read = await cutMidRequest(() => api.request('pg-cut', 'GET', `/api/v1/jobs/${jobId}/status`));
    expect(read).toMatchObject({ status: 200, body: { job_id: jobId, status: 'pending' } });
    const token = await api.tokenFor('pg-cut');
    const control = await cutMidRequest(() =>
      fetch(`${api.url}/api/v1/jobs/${jobId}/pause`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }),
    );
    expect({
      status: control.status,
      code: ((await control.json()) as any).code,
      retryAfter: Number(control.headers.get('retry-after')) > 0,
    }).toEqual({ status: 503, code: 'dependency_unavailable', retryAfter: true });
  } finally {
    await locker.end();
    await idle.close();
  }
});

const restartIt = process.env.FAULTS_PG_RESTART === '1' ? it : it.skip;

// Restarts the shared PostgreSQL server: opt-in only, and never while another test run uses it.
restartIt(
  'completes a job across a restart of the PostgreSQL server',
  async () => {
    const others = execFileSync('pgrep', ['-f', 'jest'], { encoding: 'utf8' })
      .split('\n')
      .filter((pid) => pid && Number(pid) !== process.pid && Number(pid) !== process.ppid);
    if (others.length > 2)
      throw new Error(`other test runs (${others.join(', ')}) share this PostgreSQL server; not restarting it`);
    // Its own worker, straight to PostgreSQL, so the test does not depend on the one above having run.
    const worker = spawnWorkerProcess(harness.config);
    workers.push(worker);
    await worker.ready;
    const attributes = await demoAttributes(harness, 30);
    // Mid-job by construction: three calls pass, the next six wait at a gate until the server is back.
    const gate = harness.standin.gate({ fromCall: harness.standin.calls().length + 4 });
    const { jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling',
      owner: 'pg-restart',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: attributes,
      llmConcurrency: 6,
    });
    await gate.waitUntilHeld(6, 60_000);
    await waitFor(
      () => storedCount(harness, jobId),
      (n) => n === 3,
      30_000,
      'the three items whose calls passed the gate stored',
    );
    const version = execFileSync('ls', ['/etc/postgresql'], { encoding: 'utf8' }).trim().split('\n')[0]!;
    const restartedAt = Date.now();
    execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart']);
    // The test's own pooled connections died too: the first reads after the restart may fail.
    const storedAtRestart = (await waitFor(
      () => storedCount(harness, jobId).catch(() => undefined),
      (n) => n !== undefined,
      60_000,
      'PostgreSQL answering the test again',
    ))!;
    gate.open();
    const job = await waitUntilFinal(harness, jobId, 240_000);
    expect(storedAtRestart).toBe(3);
    expect(job.status).toBe('completed');
    await expectEachItemStoredOnce(harness, jobId, attributes);
    expect(worker.process.exitCode).toBeNull();
    console.info(
      `postgres restart: ${storedAtRestart}/${attributes.length} stored after the restart, job ${job.status} ${((Date.now() - restartedAt) / 1_000).toFixed(1)} s later`,
    );
  },
  300_000,
);
