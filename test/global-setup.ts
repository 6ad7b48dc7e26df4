// Once per `npm test`: a Temporal dev server (or the one named by TEMPORAL_ADDRESS), a fresh PostgreSQL
// database migrated and seeded with the demo data, and the workflow bundle built once for every worker.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ALL_SEARCH_ATTRIBUTES } from '../common/search-attributes';
import { ensureDatabaseExists, migrateToLatest, openDatabase } from '../db/connection';
import { seedDemoData } from '../db/demo-data';
import { loadConfigWithDatabase } from '../db/embedded-postgres';
import { temporalCliPath } from './support/temporal-cli';
import { devServerDynamicConfigArgs } from '../config/dev-server';

declare global {
  // Shared with global-teardown.ts, which Jest runs in the same process.
  var synapseTestEnvironment:
    { temporal?: TestWorkflowEnvironment; databaseUrl: string; bundlePath: string } | undefined;
}

export default async function globalSetup(): Promise<void> {
  const temporal = process.env.TEMPORAL_ADDRESS ? undefined : await startDevServer();
  try {
    if (temporal) process.env.TEMPORAL_ADDRESS = temporal.address;

    const databaseUrl = await createTestDatabase();
    process.env.DATABASE_URL = databaseUrl;

    const bundlePath = await bundleWorkflows();
    process.env.WORKFLOW_BUNDLE_PATH = bundlePath;
    globalThis.synapseTestEnvironment = { temporal, databaseUrl, bundlePath };
  } catch (error) {
    // Jest runs no global teardown when setup fails: the dev server (a child process) would keep it alive.
    await temporal?.teardown().catch(() => undefined);
    throw error;
  }
}

async function startDevServer(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      ip: '127.0.0.1',
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      // Same matcher settings as temporal-dev.sh (see there why), so priority and fairness behave as in development.
      extraArgs: devServerDynamicConfigArgs(),
      log: { format: 'pretty', level: 'warn' },
    },
  });
}

async function createTestDatabase(): Promise<string> {
  // DATABASE_URL's server, or with it unset the one on 127.0.0.1:5432 or the embedded PostgreSQL (db/embedded-postgres.ts).
  const url = new URL((await loadConfigWithDatabase()).DATABASE_URL);
  url.pathname = `/synapse_test_${Date.now()}_${process.pid}`;
  const databaseUrl = url.toString();
  await ensureDatabaseExists(databaseUrl);
  const db = openDatabase(databaseUrl, 2);
  try {
    await migrateToLatest(db);
    await seedDemoData(db);
  } finally {
    await db.destroy();
  }
  return databaseUrl;
}

async function bundleWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietLogger });
  const dir = path.resolve(__dirname, '../.tmp');
  mkdirSync(dir, { recursive: true });
  const bundlePath = path.join(dir, `workflow-bundle-${process.pid}.js`);
  writeFileSync(bundlePath, code);
  return bundlePath;
}

const ignore = () => undefined;
const quietLogger = { trace: ignore, debug: ignore, info: ignore, warn: ignore, error: console.error, log: ignore };
