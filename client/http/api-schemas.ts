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

/** A capped list of a job's results (client/job-results.ts, RESULTS_MAX_ROWS): how many in all, the first ones. */
const listedOf = <T extends z.ZodType>(item: T) =>
  z.object({
    total: z.number().describe('How many there are in all'),
    truncated: z.boolean().describe('true when `items` lists only the first 500'),
    items: z.array(item),
  });

const profilingResults = z
  .object({
    family: z.literal('profiling'),
    rules_job_id: z.string().describe('The job whose rules ran: this one, or the generation job they came from'),
    overall_pass_rate: z.number().nullable().describe('1 − failed rows / checked rows over every rule that ran'),
    attributes: listedOf(
      z.object({
        attribute: z.string(),
        status: z.enum(['completed', 'failed']).describe('Rule generation’s outcome'),
        failure_reason: z.string().nullable(),
        rules_count: z.number(),
        checked_rows: z.number(),
        failed_rows: z.number(),
        pass_rate: z.number().nullable().describe('Over the attribute’s rules that ran; null when none did'),
        rules: z.array(
          z.object({
            rule_index: z.number(),
            kind: z.string().nullable(),
            description: z.string(),
            severity: z.string(),
            checked_rows: z.number().nullable(),
            failed_rows: z.number().nullable(),
            pass_rate: z.number().nullable(),
            error: z.string().nullable().describe('Why the rule could not run'),
          }),
        ),
      }),
    ),
  })
  .meta({ id: 'ProfilingResults' });

const testExecutionResults = z
  .object({
    family: z.literal('test_execution'),
    counts: z.object({ pass: z.number(), fail: z.number(), error: z.number() }),
    test_cases: listedOf(
      z.object({
        test_case_id: z.string(),
        attribute: z.string(),
        description: z.string(),
        status: z.enum(['pass', 'fail', 'error']),
        checked_records: z.number(),
        failed_records: z.number(),
        error: z.string().nullable(),
        carried_over_from: z.string().nullable().describe('The earlier job a passing result was carried over from'),
      }),
    ),
  })
  .meta({ id: 'TestExecutionResults' });

const samplingResults = z
  .object({
    family: z.literal('sampling'),
    plan: z
      .object({
        population: z.number(),
        sample_size: z.number(),
        confidence_level: z.number(),
        margin_of_error: z.number(),
        expected_rate: z.number(),
        allocation: z.string(),
      })
      .nullable()
      .describe('The sample size; null until the count pass made the plan'),
    sampled: z.object({ random: z.number(), edge_cases: z.number() }),
    strata: listedOf(
      z.object({ stratum: z.string(), population: z.number(), allocated: z.number(), selected: z.number() }),
    ),
  })
  .meta({ id: 'SamplingResults' });

const scopingResults = z
  .object({
    family: z.literal('scoping'),
    counts: z.object({
      assessed: z.number(),
      failed: z.number(),
      in_scope: z.number(),
      high: z.number(),
      medium: z.number(),
      low: z.number(),
    }),
    assessments: listedOf(
      z.object({
        attribute: z.string(),
        status: z.enum(['completed', 'failed']),
        risk: z.enum(['low', 'medium', 'high']).nullable(),
        score: z.number().nullable().describe('Risk score 0–100'),
        in_scope: z.boolean().nullable(),
        recommended_tests: z.array(z.string()),
        failure_reason: z.string().nullable(),
      }),
    ).describe('Highest risk score first'),
    chosen_tests: z.array(
      z.object({
        test_kind: z.string(),
        cost: z.number(),
        covers: z.array(z.string()).describe('The high-risk attributes it covers'),
        applies_to: z.number().describe('How many attributes it applies to'),
      }),
    ),
  })
  .meta({ id: 'ScopingResults' });

const planningResults = z
  .object({
    family: z.literal('planning'),
    chunks: z
      .object({ completed: z.number(), failed: z.number(), candidates: z.number() })
      .nullable()
      .describe('Attribute generation: chunks read and candidates found; null for a mapping job'),
    elements: listedOf(z.object({ pde_id: z.number(), name: z.string(), data_type: z.string() })),
    counts: z.object({ mapped: z.number(), failed: z.number(), skipped_accepted: z.number() }),
    mappings: listedOf(
      z.object({
        pde_id: z.number(),
        name: z.string(),
        outcome: z.enum(['mapped', 'failed', 'skipped_accepted']),
        classification: z.string().nullable(),
        failure_reason: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'PlanningResults' });

/** GET /api/v1/jobs/{id}/results: the numbers the job page draws, read from the job family's tables. */
export const jobResults = z
  .object({
    job_id: z.string(),
    job_type: z.string(),
    status: z.string(),
    temporal_ui_url: z.string().describe('The job’s page in the Temporal Web UI (TEMPORAL_UI_URL)'),
    results: z
      .discriminatedUnion('family', [
        profilingResults,
        testExecutionResults,
        samplingResults,
        scopingResults,
        planningResults,
      ])
      .nullable()
      .describe('Null for a job type no family runs (an imported legacy one)'),
  })
  .meta({ id: 'JobResults' });
