// The API process: `npm run api`. Serves the HTTP API and the jobs page until SIGINT/SIGTERM.

import { Client, Connection } from '@temporalio/client';
import { temporalConnectionOptions } from '../../config/temporal-connection';
import { openDatabase } from '../../db/connection';
import { loadConfigWithDatabase } from '../../db/embedded-postgres';
import { JobsClient } from '../jobs-client';
import { apiReadiness, createApiMetrics } from './metrics';
import { createApiServer, listen } from './server';

async function main(): Promise<void> {
  const config = await loadConfigWithDatabase();
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const db = openDatabase(config.DATABASE_URL);
  const jobs = new JobsClient(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), db, config);
  const server = createApiServer(jobs, config, {
    metrics: createApiMetrics({ db }),
    readiness: apiReadiness({ db, connection, namespace: config.TEMPORAL_NAMESPACE }),
  });
  const url = await listen(server, config.API_PORT, process.env.API_HOST ?? '127.0.0.1');
  console.log(`synapse-jobs API on ${url} (jobs page at ${url}/; /healthz, /readyz, /metrics)`);
  const stop = () =>
    server.close(() => {
      // The last thing the process does: exit 0 once the pool and the connection are closed, 1 if closing failed.
      db.destroy()
        .then(() => connection.close())
        .then(
          () => process.exit(0),
          (error: unknown) => {
            console.error('closing the API failed', error);
            process.exit(1);
          },
        );
    });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
