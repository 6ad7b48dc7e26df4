// Every setting the processes read, parsed and validated once from the environment. README's
// configuration table mirrors this schema; change both together.

import { z } from 'zod';
import { TASK_QUEUE } from '../common/jobs';

const integer = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

const schema = z.object({
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/synapse_jobs'),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default(TASK_QUEUE),
  TEMPORAL_UI_URL: z.string().url().default('http://localhost:8233'),
  OPENAI_BASE_URL: z.string().url().optional(),
  OPENAI_API_KEY: z.string().default('synapse-standin'),
  OPENAI_MODEL: z.string().default('gpt-4o-mini'),
  LLM_REQUEST_TIMEOUT_MS: integer(60_000, 100),
  LLM_MAX_OUTPUT_TOKENS: integer(1_500, 16),
  LLM_INVALID_OUTPUT_ATTEMPTS: integer(3, 1),
  RULE_STATEMENT_TIMEOUT_MS: integer(120_000, 100),
  WORKER_MAX_CONCURRENT_ACTIVITIES: integer(100, 1),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: integer(10, 1),
  WORKER_SHUTDOWN_GRACE_MS: integer(30_000, 0),
  WORKER_DB_POOL_SIZE: integer(20, 1),
  WORKFLOW_BUNDLE_PATH: z.string().optional(),
  JOB_DEFAULT_LLM_CONCURRENCY: integer(10, 1),
  JOB_MAX_LLM_CONCURRENCY: integer(200, 1),
  JOB_MAX_ATTRIBUTES: integer(20_000, 1),
});

export type Config = z.infer<typeof schema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}
