// The planning family's start requests. Attribute generation takes documents (or the bundled samples) and
// stores them for the workflow; mapping takes a plan and a data source, optionally upserting the PDEs it
// names into the plan first; regeneration names the PDEs to map again. Workflows get ids, never content.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { JobType, type JobInputBase } from '../../common/jobs';
import type { Database } from '../../db/database';
import { InvalidJobRequestError } from '../errors';
import { identifier, parseOrReject, type FamilyStartRequest } from '../job-requests';
import type { JobDefinition, JobLimits, PreparedJob } from '../job-definition';

export const SAMPLE_DOCUMENTS_DIR = path.resolve(__dirname, '../../samples/documents');
const MAX_DOCUMENTS = 50;
const MAX_DOCUMENT_CHARS = 200_000;
/** Rows per insert when upserting PDEs: 6 parameters each stays far below PostgreSQL's 65 535. */
const PDE_INSERT_BATCH = 1_000;

const concurrency = (limits: JobLimits) =>
  z.number().int().min(1).max(limits.JOB_MAX_LLM_CONCURRENCY).default(limits.JOB_DEFAULT_LLM_CONCURRENCY);

const generationSchema = (limits: JobLimits) =>
  z
    .object({
      planId: identifier,
      documents: z
        .array(
          z.strictObject({
            name: identifier,
            content: z
              .string()
              .max(MAX_DOCUMENT_CHARS)
              .refine((c) => c.trim().length > 0, 'is empty'),
          }),
        )
        .min(1)
        .max(MAX_DOCUMENTS)
        .optional(),
      /** Adds the regulatory-report excerpts bundled under samples/documents. */
      sampleDocuments: z.boolean().default(false),
      chunkSize: z.number().int().min(200).max(20_000).default(1_000),
      chunkOverlap: z.number().int().min(0).max(10_000).default(150),
      llmConcurrency: concurrency(limits),
    })
    .superRefine((p, ctx) => {
      if (!p.documents && !p.sampleDocuments)
        ctx.addIssue({ code: 'custom', path: ['documents'], message: 'give documents, or sampleDocuments: true' });
      if (p.chunkOverlap * 2 > p.chunkSize)
        ctx.addIssue({ code: 'custom', path: ['chunkOverlap'], message: 'must be at most half of chunkSize' });
    });

const mappingSchema = (limits: JobLimits) =>
  z.object({
    planId: identifier,
    dataSourceId: identifier,
    /** PDEs to upsert into the plan and map; the plan's PDEs when omitted. */
    pdes: z
      .array(
        z.strictObject({
          name: identifier,
          description: z.string().trim().max(2_000).default(''),
          dataType: z.string().trim().min(1).max(50).default('text'),
        }),
      )
      .min(1)
      .max(limits.JOB_MAX_ATTRIBUTES)
      .optional(),
    /** How many pre-filtered catalogue columns each prompt offers. */
    candidateColumns: z.number().int().min(1).max(20).default(8),
    llmConcurrency: concurrency(limits),
  });

const regenerationSchema = (limits: JobLimits) =>
  z
    .object({
      planId: identifier,
      dataSourceId: identifier,
      pdeIds: z.array(z.number().int().positive()).min(1).max(limits.JOB_MAX_ATTRIBUTES).optional(),
      pdeNames: z.array(identifier).min(1).max(limits.JOB_MAX_ATTRIBUTES).optional(),
      candidateColumns: z.number().int().min(1).max(20).default(8),
      llmConcurrency: concurrency(limits),
    })
    .superRefine((p, ctx) => {
      if (!p.pdeIds === !p.pdeNames)
        ctx.addIssue({ code: 'custom', path: ['pdeIds'], message: 'give exactly one of pdeIds or pdeNames' });
    });

type PlanningJobType =
  typeof JobType.LlmAttributeGeneration | typeof JobType.PdeAutoMapping | typeof JobType.PdeRegeneration;

const FIELDS = {
  [JobType.LlmAttributeGeneration]: generationSchema,
  [JobType.PdeAutoMapping]: mappingSchema,
  [JobType.PdeRegeneration]: regenerationSchema,
};

type Fields<Schema extends (limits: JobLimits) => z.ZodType> = z.input<ReturnType<Schema>>;
export type PlanningStartRequest =
  | FamilyStartRequest<typeof JobType.LlmAttributeGeneration, Fields<typeof generationSchema>>
  | FamilyStartRequest<typeof JobType.PdeAutoMapping, Fields<typeof mappingSchema>>
  | FamilyStartRequest<typeof JobType.PdeRegeneration, Fields<typeof regenerationSchema>>;

export const planningJobs: JobDefinition<PlanningJobType> = {
  fields: (jobType, limits) => FIELDS[jobType](limits),
  async prepare(db, job, body, limits) {
    if (job.jobType === JobType.LlmAttributeGeneration) return prepareGeneration(db, job, body, limits);
    const { planId, dataSourceId, candidateColumns, llmConcurrency, pdeIds } =
      job.jobType === JobType.PdeAutoMapping
        ? await resolveMapping(db, parseOrReject(mappingSchema(limits), body))
        : await resolveRegeneration(db, parseOrReject(regenerationSchema(limits), body));
    return {
      input: { planId, dataSourceId, pdeIds, candidateColumns, llmConcurrency, ...job },
      metadata: { plan_id: planId, data_source_id: dataSourceId, total_pdes: pdeIds.length },
      summary: `${job.jobType} of ${pdeIds.length} PDEs of plan ${planId} for ${job.owner}`,
      details: `priority ${job.priority}, data source ${dataSourceId}, LLM concurrency ${llmConcurrency}, ${candidateColumns} candidate columns per PDE`,
    };
  },
};

async function prepareGeneration(
  db: Kysely<Database>,
  job: JobInputBase,
  body: unknown,
  limits: JobLimits,
): Promise<PreparedJob> {
  const params = parseOrReject(generationSchema(limits), body);
  const documents = [...(params.documents ?? []), ...(params.sampleDocuments ? sampleDocuments() : [])];
  const seen = new Set<string>();
  documents.forEach((d, index) => {
    if (seen.has(d.name))
      throw new InvalidJobRequestError(`documents.${index}.name`, `document "${d.name}" is given twice`);
    seen.add(d.name);
  });
  const stored = await db
    .insertInto('planning_documents')
    .values(documents.map((d) => ({ plan_id: params.planId, name: d.name, content: d.content })))
    .returning('id')
    .execute();
  const { planId, chunkSize, chunkOverlap, llmConcurrency } = params;
  return {
    input: { planId, documentIds: stored.map((d) => Number(d.id)), chunkSize, chunkOverlap, llmConcurrency, ...job },
    metadata: { plan_id: planId, total_documents: documents.length },
    summary: `${job.jobType} from ${documents.length} documents for plan ${planId} for ${job.owner}`,
    details: `priority ${job.priority}, chunks of ${chunkSize} characters overlapping by ${chunkOverlap}, LLM concurrency ${llmConcurrency}`,
  };
}

/** The bundled sample documents, by file name. */
export function sampleDocuments(): { name: string; content: string }[] {
  return readdirSync(SAMPLE_DOCUMENTS_DIR)
    .filter((file) => /\.(md|txt)$/.test(file))
    .sort()
    .map((file) => ({ name: file, content: readFileSync(path.join(SAMPLE_DOCUMENTS_DIR, file), 'utf8') }));
}

async function checkDataSource(db: Kysely<Database>, dataSourceId: string): Promise<void> {
  const columns = await db
    .selectFrom('data_source_attributes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('data_source_id', '=', dataSourceId)
    .executeTakeFirstOrThrow();
  if (Number(columns.n) === 0)
    throw new InvalidJobRequestError(
      'dataSourceId',
      `unknown data source "${dataSourceId}", or one without catalogue columns`,
    );
}

type MappingParams = z.output<ReturnType<typeof mappingSchema>>;
type Resolved = Omit<MappingParams, 'pdes'> & { pdeIds: number[] };

async function resolveMapping(db: Kysely<Database>, params: MappingParams): Promise<Resolved> {
  await checkDataSource(db, params.dataSourceId);
  const { pdes, ...rest } = params;
  if (!pdes) {
    const all = await db
      .selectFrom('plan_data_elements')
      .select('pde_id')
      .where('plan_id', '=', params.planId)
      .orderBy('pde_id')
      .execute();
    if (all.length === 0)
      throw new InvalidJobRequestError(
        'planId',
        `plan "${params.planId}" has no data elements: generate them first or give pdes`,
      );
    return { ...rest, pdeIds: all.map((p) => Number(p.pde_id)) };
  }
  const seen = new Set<string>();
  pdes.forEach((p, index) => {
    if (seen.has(p.name)) throw new InvalidJobRequestError(`pdes.${index}.name`, `PDE "${p.name}" is listed twice`);
    seen.add(p.name);
  });
  const idByName = new Map<string, number>();
  await db.transaction().execute(async (trx) => {
    for (let start = 0; start < pdes.length; start += PDE_INSERT_BATCH) {
      const rows = await trx
        .insertInto('plan_data_elements')
        .values(
          pdes.slice(start, start + PDE_INSERT_BATCH).map((p) => ({
            plan_id: params.planId,
            name: p.name,
            description: p.description,
            data_type: p.dataType,
            source_job_id: null,
            provenance: JSON.stringify([{ source: 'request' }]),
          })),
        )
        .onConflict((oc) =>
          oc.columns(['plan_id', 'name']).doUpdateSet((eb) => ({
            description: eb.ref('excluded.description'),
            data_type: eb.ref('excluded.data_type'),
            updated_at: new Date(),
          })),
        )
        .returning(['pde_id', 'name'])
        .execute();
      for (const row of rows) idByName.set(row.name, Number(row.pde_id));
    }
  });
  return { ...rest, pdeIds: pdes.map((p) => idByName.get(p.name)!) };
}

async function resolveRegeneration(
  db: Kysely<Database>,
  params: z.output<ReturnType<typeof regenerationSchema>>,
): Promise<Resolved> {
  await checkDataSource(db, params.dataSourceId);
  const { pdeIds, pdeNames, ...rest } = params;
  const field = pdeIds ? 'pdeIds' : 'pdeNames';
  const wanted: (number | string)[] = pdeIds ?? pdeNames!;
  const plan = await db
    .selectFrom('plan_data_elements')
    .select(['pde_id', 'name'])
    .where('plan_id', '=', params.planId)
    .execute();
  const idOf = new Map<number | string, number>(
    plan.map((p) => [pdeIds ? Number(p.pde_id) : p.name, Number(p.pde_id)]),
  );
  const seen = new Set<number>();
  const resolved = wanted.map((key, index) => {
    const id = idOf.get(key);
    if (id === undefined)
      throw new InvalidJobRequestError(`${field}.${index}`, `no PDE ${JSON.stringify(key)} in plan "${params.planId}"`);
    if (seen.has(id))
      throw new InvalidJobRequestError(`${field}.${index}`, `PDE ${JSON.stringify(key)} is listed twice`);
    seen.add(id);
    return id;
  });
  return { ...rest, pdeIds: resolved };
}
