// Builds a worker for the jobs task queue from configuration: real dependencies (database pool, openai
// client) injected into the activities, workflow code from a prebuilt bundle when one is given, and the
// job reconciler (workers/reconciler.ts) running beside it until close(). With tracing on (config/tracing.ts), the
// activity interceptors, the workflow interceptors in the bundle and the workflow span sink join it.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { createActivities } from '../activities';
import { createOpenAiClient } from '../activities/llm/llm';
import { PostgresLlmBudget } from '../activities/llm/budget/llm-budget-postgres';
import { PostgresJobGate, watchPauses } from '../activities/llm/job-gate';
import type { Config } from '../config';
import { temporalConnectionOptions } from '../config/temporal-connection';
import { createLogger } from '../config/logging';
import { currentTracing, TRACING_WORKFLOW_MODULES } from '../config/tracing';
import type { Database } from '../db/database';
import { openDatabase } from '../db/connection';
import { activityLogContext } from './logging';
import { countActivityRetries } from './metrics';
import { startReconciler } from './reconciler';
import { workflowBundleFile } from './workflow-bundle';

export interface JobsWorker {
  worker: Worker;
  db: Kysely<Database>;
  connection: NativeConnection;
  /**
   * Stops the reconciler and closes what the worker opened (pool, connection); call after `worker.run()` has returned.
   */
  close: () => Promise<void>;
}

/** Heartbeat cadence while waiting on the LLM: well inside LLM_ACTIVITY's 10 s heartbeat timeout. */
const LLM_HEARTBEAT_INTERVAL_MS = 1_000;

/**
 * A job's LLM slot held by a worker that died comes free after 30 s (its calls are lost with it anyway, and Temporal
 * retries them after the 10 s heartbeat timeout; they wait for the slots at most 20 s more). Renewed every 10 s.
 */
const LLM_SLOT_LEASE_MS = 30_000;

/**
 * Calls waiting for a job's slot look for slots freed on other workers (and for the job being paused) this often;
 * slots freed on this worker go to its waiting calls at once. 10 small queries a second per job with calls waiting.
 */
const LLM_SLOT_POLL_MS = 200;

/**
 * The gate hears of its jobs' pauses as PostgreSQL pushes them; besides, every job it follows is read again this often,
 * a safety net for a notification that never came (each connection lost is made good at once, by a read of them all).
 */
const LLM_PAUSE_REREAD_MS = 5_000;

export async function createJobsWorker(config: Config, overrides: Partial<WorkerOptions> = {}): Promise<JobsWorker> {
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const db = openDatabase(config.DATABASE_URL, config.WORKER_DB_POOL_SIZE);
  const openai = createOpenAiClient({
    apiKey: config.OPENAI_API_KEY,
    baseURL: config.OPENAI_BASE_URL,
    timeoutMs: config.LLM_REQUEST_TIMEOUT_MS,
  });
  const budget = config.LLM_BUDGET_ENABLED ? createLlmBudget(config, db) : undefined;
  // Two connections of its own: claiming and freeing slots never queue behind the activities' queries.
  const gateDb = openDatabase(config.DATABASE_URL, 2);
  // One LISTEN connection more, opened with the first LLM call of a gated job.
  const pauses = watchPauses({
    db: gateDb,
    connectionString: config.DATABASE_URL,
    rereadEveryMs: LLM_PAUSE_REREAD_MS,
    log: createLogger('worker', { level: config.LOG_LEVEL }),
  });
  const gate = new PostgresJobGate({
    db: gateDb,
    leaseMs: LLM_SLOT_LEASE_MS,
    pollMs: LLM_SLOT_POLL_MS,
    heartbeatIntervalMs: LLM_HEARTBEAT_INTERVAL_MS,
    pauses,
  });
  const activities = createActivities({
    db,
    llm: {
      db,
      openai,
      budget,
      gate,
      settings: {
        model: config.OPENAI_MODEL,
        maxOutputTokens: config.LLM_MAX_OUTPUT_TOKENS,
        invalidOutputAttempts: config.LLM_INVALID_OUTPUT_ATTEMPTS,
        heartbeatIntervalMs: LLM_HEARTBEAT_INTERVAL_MS,
        requestTimeoutMs: config.LLM_REQUEST_TIMEOUT_MS,
        retrySpanMs: config.LLM_RETRY_SPAN_MS,
        maxPromptTokens: config.LLM_MAX_PROMPT_TOKENS,
        responseFormat: config.LLM_RESPONSE_FORMATS[config.OPENAI_MODEL] ?? 'json_schema',
      },
    },
    ruleStatementTimeoutMs: config.RULE_STATEMENT_TIMEOUT_MS,
    profileSampleRows: config.PROFILE_SAMPLE_ROWS,
    profileConcurrency: config.PROFILE_CONCURRENCY,
    admission: config,
    callbacks: config,
  });
  const tracing = currentTracing();
  const bundlePath = config.WORKFLOW_BUNDLE_PATH ?? prebuiltWorkflowBundle(tracing !== undefined);
  const workflowCode = bundlePath
    ? { workflowBundle: { codePath: bundlePath } }
    : { workflowsPath: require.resolve('../workflows') };
  // A prebuilt bundle has its interceptors already (or not: the SDK cannot add them to it, and warns if asked).
  const workflowModules = tracing && !bundlePath ? { workflowModules: [...TRACING_WORKFLOW_MODULES] } : {};

  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities,
    ...workflowCode,
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    // On SIGINT/SIGTERM in-flight activities get this long to finish before they are cancelled and
    // handed back to the server for another worker.
    shutdownGraceTime: config.WORKER_SHUTDOWN_GRACE_MS,
    // Cancellation reaches an activity only in the answer to a heartbeat, and the SDK would otherwise
    // batch heartbeats for up to 80 % of the heartbeat timeout (8 s of LLM_ACTIVITY's 10 s, 24 s of a rule
    // batch's 30 s): this bounds cancel latency.
    maxHeartbeatThrottleInterval: config.WORKER_HEARTBEAT_THROTTLE_MS,
    defaultHeartbeatThrottleInterval: config.WORKER_HEARTBEAT_THROTTLE_MS,
    // A job's workflow tasks go to the worker that has it cached; when that worker dies, the server
    // waits this long before offering them to every worker. The SDK's 10 s is most of a crash's recovery time.
    stickyQueueScheduleToStartTimeout: config.WORKER_STICKY_QUEUE_TIMEOUT_MS,
    interceptors: {
      // Tracing's first: its span is open around the others, so their log lines carry the trace id.
      activity: [...(tracing?.activityInterceptors ?? []), countActivityRetries, activityLogContext],
      ...workflowModules,
    },
    ...(tracing ? { sinks: tracing.workflowSinks } : {}),
    ...overrides,
  });
  const reconciler = config.JOB_RECONCILE_INTERVAL_MS > 0 ? startReconciler(config, db, connection) : undefined;
  return {
    worker,
    db,
    connection,
    async close() {
      await reconciler?.stop();
      await budget?.close();
      await gate.close().catch(() => undefined); // the database may be gone; the slots' leases run out then
      await pauses.close();
      await gateDb.destroy();
      await db.destroy();
      await connection.close();
    },
  };
}

/**
 * The bundle `npm run build` writes beside the compiled code (dist/workflow-bundle.js, scripts/build-dist.ts; with
 * tracing on dist/workflow-bundle-traced.js, which holds the tracing interceptors): a worker run from dist/ starts
 * without bundling (seconds of CPU and a webpack in production). Run from source there is none, and the worker
 * bundles at start.
 */
function prebuiltWorkflowBundle(traced: boolean): string | undefined {
  const candidate = path.resolve(__dirname, '..', workflowBundleFile(traced));
  return existsSync(candidate) ? candidate : undefined;
}

/** The fleet-wide LLM budget in PostgreSQL; the limits here only seed a model's row, the API changes them. */
function createLlmBudget(config: Config, db: Kysely<Database>): PostgresLlmBudget {
  return new PostgresLlmBudget({
    db,
    databaseUrl: config.DATABASE_URL,
    defaults: { rpm: config.LLM_RPM_LIMIT, tpm: config.LLM_TPM_LIMIT, windowMs: config.LLM_BUDGET_WINDOW_MS },
    requestTimeoutMs: config.LLM_REQUEST_TIMEOUT_MS,
    // Waiting calls are refreshed every heartbeat interval; ten missed in a row means their worker is gone.
    staleWaiterMs: LLM_HEARTBEAT_INTERVAL_MS * 10,
    heartbeatIntervalMs: LLM_HEARTBEAT_INTERVAL_MS,
  });
}
