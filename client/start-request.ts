// The start request, whole: its common fields (client/job-requests.ts) and the job type's own (its family's
// definition), checked together and strictly. Every offending field is named in one error: wrong, missing or
// unknown fields (with the camelCase spelling suggested for a snake_case one), wrong types, no request at all.
// JobsClient applies it before anything is written; the workflow's admission activity applies the same to a
// request sent by any Temporal client; scripts/generate-schemas.ts publishes it as JSON Schema.

import { z } from 'zod';
import { JobType } from '../common/jobs';
import { InvalidJobRequestError, type FieldProblem } from './errors';
import type { JobLimits } from './job-definition';
import { definitionOf } from './job-definitions';
import { commonRequestSchema, type CommonRequestSettings, type CommonStartRequest } from './job-requests';
import { findUnstorableText } from './storable-text';

export type StartRequestSettings = CommonRequestSettings & JobLimits;

/** What a problem with the request as a whole is reported under. */
export const WHOLE_REQUEST = '(request)';

const JOB_TYPES = Object.values(JobType);

/**
 * Validates `body` as a start request and returns its common fields, parsed (defaults applied); throws one
 * InvalidJobRequestError naming every problem. `workflowJobType`, when the request came as a workflow's argument,
 * is the job type that workflow runs: the request may leave `jobType` out, and must not name another.
 */
export function validateStartRequest(
  body: unknown,
  settings: StartRequestSettings,
  workflowJobType?: JobType,
): CommonStartRequest {
  if (body === undefined || body === null)
    throw new InvalidJobRequestError(
      WHOLE_REQUEST,
      'no start request was given: pass one JSON object, the same as the body of POST /api/v1/jobs (schemas/<job type>.schema.json)',
    );
  if (typeof body !== 'object' || Array.isArray(body))
    throw new InvalidJobRequestError(
      WHOLE_REQUEST,
      `expected a JSON object, got ${Array.isArray(body) ? 'an array' : typeof body}`,
    );
  const fields = body as Record<string, unknown>;
  // Before anything else: no string or key anywhere may be one PostgreSQL cannot store.
  const unstorable = findUnstorableText(body);
  if (unstorable) throw new InvalidJobRequestError(unstorable.field, unstorable.problem);

  const problems: FieldProblem[] = [];
  const given = fields.jobType;
  if (workflowJobType !== undefined && given !== undefined && given !== workflowJobType)
    problems.push({
      field: 'jobType',
      problem: `is ${JSON.stringify(given)}, but this workflow runs ${workflowJobType}`,
    });
  const request = { ...fields, jobType: given ?? workflowJobType };

  const common = commonRequestSchema(settings).safeParse(request);
  if (!common.success) problems.push(...problemsOf(common.error));
  const jobType = JOB_TYPES.includes(request.jobType as JobType) ? (request.jobType as JobType) : undefined;
  if (jobType) {
    const own = definitionOf(jobType).fields(jobType, settings);
    const parsed = own.safeParse(request);
    if (!parsed.success) problems.push(...problemsOf(parsed.error));
    const known = new Set([...Object.keys(commonRequestSchema(settings).shape), ...Object.keys(own.shape)]);
    for (const key of Object.keys(fields))
      if (!known.has(key)) problems.push({ field: key, problem: unknownFieldProblem(key, known) });
  }
  const [first, ...more] = problems;
  if (first) throw InvalidJobRequestError.of([first, ...more]);
  if (!common.success) throw new InvalidJobRequestError(WHOLE_REQUEST, 'invalid'); // unreachable: its problems are listed
  return common.data;
}

/** A job type's whole start request as one strict schema: what schemas/<job type>.schema.json publishes. */
export function startRequestSchema(jobType: JobType, settings: StartRequestSettings) {
  return z
    .object({
      ...commonRequestSchema(settings).shape,
      jobType: z.literal(jobType),
      ...definitionOf(jobType).fields(jobType, settings).shape,
    })
    .strict();
}

function problemsOf(error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => ({
    field: issue.path.map(String).join('.') || WHOLE_REQUEST,
    problem:
      issue.code === 'invalid_type' && issue.message.endsWith('received undefined') ? 'is required' : issue.message,
  }));
}

/** "unknown field", with the field meant when the key is another spelling of one (snake_case, other case). */
function unknownFieldProblem(key: string, known: Set<string>): string {
  const camel = key.replace(/[_-]+([a-z0-9])/gi, (_, c: string) => c.toUpperCase());
  const meant = [...known].find((k) => k === camel || k.toLowerCase() === key.toLowerCase().replace(/[_-]/g, ''));
  return meant ? `unknown field; did you mean ${meant}?` : 'unknown field';
}
