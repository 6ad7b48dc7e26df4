// What every benchmark starts for itself and tears down at the end: its own Temporal dev server, a fresh
// PostgreSQL database with the demo data, the LLM stand-in with a fixed latency, workers and a jobs client.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkerOptions } from '@temporalio/worker';
import { JobsClient } from '../../client/jobs-client';
import { ALL_SEARCH_ATTRIBUTES } from '../../common/search-attributes';
import { loadConfig, type Config } from '../../config';
import { dropDatabase, ensureDatabaseExists, migrateToLatest, openDatabase } from '../../db/connection';
import { seedDemoData } from '../../db/demo-data';
import { defaultResponders } from '../../llm-standin/responders/index';
import { startLlmStandin, type FaultPlan, type LlmStandin } from '../../llm-standin/server';
import { temporalCliPath } from '../../test/support/temporal-cli';
import { spawnWorkerProcess, type WorkerProcess } from '../../test/support/worker-process';
import { createJobsWorker } from '../../workers/create-worker';
import { devServerDynamicConfigArgs } from '../../config/dev-server';

export interface BenchEnvironment {
  config: Config;
  temporal: Client;
  db: ReturnType<typeof openDatabase>;
  jobs: JobsClient;
  standin: LlmStandin;
  /**
   * An in-process worker on the bench's task queue; `options` go to Worker.create (e.g.
   * maxTaskQueueActivitiesPerSecond).
   */
  startWorker(config?: Partial<Config>, options?: Partial<WorkerOptions>): Promise<InProcessWorker>;
  /** `node --import tsx workers/main.ts` as its own OS process, using the prebuilt workflow bundle. */
  spawnWorker(config?: Partial<Config>): WorkerProcess;
  close(): Promise<void>;
}

export interface InProcessWorker {
  stop(): Promise<void>;
}

export interface BenchEnvironmentOptions {
  faults: FaultPlan;
  config?: Partial<Config>;
}

const quiet = () => undefined;
const bundleLogger = { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: console.error, log: quiet };

export async function startBenchEnvironment(name: string, options: BenchEnvironmentOptions): Promise<BenchEnvironment> {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // bench:all runs every bench in one process: the runtime is installed once.
  }
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => console.error('cleanup:', error));
  };
  try {
    log(`${name}: starting a Temporal dev server, a fresh database, the LLM stand-in`);
    const server = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: temporalCliPath() },
        ip: '127.0.0.1',
        searchAttributes: ALL_SEARCH_ATTRIBUTES,
        // Same matcher settings as temporal-dev.sh and the tests, so queues behave as in development.
        extraArgs: devServerDynamicConfigArgs(),
        log: { format: 'pretty', level: 'error' },
      },
    });
    cleanups.push(() => server.teardown());

    const base = loadConfig(process.env);
    const url = new URL(base.DATABASE_URL);
    url.pathname = `/synapse_bench_${name.replace(/\W/g, '_')}_${Date.now()}`;
    const databaseUrl = url.toString();
    await ensureDatabaseExists(databaseUrl);
    if (!process.env.BENCH_KEEP_DB) cleanups.push(() => dropDatabase(databaseUrl));
    const db = openDatabase(databaseUrl, 8);
    cleanups.push(() => db.destroy());
    await migrateToLatest(db);
    await seedDemoData(db);

    const standin = await startLlmStandin({ responders: defaultResponders, faults: options.faults });
    cleanups.push(() => standin.close());

    const bundlePath = await bundleOnce();
    const config: Config = {
      ...base,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_TASK_QUEUE: `bench-${name}-${randomUUID().slice(0, 8)}`,
      OPENAI_BASE_URL: standin.url,
      WORKFLOW_BUNDLE_PATH: bundlePath,
      WORKER_SHUTDOWN_GRACE_MS: 1_000,
      JWT_SECRET: BENCH_JWT_SECRET,
      // Benchmarks count LLM calls: every job asks the stand-in, none is answered from the cache.
      JOB_DEFAULT_USE_LLM_CACHE: false,
      JOB_MAX_ACTIVE_PER_OWNER: 1_000,
      WORKER_METRICS_PORT: 0,
      WORKER_HEALTH_PORT: 0,
      ...options.config,
    };
    const temporal = new Client({ connection: server.connection, namespace: config.TEMPORAL_NAMESPACE });
    const jobs = new JobsClient(temporal, db, config);
    const processes = new Set<WorkerProcess>();
    cleanups.push(async () => {
      for (const child of processes) await child.kill('SIGKILL');
    });
    const workers = new Set<InProcessWorker>();
    cleanups.push(async () => {
      for (const worker of [...workers]) await worker.stop();
    });

    return {
      config,
      temporal,
      db,
      jobs,
      standin,
      async startWorker(overrides = {}, workerOptions = {}) {
        const { worker, close: closeWorker } = await createJobsWorker({ ...config, ...overrides }, workerOptions);
        const running = worker.run();
        const handle: InProcessWorker = {
          async stop() {
            if (!workers.delete(handle)) return;
            if (worker.getState() === 'RUNNING') worker.shutdown();
            await running;
            await closeWorker();
          },
        };
        workers.add(handle);
        return handle;
      },
      spawnWorker(overrides = {}) {
        const child = spawnWorkerProcess({ ...config, ...overrides });
        processes.add(child);
        return child;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

export const BENCH_JWT_SECRET = 'synapse-bench-secret-0123456789';

let bundled: Promise<string> | undefined;

/** The jobs workflows bundled once per process, shared by in-process workers and worker processes. */
function bundleOnce(): Promise<string> {
  bundled ??= (async () => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('../../workflows'),
      logger: bundleLogger,
    });
    const dir = path.resolve(__dirname, '../../.tmp');
    mkdirSync(dir, { recursive: true });
    const bundlePath = path.join(dir, `bench-workflow-bundle-${process.pid}.js`);
    writeFileSync(bundlePath, code);
    return bundlePath;
  })();
  return bundled;
}

export function log(line: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
}
