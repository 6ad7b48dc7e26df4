// `npm run seed`: the demo data alone. Creates the database if needed, migrates it to the latest schema, then
// writes the demo table's 10 000 rows unless they are already there, so running it twice changes nothing.

import { loadConfigWithDatabase } from './embedded-postgres';
import { ensureDatabaseExists, migrateToLatest, openDatabase } from './connection';
import { DEMO_TABLE, seedDemoData } from './demo-data';

async function main(): Promise<void> {
  const { DATABASE_URL } = await loadConfigWithDatabase();
  await ensureDatabaseExists(DATABASE_URL);
  const db = openDatabase(DATABASE_URL, 1);
  try {
    const applied = await migrateToLatest(db);
    console.log(applied.length ? `migrated: ${applied.join(', ')}` : 'schema: already at the latest');
    const { inserted } = await seedDemoData(db);
    console.log(
      inserted
        ? `demo data: seeded ${inserted} rows into ${DEMO_TABLE}`
        : `demo data: ${DEMO_TABLE} already holds its rows, nothing to do`,
    );
  } finally {
    await db.destroy();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
