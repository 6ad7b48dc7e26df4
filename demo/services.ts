// Brings up what the demo needs when it is not already there: the Temporal dev server (left running, so
// the Web UI link keeps working after the demo ends) and the PostgreSQL database with schema and data.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporalConnectionOptions } from '../config/temporal-connection';
import { ensureDatabaseExists, migrateToLatest, openDatabase } from '../db/connection';
import { seedDemoData } from '../db/demo-data';

/**
 * A local address gets the project's dev server: started if none listens, reused (with any missing
 * search attributes registered) if one does. Any other address is taken as it is.
 */
export async function connectToTemporal(address: string): Promise<Connection> {
  const [host, port] = address.split(':');
  if (host === '127.0.0.1' || host === 'localhost') {
    execFileSync('bash', [path.resolve(__dirname, '../temporal-dev.sh'), '--background'], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, TEMPORAL_PORT: port ?? '7233' },
    });
  }
  return Connection.connect({
    ...temporalConnectionOptions({ TEMPORAL_ADDRESS: address }),
    connectTimeout: '10 seconds',
  });
}

export async function prepareDatabase(databaseUrl: string) {
  try {
    await ensureDatabaseExists(databaseUrl);
  } catch (error) {
    const where = new URL(databaseUrl);
    throw new Error(
      `Cannot reach PostgreSQL at ${where.host} (${(error as Error).message}). Start it or point DATABASE_URL at ` +
        `one; with DATABASE_URL unset and nothing on 127.0.0.1:5432 the demo starts its own (docs/operations.md).`,
    );
  }
  const db = openDatabase(databaseUrl);
  await migrateToLatest(db);
  const { inserted } = await seedDemoData(db);
  return { db, inserted };
}
