// What a caller may ask for when starting a job, checked before anything is written or started.
// Every rejection names the offending field, so an API can return it as a 400 as is.

import type { Kysely } from 'kysely';
import { z } from 'zod';
import { JobType, PRIORITY_BY_NAME } from '../common/jobs';
import type { AttributeDescriptor } from '../common/rules';
import type { Config } from '../config';
import type { Database } from '../db/database';
import { InvalidJobRequestError } from './errors';

export { InvalidJobRequestError };

type Limits = Pick<Config, 'JOB_DEFAULT_LLM_CONCURRENCY' | 'JOB_MAX_LLM_CONCURRENCY' | 'JOB_MAX_ATTRIBUTES'>;

const identifier = z.string().trim().min(1).max(200);

/** `high | normal | low`, or Temporal's 1 (highest) to 5 (lowest). */
export const prioritySchema = z
  .union([z.enum(['high', 'normal', 'low']), z.number().int().min(1).max(5)])
  .transform((p) => (typeof p === 'number' ? p : PRIORITY_BY_NAME[p]));

export function startJobRequestSchema(limits: Limits) {
  return z.object({
    jobType: z.enum(Object.values(JobType) as [JobType, ...JobType[]]),
    owner: identifier,
    dataSourceId: identifier,
    /** Attribute (column) names; all of the data source's attributes when omitted. */
    attributeIds: z.array(identifier).min(1).max(limits.JOB_MAX_ATTRIBUTES).optional(),
    llmConcurrency: z.number().int().min(1).max(limits.JOB_MAX_LLM_CONCURRENCY).default(limits.JOB_DEFAULT_LLM_CONCURRENCY),
    ruleBatchSize: z.number().int().min(1).max(1_000).default(200),
    rulesFromJobId: identifier.optional(),
    metadata: z.record(z.string(), z.unknown()).default({}),
    priority: prioritySchema.default(PRIORITY_BY_NAME.normal),
    /** The same key (per owner) returns the job it first started instead of starting another. */
    idempotencyKey: identifier.optional(),
  });
}

export type StartJobRequest = z.input<ReturnType<typeof startJobRequestSchema>>;
export type ValidStartJobRequest = z.output<ReturnType<typeof startJobRequestSchema>>;

export function parseStartJobRequest(body: unknown, limits: Limits): ValidStartJobRequest {
  const parsed = startJobRequestSchema(limits).safeParse(body);
  if (parsed.success) return parsed.data;
  const [issue] = parsed.error.issues;
  throw new InvalidJobRequestError(issue?.path.map(String).join('.') || '(body)', issue?.message ?? 'invalid');
}

/** Resolves attribute names against the catalogue; unknown or repeated names are rejected by position. */
export async function resolveAttributes(db: Kysely<Database>, request: ValidStartJobRequest): Promise<AttributeDescriptor[]> {
  const source = await db.selectFrom('data_sources').select('id').where('id', '=', request.dataSourceId).executeTakeFirst();
  if (!source) throw new InvalidJobRequestError('dataSourceId', `unknown data source "${request.dataSourceId}"`);
  const catalogue = await db
    .selectFrom('data_source_attributes')
    .select(['name', 'data_type', 'description'])
    .where('data_source_id', '=', request.dataSourceId)
    .orderBy('position')
    .execute();
  const byName = new Map(catalogue.map((a) => [a.name, { name: a.name, dataType: a.data_type as AttributeDescriptor['dataType'], description: a.description }]));
  if (!request.attributeIds) return [...byName.values()];

  const seen = new Set<string>();
  return request.attributeIds.map((name, index) => {
    const attribute = byName.get(name);
    if (!attribute) throw new InvalidJobRequestError(`attributeIds.${index}`, `unknown attribute "${name}" in data source "${request.dataSourceId}"`);
    if (seen.has(name)) throw new InvalidJobRequestError(`attributeIds.${index}`, `attribute "${name}" is listed twice`);
    seen.add(name);
    return attribute;
  });
}

/** A rule-execution job needs a generation job of the same data source whose rules it runs. */
export async function checkRuleSource(db: Kysely<Database>, request: ValidStartJobRequest): Promise<void> {
  if (request.jobType !== JobType.DataProfilingRuleExecution) {
    if (request.rulesFromJobId) throw new InvalidJobRequestError('rulesFromJobId', `only applies to ${JobType.DataProfilingRuleExecution}`);
    return;
  }
  if (!request.rulesFromJobId) throw new InvalidJobRequestError('rulesFromJobId', `is required for ${JobType.DataProfilingRuleExecution}`);
  const source = await db.selectFrom('jobs').select(['type', 'metadata']).where('id', '=', request.rulesFromJobId).executeTakeFirst();
  if (!source) throw new InvalidJobRequestError('rulesFromJobId', `no job "${request.rulesFromJobId}"`);
  if (source.type === JobType.DataProfilingRuleExecution) throw new InvalidJobRequestError('rulesFromJobId', 'names a rule-execution job, which has no rules of its own');
}
