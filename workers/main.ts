// The worker process: `npm run worker`. Runs workflows and activities for the jobs task queue until
// SIGINT/SIGTERM, then shuts down gracefully (the SDK's runtime handles those signals). Serves Prometheus
// metrics on WORKER_METRICS_PORT and /healthz, /readyz on WORKER_HEALTH_PORT.

import type { LogLevel } from '@temporalio/worker';
import { loadConfigWithDatabase } from '../db/embedded-postgres';
import { createJobsWorker } from './create-worker';
import { startWorkerHealthServer, type WorkerHealthServer } from './health';
import { installWorkerRuntime } from './metrics';

async function main(): Promise<void> {
  const config = await loadConfigWithDatabase();
  installWorkerRuntime(config, (process.env.LOG_LEVEL as LogLevel | undefined) ?? 'INFO');
  const { worker, db, connection, close } = await createJobsWorker(config);
  let health: WorkerHealthServer | undefined;
  if (config.WORKER_HEALTH_PORT > 0) {
    health = await startWorkerHealthServer(
      { worker, db, connection, namespace: config.TEMPORAL_NAMESPACE },
      config.WORKER_HEALTH_PORT,
      config.WORKER_OPS_HOST,
    ).catch((error: NodeJS.ErrnoException) => {
      throw new Error(
        `cannot serve /healthz on ${config.WORKER_OPS_HOST}:${config.WORKER_HEALTH_PORT} (set WORKER_HEALTH_PORT to a free port, or 0): ${error.message}`,
        { cause: error },
      );
    });
  }
  const ops = [
    config.WORKER_METRICS_PORT > 0
      ? `metrics on http://${config.WORKER_OPS_HOST}:${config.WORKER_METRICS_PORT}/metrics`
      : undefined,
    health ? `health on ${health.url}/healthz, /readyz` : undefined,
  ].filter(Boolean);
  console.log(
    `synapse-jobs worker: task queue ${config.TEMPORAL_TASK_QUEUE} on ${config.TEMPORAL_ADDRESS} (namespace ${config.TEMPORAL_NAMESPACE}), ` +
      `${config.WORKER_MAX_CONCURRENT_ACTIVITIES} concurrent activities, LLM at ${config.OPENAI_BASE_URL ?? "OpenAI's default endpoint"}` +
      (ops.length ? `; ${ops.join('; ')}` : ''),
  );
  try {
    await worker.run();
  } finally {
    await health?.close();
    await close();
  }
  console.log('synapse-jobs worker: stopped');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
