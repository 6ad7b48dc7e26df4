// The API process: `npm run api`. Serves the HTTP API, its OpenAPI document (/openapi.json) and reference page
// (/docs), and the jobs page until SIGINT/SIGTERM. Logs JSON lines through the shared logger: one per request (the
// access log) and the process's own start, stop and failures. Traces requests when the OTEL_* settings say so.

// First: tracing must start before http and pg load (client/http/tracing.ts).
import { nameRequestSpans } from './tracing';
import { Client, Connection } from '@temporalio/client';
import { createLogger } from '../../config/logging';
import { temporalConnectionOptions } from '../../config/temporal-connection';
import { currentTracing, stopTracing } from '../../config/tracing';
import { openDatabase } from '../../db/connection';
import { loadConfigWithDatabase } from '../../db/embedded-postgres';
import { JobsClient } from '../jobs-client';
import { apiReadiness, createApiMetrics } from './metrics';
import { createApiServer, listen } from './server';

const log = createLogger('api');

async function main(): Promise<void> {
  // DATABASE_URL, or the embedded PostgreSQL when it is unset (db/embedded-postgres.ts), said through the logger.
  const config = await loadConfigWithDatabase(process.env, (line) => log.info(line));
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const db = openDatabase(config.DATABASE_URL);
  // With tracing on, a workflow start carries the request's trace context to the worker in its headers.
  const interceptors = currentTracing()?.clientInterceptors;
  const jobs = new JobsClient(
    new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors }),
    db,
    config,
  );
  const server = createApiServer(jobs, config, {
    metrics: createApiMetrics({ db }),
    readiness: apiReadiness({ db, connection, namespace: config.TEMPORAL_NAMESPACE }),
    logger: log,
  });
  nameRequestSpans(server);
  const url = await listen(server, config.API_PORT, process.env.API_HOST ?? '127.0.0.1');
  log.info({ url }, `synapse-jobs API on ${url} (jobs page at /, reference at /docs; /healthz, /readyz, /metrics)`);
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping the API');
    // The last thing the process does: exit 0 once the server, the pool and the connection are closed and the last
    // spans sent, 1 if closing failed.
    server
      .close()
      .then(() => db.destroy())
      .then(() => connection.close())
      .then(() => stopTracing())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'closing the API failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  log.fatal({ err: error }, 'the API could not start');
  process.exit(1);
});
