// What every integration test needs, real and isolated: an LLM stand-in on its own port, a worker on
// the test file's own task queue (using the bundle built once in global setup), and a jobs client.

import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { JobsClient } from '../../client/jobs-client';
import { loadConfig, type Config } from '../../config';
import { openDatabase } from '../../db/connection';
import { defaultResponders } from '../../llm-standin/responders';
import { startLlmStandin, type FaultPlan, type LlmStandin } from '../../llm-standin/server';
import { createJobsWorker } from '../../workers/create-worker';

export interface Harness {
  config: Config;
  standin: LlmStandin;
  jobs: JobsClient;
  db: ReturnType<typeof openDatabase>;
  temporal: Client;
  startWorker(overrides?: Partial<Config>): Promise<RunningWorker>;
  close(): Promise<void>;
}

export interface RunningWorker {
  stop(): Promise<void>;
}

/** Tests provoke failures on purpose, so workers log only errors; TEST_LOG_LEVEL=INFO shows every activity. */
function quietWorkerLogs(): void {
  try {
    Runtime.install({ logger: new DefaultLogger((process.env.TEST_LOG_LEVEL as 'INFO' | undefined) ?? 'ERROR') });
  } catch {
    // Already installed by an earlier suite in this process.
  }
}

export async function createHarness(options: { faults?: FaultPlan; config?: Partial<Config> } = {}): Promise<Harness> {
  quietWorkerLogs();
  const standin = await startLlmStandin({ responders: defaultResponders, faults: options.faults });
  const config: Config = {
    ...loadConfig(process.env),
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    OPENAI_BASE_URL: standin.url,
    WORKER_SHUTDOWN_GRACE_MS: 1_000,
    ...options.config,
  };
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const db = openDatabase(config.DATABASE_URL, 4);
  const workers = new Set<RunningWorker>();

  return {
    config,
    standin,
    jobs: new JobsClient(temporal, db, config),
    db,
    temporal,
    async startWorker(overrides = {}) {
      const { worker, close } = await createJobsWorker({ ...config, ...overrides });
      const running = worker.run();
      const handle: RunningWorker = {
        async stop() {
          workers.delete(handle);
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await running;
          await close();
        },
      };
      workers.add(handle);
      return handle;
    },
    async close() {
      for (const worker of [...workers]) await worker.stop();
      await db.destroy();
      await connection.close();
      await standin.close();
    },
  };
}
