// The intelligent_sampling family's start requests: a data source, the precision wanted (confidence, margin
// of error, expected rate), strata columns and allocation, edge-case columns and profiling rules to cover,
// a seed, and scan knobs. Every column is checked against the catalogue; every error names its field.

import { randomInt } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { JobType } from '../../common/jobs';
import type { Database } from '../../db/database';
import { InvalidJobRequestError } from '../errors';
import { identifier, parseOrReject, type FamilyStartRequest } from '../job-requests';
import type { JobDefinition } from '../job-definition';
import { completedJob, JOBS_WITH_RULES } from '../earlier-jobs';

const NUMERIC_TYPES = ['integer', 'numeric'];
export const MAX_SEED = 2 ** 31 - 1;

const columnList = z.array(identifier).max(20);

export const samplingParamsSchema = z.object({
  dataSourceId: identifier,
  confidenceLevel: z.number().min(0.8).max(0.999),
  marginOfError: z.number().gt(0).lt(0.5),
  /** The proportion expected (0.5, the default, is the most conservative). */
  expectedRate: z.number().gt(0).lt(1).default(0.5),
  strataColumns: columnList.max(4).default([]),
  allocation: z.enum(['proportional', 'neyman', 'per_stratum']).default('proportional'),
  neymanColumn: identifier.optional(),
  edgeCaseColumns: columnList.default([]),
  rulesFromJobId: identifier.optional(),
  /** Same seed, same data → same sample. Chosen at random (and stated in the job) when omitted. */
  seed: z.number().int().min(0).max(MAX_SEED).optional(),
  chunkSize: z.number().int().min(10).max(50_000).default(500),
  chunksPerUnit: z.number().int().min(1).max(1_000).default(4),
  /** Holds each scan to this many rows per second, to spare a production database. */
  scanRowsPerSecond: z.number().int().min(1).max(10_000_000).optional(),
});

type SamplingParams = z.output<typeof samplingParamsSchema>;

export type SamplingStartRequest = FamilyStartRequest<
  typeof JobType.IntelligentSampling,
  z.input<typeof samplingParamsSchema>
>;

export const samplingJobs: JobDefinition<typeof JobType.IntelligentSampling> = {
  fields: () => samplingParamsSchema,
  async prepare(db, job, body, limits) {
    const params = parseOrReject(samplingParamsSchema, body);
    const table = await dataSourceTable(db, params.dataSourceId);
    const types = await catalogueTypes(db, params.dataSourceId);
    checkColumns('strataColumns', params.strataColumns, types);
    checkColumns('edgeCaseColumns', params.edgeCaseColumns, types);
    checkNeyman(params, types);
    // The rules to cover must come from a completed job that stored rules for the same data source.
    if (params.rulesFromJobId)
      await completedJob(db, 'rulesFromJobId', params.rulesFromJobId, JOBS_WITH_RULES, params.dataSourceId);
    // The one read of the table itself, last: after every other check here and the owner's quota (JobsClient.startJob).
    const rowsAtStart = await countRecords(db, params.dataSourceId, table, limits.JOB_START_COUNT_TIMEOUT_MS);
    const seed = params.seed ?? randomInt(MAX_SEED);
    const strata = params.strataColumns.length
      ? `strata ${params.strataColumns.join(', ')} (${params.allocation})`
      : 'no strata';
    return {
      input: { ...params, seed, rowsAtStart, ...job },
      metadata: { data_source_id: params.dataSourceId, seed, rows_at_start: rowsAtStart },
      summary: `${job.jobType} of ${params.dataSourceId} (${rowsAtStart} rows) for ${job.owner}`,
      details:
        `confidence ${params.confidenceLevel}, margin ${params.marginOfError}, expected rate ${params.expectedRate}, ${strata}, seed ${seed}, ` +
        `chunks of ${params.chunkSize} × ${params.chunksPerUnit} per unit` +
        (params.scanRowsPerSecond ? `, at most ${params.scanRowsPerSecond} rows/s` : ''),
    };
  },
};

/** The data source's table; the data source must exist. */
async function dataSourceTable(db: Kysely<Database>, dataSourceId: string): Promise<string> {
  const source = await db
    .selectFrom('data_sources')
    .select(['table_name'])
    .where('id', '=', dataSourceId)
    .executeTakeFirst();
  if (!source) throw new InvalidJobRequestError('dataSourceId', `unknown data source "${dataSourceId}"`);
  return source.table_name;
}

/**
 * How many records the data source holds (the progress total); it must hold some. The count runs under a
 * statement timeout, so a huge or locked table cannot hold a start request for long: past it, PostgreSQL's
 * estimate from its last ANALYZE stands in (the job counts every row itself when it scans).
 */
async function countRecords(
  db: Kysely<Database>,
  dataSourceId: string,
  table: string,
  timeoutMs: number,
): Promise<number> {
  let count: number;
  try {
    count = await db.transaction().execute(async (trx) => {
      await sql`set local statement_timeout = ${sql.lit(timeoutMs)}`.execute(trx);
      const { rows } = await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(trx);
      return Number(rows[0]?.n ?? 0);
    });
  } catch (error) {
    if ((error as { code?: unknown }).code !== QUERY_CANCELED) throw error;
    count = await estimatedRows(db, table);
    if (count <= 0)
      throw new InvalidJobRequestError(
        'dataSourceId',
        `counting the records of "${dataSourceId}" took over ${timeoutMs} ms (JOB_START_COUNT_TIMEOUT_MS), and PostgreSQL has no row estimate for it: ANALYZE its table`,
      );
  }
  if (count === 0)
    throw new InvalidJobRequestError('dataSourceId', `data source "${dataSourceId}" has no records to sample`);
  return count;
}

/** SQLSTATE of a statement cancelled by statement_timeout. */
const QUERY_CANCELED = '57014';

/** The planner's row count of `table` (`schema.table` or a table on the search path); 0 or less when it has none. */
async function estimatedRows(db: Kysely<Database>, table: string): Promise<number> {
  const { rows } = await sql<{
    n: number;
  }>`select reltuples::float8 as n from pg_class where oid = to_regclass(${quotedName(table)})`.execute(db);
  return Math.round(rows[0]?.n ?? -1);
}

/** `schema.table` quoted part by part, as `sql.table` names it, for to_regclass. */
function quotedName(table: string): string {
  return table
    .split('.')
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join('.');
}

async function catalogueTypes(db: Kysely<Database>, dataSourceId: string): Promise<Map<string, string>> {
  const rows = await db
    .selectFrom('data_source_attributes')
    .select(['name', 'data_type'])
    .where('data_source_id', '=', dataSourceId)
    .execute();
  return new Map(rows.map((r) => [r.name, r.data_type]));
}

function checkColumns(field: string, columns: string[], types: Map<string, string>): void {
  columns.forEach((column, index) => {
    if (!types.has(column)) throw new InvalidJobRequestError(`${field}.${index}`, `unknown column "${column}"`);
    if (columns.indexOf(column) !== index)
      throw new InvalidJobRequestError(`${field}.${index}`, `column "${column}" is listed twice`);
  });
}

/** Neyman allocation needs a numeric column whose per-stratum spread weighs the strata; nothing else takes one. */
function checkNeyman(params: SamplingParams, types: Map<string, string>): void {
  if (params.allocation !== 'neyman') {
    if (params.neymanColumn) throw new InvalidJobRequestError('neymanColumn', 'only applies to allocation "neyman"');
    return;
  }
  if (!params.neymanColumn)
    throw new InvalidJobRequestError('neymanColumn', 'is required for allocation "neyman" (a numeric column)');
  const type = types.get(params.neymanColumn);
  if (!type) throw new InvalidJobRequestError('neymanColumn', `unknown column "${params.neymanColumn}"`);
  if (!NUMERIC_TYPES.includes(type))
    throw new InvalidJobRequestError('neymanColumn', `column "${params.neymanColumn}" is ${type}, not numeric`);
}
