// Undoes global-setup.ts: stops the dev server it started, drops the test database, removes the bundle.

import { rmSync } from 'node:fs';
import { dropDatabase } from '../db/connection';

export default async function globalTeardown(): Promise<void> {
  const environment = globalThis.synapseTestEnvironment;
  if (!environment) return;
  // Each step even when another fails, so a failed drop cannot leave the dev server (a child process) running.
  const steps = await Promise.allSettled([
    environment.temporal?.teardown(),
    process.env.KEEP_TEST_DATABASE ? undefined : dropDatabase(environment.databaseUrl),
  ]);
  rmSync(environment.bundlePath, { force: true });
  const failed = steps.flatMap((step) => (step.status === 'rejected' ? [step.reason] : []));
  if (failed.length) throw new AggregateError(failed, `global teardown failed ${failed.length} times`);
}
