// Undoes global-setup.ts: stops the dev server it started, drops the test database, removes the bundle.

import { rmSync } from 'node:fs';
import { dropDatabase } from '../db/connection';

export default async function globalTeardown(): Promise<void> {
  const environment = globalThis.synapseTestEnvironment;
  if (!environment) return;
  await environment.temporal?.teardown();
  if (!process.env.KEEP_TEST_DATABASE) await dropDatabase(environment.databaseUrl);
  rmSync(environment.bundlePath, { force: true });
}
