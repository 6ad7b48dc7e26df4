// What every start request holds whatever its job type (type, owner, priority, metadata, idempotency key,
// cache use, completion callback), checked before anything is written or started. Each job family's definition then checks its
// own fields. Every rejection names the offending field, so an API can return it as a 400 as is.

import { z } from 'zod';
import { JobType, PRIORITY_BY_NAME } from '../common/jobs';
import { SEARCH_ATTRIBUTE_VALUE_MAX_BYTES } from '../common/search-attributes';
import type { Config } from '../config';
import {
  CALLBACK_URL_MAX_LENGTH,
  callbackUrlProblem,
  type CallbackSettings,
} from '../activities/jobs/callback-allow-list';
import { InvalidJobRequestError } from './errors';
import { findUnstorableText, unstorableTextProblem } from './storable-text';

export { InvalidJobRequestError };

/** A string PostgreSQL stores as given (no NUL, no lone surrogate): every free-text field of a request. */
export const storableString = z.string().check((ctx) => {
  const problem = unstorableTextProblem(ctx.value);
  if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: problem });
});

/** Names and ids: bounded, storable, and free of control characters (PostgreSQL text cannot even hold a NUL byte). */
export const identifier = storableString
  .trim()
  .min(1)
  .max(200)
  // eslint-disable-next-line no-control-regex
  .refine((value) => !/[\u0000-\u001f\u007f]/.test(value), 'must not contain control characters');

/**
 * Why `subject` cannot be an owner as it stands, or undefined: an owner is an identifier exactly as given.
 * A bearer token's subject is held to this, not normalised, so the subject that owns a job is the one its
 * ACL checks compare (`"alice "` is not turned into alice).
 */
export function ownerProblem(subject: string): string | undefined {
  const parsed = identifier.safeParse(subject);
  if (!parsed.success) return parsed.error.issues[0]?.message ?? 'is not a valid owner';
  return parsed.data === subject ? undefined : 'has surrounding whitespace';
}

type MetadataLimits = Pick<Config, 'JOB_MAX_METADATA_BYTES' | 'JOB_MAX_METADATA_DEPTH'>;

/** Metadata keys the client copies into Temporal search attributes (JobsClient.startWorkflow): CycleId, ReportId. */
const SEARCH_ATTRIBUTE_METADATA = ['cycle_id', 'report_id'] as const;

/** Whether `value` nests objects or arrays deeper than `max` levels (the value itself is level 1); iterative. */
function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Caller's labels for a job (cycle, report, notes): kept with the job, shown in lists and the jobs page, so
 * bounded in depth and size; `cycle_id` / `report_id` also become search attributes, within Temporal's limit.
 */
function metadataSchema(limits: MetadataLimits) {
  return z.record(z.string(), z.unknown()).check((ctx) => {
    const metadata = ctx.value;
    if (nestsDeeperThan(metadata, limits.JOB_MAX_METADATA_DEPTH)) {
      ctx.issues.push({
        code: 'custom',
        input: metadata,
        message: `nests deeper than ${limits.JOB_MAX_METADATA_DEPTH} levels (JOB_MAX_METADATA_DEPTH)`,
      });
      return;
    }
    const bytes = Buffer.byteLength(JSON.stringify(metadata));
    if (bytes > limits.JOB_MAX_METADATA_BYTES) {
      ctx.issues.push({
        code: 'custom',
        input: metadata,
        message: `is ${bytes} bytes of JSON; at most ${limits.JOB_MAX_METADATA_BYTES} (JOB_MAX_METADATA_BYTES)`,
      });
      return;
    }
    for (const key of SEARCH_ATTRIBUTE_METADATA) {
      const value = metadata[key];
      if (value === undefined) continue;
      if (typeof value !== 'string' && typeof value !== 'number') {
        ctx.issues.push({
          code: 'custom',
          input: value,
          path: [key],
          message: 'must be a string or a number: it becomes a search attribute',
        });
      } else if (Buffer.byteLength(JSON.stringify(String(value))) > SEARCH_ATTRIBUTE_VALUE_MAX_BYTES) {
        ctx.issues.push({
          code: 'custom',
          input: value,
          path: [key],
          message: `is over ${SEARCH_ATTRIBUTE_VALUE_MAX_BYTES} bytes, Temporal's limit for a search attribute value`,
        });
      }
    }
  });
}

/** `high | normal | low`, or Temporal's 1 (highest) to 5 (lowest). */
export const prioritySchema = z
  .union([z.enum(['high', 'normal', 'low']), z.number().int().min(1).max(5)])
  .transform((p) => (typeof p === 'number' ? p : PRIORITY_BY_NAME[p]));

export type CommonRequestSettings = Pick<Config, 'JOB_DEFAULT_USE_LLM_CACHE'> & MetadataLimits & CallbackSettings;

export function commonRequestSchema(defaults: CommonRequestSettings) {
  return z.object({
    jobType: z.enum(Object.values(JobType) as [JobType, ...JobType[]]),
    owner: identifier,
    metadata: metadataSchema(defaults).default({}),
    // A default given as input (`normal`), so the published JSON Schema shows it; parsed like any given value.
    priority: prioritySchema.prefault('normal'),
    /** The same key (per owner) returns the job it first started instead of starting another. */
    idempotencyKey: identifier.optional(),
    /** Reuse stored LLM answers for identical prompts (on unless configured otherwise). */
    useLlmCache: z.boolean().default(defaults.JOB_DEFAULT_USE_LLM_CACHE),
    callbackUrl: z
      .url()
      .max(CALLBACK_URL_MAX_LENGTH)
      .check((ctx) => {
        const problem = callbackUrlProblem(ctx.value, defaults);
        if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: problem });
      })
      .optional()
      .describe(
        "Where to POST the job's outcome once it ends, signed (X-Synapse-Signature); must be within the server's CALLBACK_ALLOWED_HOSTS",
      ),
  });
}

export type CommonStartRequest = z.output<ReturnType<typeof commonRequestSchema>>;

/**
 * One family's start request as callers write it: the common fields, one of the family's job types, and the
 * family's own fields (its schema's input), so the compiler holds a caller to what validation accepts. The
 * union of all families' is StartJobRequest (client/job-definitions.ts).
 */
export type FamilyStartRequest<T extends JobType, Fields> = Omit<
  z.input<ReturnType<typeof commonRequestSchema>>,
  'jobType'
> & { jobType: T } & Fields;

/** The parsed value, or an InvalidJobRequestError naming the first bad field (`whole` when it is the value itself). */
export function parseOrReject<S extends z.ZodType>(schema: S, body: unknown, whole = '(body)'): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const [issue] = parsed.error.issues;
  throw new InvalidJobRequestError(issue?.path.map(String).join('.') || whole, issue?.message ?? 'invalid');
}

/**
 * The common fields, parsed; before anything else, every string and key of the whole body (any family's
 * fields, metadata at any depth) must be storable, so no family can pass PostgreSQL a NUL or a lone surrogate.
 */
export function parseCommonRequest(body: unknown, defaults: CommonRequestSettings): CommonStartRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new InvalidJobRequestError('(body)', 'expected a JSON object');
  const unstorable = findUnstorableText(body);
  if (unstorable) throw new InvalidJobRequestError(unstorable.field, unstorable.problem);
  return parseOrReject(commonRequestSchema(defaults), body);
}
