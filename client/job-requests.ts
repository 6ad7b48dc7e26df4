// What every start request holds whatever its job type (type, owner, priority, metadata, idempotency key,
// cache use), checked before anything is written or started. Each job family's definition then checks its
// own fields. Every rejection names the offending field, so an API can return it as a 400 as is.

import { z } from 'zod';
import { JobType, PRIORITY_BY_NAME } from '../common/jobs';
import type { Config } from '../config';
import { InvalidJobRequestError } from './errors';

export { InvalidJobRequestError };

/** Names and ids: bounded, and free of control characters (PostgreSQL text cannot even hold a NUL byte). */
export const identifier = z
  .string()
  .trim()
  .min(1)
  .max(200)
  // eslint-disable-next-line no-control-regex
  .refine((value) => !/[\u0000-\u001f\u007f]/.test(value), 'must not contain control characters');

/** `high | normal | low`, or Temporal's 1 (highest) to 5 (lowest). */
export const prioritySchema = z
  .union([z.enum(['high', 'normal', 'low']), z.number().int().min(1).max(5)])
  .transform((p) => (typeof p === 'number' ? p : PRIORITY_BY_NAME[p]));

export function commonRequestSchema(defaults: Pick<Config, 'JOB_DEFAULT_USE_LLM_CACHE'>) {
  return z.object({
    jobType: z.enum(Object.values(JobType) as [JobType, ...JobType[]]),
    owner: identifier,
    metadata: z.record(z.string(), z.unknown()).default({}),
    priority: prioritySchema.default(PRIORITY_BY_NAME.normal),
    /** The same key (per owner) returns the job it first started instead of starting another. */
    idempotencyKey: identifier.optional(),
    /** Reuse stored LLM answers for identical prompts (on unless configured otherwise). */
    useLlmCache: z.boolean().default(defaults.JOB_DEFAULT_USE_LLM_CACHE),
  });
}

export type CommonStartRequest = z.output<ReturnType<typeof commonRequestSchema>>;

/** A start request as callers send it: the common fields plus those of the job type. */
export type StartJobRequest = z.input<ReturnType<typeof commonRequestSchema>> & Record<string, unknown>;

/** The parsed value, or an InvalidJobRequestError naming the first bad field (`whole` when it is the value itself). */
export function parseOrReject<S extends z.ZodType>(schema: S, body: unknown, whole = '(body)'): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const [issue] = parsed.error.issues;
  throw new InvalidJobRequestError(issue?.path.map(String).join('.') || whole, issue?.message ?? 'invalid');
}

export function parseCommonRequest(body: unknown, defaults: Pick<Config, 'JOB_DEFAULT_USE_LLM_CACHE'>): CommonStartRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidJobRequestError('(body)', 'expected a JSON object');
  return parseOrReject(commonRequestSchema(defaults), body);
}
