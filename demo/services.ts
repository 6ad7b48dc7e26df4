// Brings up what the demo needs when it is not already there: the Temporal dev server (left running, so
// the Web UI link keeps working after the demo ends) and the PostgreSQL database with schema and data.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { ensureDatabaseExists, migrateToLatest, openDatabase } from '../db/connection';
import { seedDemoData } from '../db/demo-data';

export async function connectToTemporal(address: string): Promise<Connection> {
  try {
    return await Connection.connect({ address, connectTimeout: '2 seconds' });
  } catch {
    console.log(`No Temporal server at ${address}: starting the dev server (./temporal-dev.sh --background)…`);
    const [, port] = address.split(':');
    execFileSync('bash', [path.resolve(__dirname, '../temporal-dev.sh'), '--background'], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, TEMPORAL_PORT: port ?? '7233' },
    });
    return Connection.connect({ address, connectTimeout: '10 seconds' });
  }
}

export async function prepareDatabase(databaseUrl: string) {
  await ensureDatabaseExists(databaseUrl);
  const db = openDatabase(databaseUrl);
  await migrateToLatest(db);
  const { inserted } = await seedDemoData(db);
  return { db, inserted };
}
