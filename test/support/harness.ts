// What every integration test needs, real and isolated: an LLM stand-in on its own port, a worker on
// the test file's own task queue (using the bundle built once in global setup), and a jobs client.

import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { apiReadiness, createApiMetrics } from '../../client/http/metrics';
import { createApiServer, listen, type ApiServer } from '../../client/http/server';
import { JobsClient } from '../../client/jobs-client';
import { loadConfig, type Config } from '../../config';
import { createLogger } from '../../config/logging';
import { temporalConnectionOptions } from '../../config/temporal-connection';
import { openDatabase } from '../../db/connection';
import { defaultResponders } from '../../llm-standin/responders/index';
import { startLlmStandin, type FaultPlan, type LlmStandin, type StandinResponder } from '../../llm-standin/server';
import { createJobsWorker } from '../../workers/create-worker';
import { trackUntilClosed } from './leftovers';

export const TEST_JWT_SECRET = 'synapse-test-secret-0123456789';

/** An hour's HS256 token for `subject` signed with TEST_JWT_SECRET, shaped as `synapse-jobs token` mints it. */
export const testToken = (subject: string, roles: string[] = []): Promise<string> =>
  new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));

export interface Harness {
  config: Config;
  standin: LlmStandin;
  jobs: JobsClient;
  db: ReturnType<typeof openDatabase>;
  temporal: Client;
  startWorker(overrides?: Partial<Config>): Promise<RunningWorker>;
  startApi(): Promise<RunningApi>;
  /** Closes everything the harness opened, each part even when another fails; a second call waits for the first. */
  close(): Promise<void>;
}

export interface RunningApi {
  url: string;
  /** A signed bearer token for `subject`, with `roles` (e.g. ['admin']). */
  tokenFor(subject: string, roles?: string[]): Promise<string>;
  /** fetch() against the API as `subject`. */
  request(
    subject: string,
    method: string,
    path: string,
    body?: unknown,
    roles?: string[],
  ): Promise<{ status: number; body: any }>;
}

export interface RunningWorker {
  stop(): Promise<void>;
}

/** Tests provoke failures on purpose, so workers log only errors; TEST_LOG_LEVEL=INFO shows every activity. */
function quietWorkerLogs(): void {
  try {
    Runtime.install({ logger: new DefaultLogger((process.env.TEST_LOG_LEVEL as 'INFO' | undefined) ?? 'ERROR') });
  } catch {
    // Already installed by an earlier suite in this process.
  }
}

export interface HarnessOptions {
  faults?: FaultPlan;
  config?: Partial<Config>;
  /** Answers replacing the stand-in's defaults for some tasks (e.g. a hostile answer to one task). */
  responders?: Record<string, StandinResponder>;
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  quietWorkerLogs();
  const standin = await startLlmStandin({
    responders: { ...defaultResponders, ...options.responders },
    faults: options.faults,
  });
  const config: Config = {
    ...loadConfig(process.env),
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    OPENAI_BASE_URL: standin.url,
    WORKER_SHUTDOWN_GRACE_MS: 1_000,
    JWT_SECRET: TEST_JWT_SECRET,
    // Tests count LLM calls, and share one database: a test that is about the cache turns it on.
    JOB_DEFAULT_USE_LLM_CACHE: false,
    // Several workers run at once (and in worker processes): fixed metrics and health ports would clash.
    WORKER_METRICS_PORT: 0,
    WORKER_HEALTH_PORT: 0,
    ...options.config,
  };
  const connection = await Connection.connect(temporalConnectionOptions(config)).catch(async (error) => {
    await standin.close();
    throw error;
  });
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const db = openDatabase(config.DATABASE_URL, 4);
  const workers = new Set<RunningWorker>();
  const servers: ApiServer[] = [];
  const jobs = new JobsClient(temporal, db, config);

  const harness: Harness = {
    config,
    standin,
    jobs,
    db,
    temporal,
    async startWorker(overrides = {}) {
      const { worker, close } = await createJobsWorker({ ...config, ...overrides });
      const running = worker.run();
      const handle: RunningWorker = {
        async stop() {
          workers.delete(handle);
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await running;
          await close();
        },
      };
      workers.add(handle);
      return handle;
    },
    async startApi() {
      const server = createApiServer(jobs, config, {
        metrics: createApiMetrics({ db }),
        readiness: apiReadiness({ db, connection, namespace: config.TEMPORAL_NAMESPACE }),
        // The access log, one line per request, only when asked for (TEST_LOG_LEVEL, as the workers' logs).
        logger: createLogger('api', { level: process.env.TEST_LOG_LEVEL ? 'info' : 'silent' }),
      });
      servers.push(server);
      const url = await listen(server, 0);
      const tokenFor = testToken;
      return {
        url,
        tokenFor,
        async request(subject, method, path, body, roles) {
          const response = await fetch(`${url}${path}`, {
            method,
            headers: {
              authorization: `Bearer ${await tokenFor(subject, roles)}`,
              ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            },
            body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
          });
          return { status: response.status, body: await response.json() };
        },
      };
    },
    close() {
      closing ??= closeAll();
      return closing;
    },
  };
  // A harness opened inside a test that then times out is never closed by the test's own `finally`: listed here,
  // test/support/environment.js closes it after the file, so its worker and connections cannot keep Jest alive.
  const untrack = trackUntilClosed(`the harness on task queue ${config.TEMPORAL_TASK_QUEUE}`, () => harness.close());
  let closing: Promise<void> | undefined;
  async function closeAll(): Promise<void> {
    untrack();
    const errors: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    };
    for (const server of servers) {
      // Fastify's close also ends idle keep-alive connections (forceCloseConnections).
      await attempt(() => server.close());
    }
    for (const worker of [...workers]) await attempt(() => worker.stop());
    await attempt(() => db.destroy());
    await attempt(() => connection.close());
    await attempt(() => standin.close());
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `closing the harness failed ${errors.length} times`);
  }
  return harness;
}
