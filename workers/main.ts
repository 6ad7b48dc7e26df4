// The worker process: `npm run worker` (or `npm run start:worker` from the build). Runs workflows and activities for
// the jobs task queue until SIGINT/SIGTERM, then shuts down gracefully (the SDK's runtime handles those signals).
// Serves Prometheus metrics on WORKER_METRICS_PORT and /healthz, /readyz on WORKER_HEALTH_PORT. Logs JSON lines on
// stdout (workers/logging.ts). Traces workflows and activities when the OTEL_* settings say so (workers/tracing.ts).

// First: the heap settings must hold before the rest loads (workers/memory.ts); then tracing, which must start before
// pg and http load (workers/tracing.ts).
import './memory';
import './tracing';
import { createLogger, type Logger } from '../config/logging';
import { stopTracing } from '../config/tracing';
import { loadConfigWithDatabase } from '../db/embedded-postgres';
import { createJobsWorker } from './create-worker';
import { startWorkerHealthServer, type WorkerHealthServer } from './health';
import { installWorkerRuntime } from './metrics';

let logger: Logger | undefined;

/**
 * The start and stop announcements are written at `info` even when LOG_LEVEL is `warn` or `error` (not when
 * `silent`): a supervisor, and test/support/worker-process.ts, read them to know the worker is polling or has drained.
 */
function announcer(root: Logger): Logger {
  return root.levelVal > 30 && root.level !== 'silent' ? root.child({}, { level: 'info' }) : root;
}

async function main(): Promise<void> {
  // LOG_LEVEL is read (and refused when unknown) before the rest of the settings, so the database line is JSON too.
  const root = createLogger('worker');
  logger = root;
  const config = await loadConfigWithDatabase(process.env, (line) => root.info(line));
  installWorkerRuntime(config, config.LOG_LEVEL, root);
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
  const announce = announcer(logger);
  announce.info(
    {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      temporalAddress: config.TEMPORAL_ADDRESS,
      namespace: config.TEMPORAL_NAMESPACE,
      maxConcurrentActivities: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
      llmBaseUrl: config.OPENAI_BASE_URL ?? "OpenAI's default endpoint",
      metricsUrl:
        config.WORKER_METRICS_PORT > 0
          ? `http://${config.WORKER_OPS_HOST}:${config.WORKER_METRICS_PORT}/metrics`
          : undefined,
      healthUrl: health ? `${health.url}/healthz` : undefined,
    },
    `synapse-jobs worker: task queue ${config.TEMPORAL_TASK_QUEUE} polling`,
  );
  try {
    await worker.run();
  } finally {
    await health?.close();
    await close();
    // The spans of the last activities and workflow tasks are still in the batch.
    await stopTracing();
  }
  announce.info('synapse-jobs worker: stopped');
}

main().catch((error: unknown) => {
  // Before the logger exists (an invalid configuration, LOG_LEVEL included) the reason still goes out as one JSON line.
  (logger ?? createLogger('worker', { level: 'error' })).fatal({ err: error }, 'synapse-jobs worker: failed');
  process.exit(1);
});
