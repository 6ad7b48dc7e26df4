// The HTTP API's schemas, in zod: what validates each request (params, query, body) and what the OpenAPI document
// (/openapi.json, schemas/openapi.json) says of every request and answer. Request schemas reuse the client's own
// (the start request, the list filter, bulk control, LLM budget limits) and are strict: an unknown field is refused,
// named. Answer schemas describe the JSON the API sends; they document it and are not enforced on the way out.

import { z } from 'zod';
import { JobType } from '../../common/jobs';
import { bulkFilterSchema } from '../bulk-control';
import { jobListQuerySchema } from '../job-list';
import { identifier, prioritySchema } from '../job-requests';
import { limitsSchema } from '../llm-budget';
import { startRequestSchema, type StartRequestSettings } from '../start-request';

/** A job id as paths carry it. */
export const JOB_ID_PATTERN = /^[0-9A-Za-z_-]{1,100}$/;

export const jobParams = z.strictObject({ id: z.string().regex(JOB_ID_PATTERN).describe('The job id') });
export const modelParams = z.strictObject({
  model: z
    .string()
    .regex(/^[\w.:-]{1,200}$/)
    .describe('An LLM model name'),
});
export const actionParams = z.strictObject({ action: z.enum(['pause', 'resume', 'cancel']) });

/**
 * Start request bodies: one strict schema per job type, discriminated by `jobType` (a oneOf, so a generated client
 * and the reference page show each job type's own fields, and a request can only be one of them). `owner` is
 * optional here: the token's subject owns the job, and only an admin or a service token may name another owner.
 */
export function startBodySchema(settings: StartRequestSettings) {
  const [first, ...more] = Object.values(JobType).map((jobType) =>
    startRequestSchema(jobType, settings).extend({
      owner: identifier
        .optional()
        .describe(
          'Who owns the job: ignored unless the token holds the admin or the service role; the token subject by default',
        ),
    }),
  );
  // No registry id: each server builds its own from its configured limits.
  return z.discriminatedUnion('jobType', [first!, ...more]);
}

/** The key is checked as the body's `idempotencyKey` is (an identifier), with that field named when it is not one. */
export const idempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .optional()
    .describe(
      'The idempotency key, when the body has none: the same request again returns the first job (200); a different request with it is refused (422)',
    ),
});

/** An event stream's reconnect: the `id:` of the last event the client got (a progress revision), from EventSource or by hand. */
export const eventsHeaders = z.looseObject({
  'last-event-id': z
    .string()
    .regex(/^\d{1,15}$/, 'must be the id of an event this stream sent (a progress revision)')
    .optional()
    .describe('Resume after this event: nothing older than it is sent again'),
});

/** Times as query strings: ISO 8601 (anything Date parses), documented as strings. */
const queryTime = z.string().pipe(z.coerce.date()).describe('ISO 8601 time');

export const listQuery = jobListQuerySchema.extend({
  createdAfter: queryTime.optional().describe('Jobs created at or after this time (ISO 8601)'),
  createdBefore: queryTime.optional().describe('Jobs created before this time (ISO 8601)'),
  include: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .describe('Comma-separated: result (each job’s result), metadata (whole metadata, never summarised)'),
});

export const pauseQuery = z.strictObject({
  now: z
    .enum(['true', 'false'])
    .optional()
    .describe('Pause at once, abandoning items in flight (as `now` in the body)'),
});
export const pauseBody = z
  .strictObject({ now: z.boolean().optional().describe('Pause at once, abandoning items in flight') })
  .optional();
export const emptyBody = z.strictObject({}).optional();
export const priorityBody = z.strictObject({
  priority: prioritySchema.describe('high, normal, low, or 1 (highest) to 5 (lowest)'),
});
export const bulkBody = bulkFilterSchema;
export const budgetBody = limitsSchema;

const isoTime = z.string().describe('ISO 8601 time');

const llmUsage = z.object({
  calls: z.number(),
  cachedCalls: z.number(),
  promptTokens: z.number(),
  completionTokens: z.number(),
  costUsd: z.number().nullable(),
});

/** A job's status: what GET /api/v1/jobs/{id}/status answers and every control action answers after the change. */
export const jobStatus = z
  .object({
    job_id: z.string(),
    job_type: z.string(),
    status: z.string(),
    progress_percentage: z.number(),
    current_step: z.string().nullable(),
    total_steps: z.number().nullable(),
    completed_steps: z.number().nullable(),
    message: z.string().nullable(),
    result: z.unknown().optional(),
    error: z.string().nullable(),
    created_at: isoTime,
    started_at: isoTime.nullable(),
    completed_at: isoTime.nullable(),
    metadata: z.record(z.string(), z.unknown()),
    owner: z.string(),
    priority: z.number(),
    failed_steps: z.number(),
    in_flight: z.number(),
    eta_seconds: z.number().nullable(),
    updated_at: isoTime,
    progress_source: z
      .enum(['live', 'last-live', 'snapshot'])
      .describe(
        'live: a worker answered just now; last-live: no worker answers, and the newest answer one gave this API process is newer than the stored snapshot; snapshot: the progress last stored',
      ),
    progress_revision: z
      .number()
      .nullable()
      .describe(
        "Grows with every change of the job's progress: an answer with a lower one than an answer seen before is older; null for legacy jobs",
      ),
    source: z.string(),
    started_via: z.string().nullable(),
    requested_action: z.string().nullable(),
    requested_at: isoTime.nullable(),
    trouble: z
      .object({
        items_retrying: z.number(),
        items_waiting_for_budget: z.number(),
        last_error_type: z.string().nullable(),
        last_error: z.string().nullable(),
        items: z.array(z.unknown()).describe('Up to ten troubled items'),
      })
      .nullable()
      .optional()
      .describe('Items retrying or waiting for budget (from Temporal); null when none; absent in lists'),
    llm_usage: llmUsage.optional(),
    llm_budget: z.object({ waiting_calls: z.number(), reason: z.string() }).optional(),
    callback: z
      .object({
        url: z.string(),
        attempts: z.number(),
        last_status: z.number().nullable(),
        last_error: z.string().nullable(),
        delivered_at: z.string().nullable(),
      })
      .optional()
      .describe('For a job started with a callbackUrl: its delivery (attempts, the receiver’s last answer)'),
  })
  .meta({ id: 'JobStatus' });

export const startedJob = jobStatus
  .extend({ created: z.boolean().describe('false when the idempotency key matched a job started earlier') })
  .meta({ id: 'StartedJob' });

/** A job as lists show it: no `result` unless asked for (`include=result`), large metadata summarised. */
export const listedJob = jobStatus
  .extend({ metadata_summary: z.object({ bytes: z.number() }).optional() })
  .meta({ id: 'ListedJob' });

export const jobPage = z
  .object({
    jobs: z.array(listedJob),
    next_cursor: z.string().nullable().describe('The cursor of the next page; null on the last page'),
    next: z.string().nullable().describe('The next page as a link (the same query with its cursor); null on the last'),
  })
  .meta({ id: 'JobPage' });

export const jobHistory = z
  .object({
    job_id: z.string(),
    events: z.array(
      z.object({
        at: isoTime,
        actor: z.string(),
        action: z.string(),
        outcome: z.string(),
        detail: z.record(z.string(), z.unknown()),
      }),
    ),
  })
  .meta({ id: 'JobHistory' });

export const modelBudget = z
  .object({
    model: z.string(),
    limits: z.object({ rpm: z.number(), tpm: z.number(), window_ms: z.number() }),
    provider_limits: z.object({ rpm: z.number().nullable(), tpm: z.number().nullable() }),
    paused_until: isoTime.nullable(),
    blocked_reason: z.string().nullable(),
    usage: z.object({ requests: z.number(), tokens: z.number(), in_flight: z.number() }),
    waiting: z.object({ calls: z.number(), by_owner: z.record(z.string(), z.number()) }),
    recent_rate_limits: z.array(
      z.object({
        at: isoTime,
        status: z.number(),
        pause_ms: z.number(),
        reason: z.string(),
        job_id: z.string(),
        worker: z.string(),
      }),
    ),
    updated_at: isoTime,
    updated_by: z.string().nullable(),
  })
  .meta({ id: 'ModelBudget' });

export const budgetList = z.object({ models: z.array(modelBudget) });

export const bulkOutcome = z
  .object({
    action: z.enum(['pause', 'resume', 'cancel']),
    matched: z.number(),
    done: z.array(z.string()),
    failed: z.array(z.object({ jobId: z.string(), error: z.string() })),
  })
  .meta({ id: 'BulkOutcome' });

export const health = z.object({ ok: z.boolean() });
export const readiness = z.object({ ok: z.boolean(), checks: z.record(z.string(), z.string()) });

/** RFC 9457 problem details, with the API's own members: `code` always, `field` and `problems` for invalid requests. */
export const problem = z
  .object({
    type: z.string().describe('A URI naming the kind of problem (urn:synapse-jobs:problem:<code>)'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().describe('What is wrong with this request, for a person'),
    instance: z.string().optional().describe('The request path'),
    code: z.string().describe('The error code (invalid_request, unauthorized, not_found, wrong_state, …)'),
    field: z.string().optional().describe('The first offending field (invalid_request)'),
    problems: z
      .array(z.object({ field: z.string(), problem: z.string() }))
      .optional()
      .describe('Every offending field (invalid_request)'),
  })
  .meta({ id: 'Problem' });
