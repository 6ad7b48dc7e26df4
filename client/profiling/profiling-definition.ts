// The data-profiling family's start requests: a data source, optionally some of its attributes, and for a
// rule-execution-only job the generation job whose rules to run.

import type { Kysely } from 'kysely';
import { z } from 'zod';
import { JobType } from '../../common/jobs';
import type { AttributeDescriptor } from '../../common/rules';
import type { Database } from '../../db/database';
import { InvalidJobRequestError } from '../errors';
import { identifier, parseOrReject, type FamilyStartRequest } from '../job-requests';
import type { JobDefinition, JobLimits } from '../job-definition';
import { completedJob, JOBS_WITH_RULES } from '../earlier-jobs';

export function profilingParamsSchema(limits: JobLimits) {
  return z.object({
    dataSourceId: identifier,
    /** Attribute (column) names; all of the data source's attributes when omitted. */
    attributeIds: z.array(identifier).min(1).max(limits.JOB_MAX_ATTRIBUTES).optional(),
    llmConcurrency: z
      .number()
      .int()
      .min(1)
      .max(limits.JOB_MAX_LLM_CONCURRENCY)
      .default(limits.JOB_DEFAULT_LLM_CONCURRENCY),
    ruleBatchSize: z.number().int().min(1).max(1_000).default(200),
    rulesFromJobId: identifier.optional(),
  });
}

type ProfilingParams = z.output<ReturnType<typeof profilingParamsSchema>>;

/** The three legacy job types are the two phases of one workflow, alone or together; each takes a ProfilingJobInput. */
type ProfilingJobType =
  typeof JobType.DataProfiling | typeof JobType.DataProfilingLlmGeneration | typeof JobType.DataProfilingRuleExecution;

export type ProfilingStartRequest = FamilyStartRequest<
  ProfilingJobType,
  z.input<ReturnType<typeof profilingParamsSchema>>
>;

export const profilingJobs: JobDefinition<ProfilingJobType> = {
  fields: (_jobType, limits) => profilingParamsSchema(limits),
  async prepare(db, job, body, limits) {
    const params = parseOrReject(profilingParamsSchema(limits), body);
    const attributes = await resolveAttributes(db, params.dataSourceId, params.attributeIds);
    await checkRuleSource(db, job.jobType, params.dataSourceId, params.rulesFromJobId);
    const { dataSourceId, llmConcurrency, ruleBatchSize, rulesFromJobId } = params;
    return {
      input: { dataSourceId, llmConcurrency, ruleBatchSize, rulesFromJobId, attributes, ...job },
      metadata: { data_source_id: dataSourceId, total_attributes: attributes.length },
      summary: `${job.jobType} of ${attributes.length} attributes of ${dataSourceId} for ${job.owner}`,
      details:
        `priority ${job.priority}, LLM concurrency ${llmConcurrency}, rule batches of ${ruleBatchSize}` +
        (rulesFromJobId ? `, rules from job ${rulesFromJobId}` : ''),
    };
  },
};

/** Resolves attribute names against the catalogue; unknown or repeated names are rejected by position. */
export async function resolveAttributes(
  db: Kysely<Database>,
  dataSourceId: string,
  attributeIds?: string[],
): Promise<AttributeDescriptor[]> {
  const source = await db.selectFrom('data_sources').select('id').where('id', '=', dataSourceId).executeTakeFirst();
  if (!source) throw new InvalidJobRequestError('dataSourceId', `unknown data source "${dataSourceId}"`);
  const catalogue = await db
    .selectFrom('data_source_attributes')
    .select(['name', 'data_type', 'description'])
    .where('data_source_id', '=', dataSourceId)
    .orderBy('position')
    .execute();
  const byName = new Map(
    catalogue.map((a) => [
      a.name,
      { name: a.name, dataType: a.data_type as AttributeDescriptor['dataType'], description: a.description },
    ]),
  );
  if (!attributeIds) return [...byName.values()];

  const seen = new Set<string>();
  return attributeIds.map((name, index) => {
    const attribute = byName.get(name);
    if (!attribute)
      throw new InvalidJobRequestError(
        `attributeIds.${index}`,
        `unknown attribute "${name}" in data source "${dataSourceId}"`,
      );
    if (seen.has(name))
      throw new InvalidJobRequestError(`attributeIds.${index}`, `attribute "${name}" is listed twice`);
    seen.add(name);
    return attribute;
  });
}

/** A rule-execution job runs the rules of a completed rules job on the same data source; no other job takes one. */
async function checkRuleSource(
  db: Kysely<Database>,
  jobType: JobType,
  dataSourceId: string,
  rulesFromJobId: ProfilingParams['rulesFromJobId'],
): Promise<void> {
  if (jobType !== JobType.DataProfilingRuleExecution) {
    if (rulesFromJobId)
      throw new InvalidJobRequestError('rulesFromJobId', `only applies to ${JobType.DataProfilingRuleExecution}`);
    return;
  }
  if (!rulesFromJobId)
    throw new InvalidJobRequestError('rulesFromJobId', `is required for ${JobType.DataProfilingRuleExecution}`);
  // A running or cancelled generation job holds only some of its rules: running them would report a partial check as
  // whole.
  await completedJob(db, 'rulesFromJobId', rulesFromJobId, JOBS_WITH_RULES, dataSourceId);
}
