// `npm run migrate`: creates the database named by DATABASE_URL if needed and migrates it to the latest schema.

import { loadConfig } from '../config';
import { ensureDatabaseExists, migrateToLatest, openDatabase } from './connection';

async function main(): Promise<void> {
  const { DATABASE_URL } = loadConfig();
  await ensureDatabaseExists(DATABASE_URL);
  const db = openDatabase(DATABASE_URL, 1);
  try {
    const applied = await migrateToLatest(db);
    console.log(applied.length ? applied.join('\n') : 'already at the latest schema');
  } finally {
    await db.destroy();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
