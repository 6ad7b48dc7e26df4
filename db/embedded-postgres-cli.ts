// `npm run db:stop`: stops the embedded PostgreSQL that processes start when DATABASE_URL is unset and nothing
// answers on 127.0.0.1:5432 (db/embedded-postgres.ts). Its data stays in DATABASE_EMBEDDED_DIR for the next start.

import { loadConfig } from '../config';
import { embeddedDataDir, stopEmbeddedPostgres } from './embedded-postgres';

async function main(): Promise<void> {
  const dataDir = embeddedDataDir(loadConfig());
  const stopped = await stopEmbeddedPostgres(dataDir);
  console.log(
    stopped ? `stopped the embedded PostgreSQL of ${dataDir}` : `no embedded PostgreSQL running in ${dataDir}`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
