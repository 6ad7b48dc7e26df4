// `npm run migrate`: creates the database named by DATABASE_URL if needed and migrates it to the latest schema.
// It writes no demo rows (a production database has no use for them): `npm run seed` does.

import { ensureDatabaseExists, migrateToLatest, openDatabase } from './connection';
import { loadConfigWithDatabase } from './embedded-postgres';

async function main(): Promise<void> {
  const { DATABASE_URL } = await loadConfigWithDatabase();
  await ensureDatabaseExists(DATABASE_URL);
  const db = openDatabase(DATABASE_URL, 1);
  try {
    const applied = await migrateToLatest(db);
    console.log(applied.length ? applied.join('\n') : 'already at the latest schema');
    console.log('demo data is not written here: `npm run seed` writes it');
  } finally {
    await db.destroy();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
