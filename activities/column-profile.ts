// Basic statistics of one column, computed in one query, that give the LLM something concrete to reason
// about (null share, distinct values, extremes, most common values) instead of the name alone. A table
// larger than `sampleRows` (by PostgreSQL's own row estimate) is profiled from a page sample of about that
// many rows, so profiling costs the same on a billion-row table as on a million-row one.

import { sql, type Kysely } from 'kysely';
import type { AttributeDescriptor } from '../common/rules';
import type { Database } from '../db/database';

export interface ColumnProfile {
  rows: number;
  nulls: number;
  distinct: number;
  min: string | null;
  max: string | null;
  topValues: { value: string; count: number }[];
  /** Set when the table was sampled: the rows it holds by PostgreSQL's estimate. The counts above describe the sample. */
  sampledFromEstimatedRows?: number;
}

export interface ProfileOptions {
  /** Tables estimated larger than this are profiled from a sample of about this many rows. */
  sampleRows: number;
}

export async function profileColumn(db: Kysely<Database>, table: string, attribute: AttributeDescriptor, options: ProfileOptions): Promise<ColumnProfile> {
  const col = sql.id(attribute.name);
  const estimatedRows = await sampleableRowEstimate(db, table);
  const sampled = estimatedRows !== undefined && estimatedRows > options.sampleRows;
  // SYSTEM sampling reads whole pages, about `percent` of them; REPEATABLE picks the same pages every time,
  // so a retried or repeated profile (and the prompt built from it, and its cache key) stays the same.
  const source = sampled
    ? sql`${sql.table(table)} tablesample system (${sql.lit((100 * options.sampleRows) / estimatedRows)}) repeatable (0)`
    : sql.table(table);
  // PostgreSQL has no min/max over booleans; the top values say all there is to say about them.
  const extreme = (fn: 'min' | 'max') => (attribute.dataType === 'boolean' ? sql`null` : sql`${sql.raw(fn)}(v)::text`);
  // One scan of the table: the column is read once into a materialised CTE, and both the statistics and
  // the most common values are computed from that. On wide tables the scan, not the aggregates, is the cost.
  const { rows } = await sql<{ rows: number; nulls: number; distinct: number; min: string | null; max: string | null; top_values: { value: string; count: number }[] | null }>`
    with column_values as materialized (select ${col} as v from ${source}),
    top as (select v::text as value, count(*)::int as count from column_values where v is not null group by 1 order by 2 desc, 1 limit 8)
    select count(*)::int as rows, (count(*) - count(v))::int as nulls, count(distinct v)::int as distinct,
           ${extreme('min')} as min, ${extreme('max')} as max,
           (select json_agg(json_build_object('value', value, 'count', count) order by count desc, value) from top) as top_values
    from column_values`.execute(db);
  const [first] = rows;
  if (!first) throw new Error(`no statistics for ${table}.${attribute.name}`);
  const { top_values: topValues, ...stats } = first;
  return { ...stats, topValues: topValues ?? [], ...(sampled ? { sampledFromEstimatedRows: estimatedRows } : {}) };
}

/**
 * PostgreSQL's row estimate for a plain, partitioned or materialised table (kept by ANALYZE and autovacuum);
 * undefined for a view or a table never analysed, which are then read in full.
 */
async function sampleableRowEstimate(db: Kysely<Database>, table: string): Promise<number | undefined> {
  // Quoted part by part, as sql.table quotes it, so to_regclass finds the same relation.
  const name = table.split('.').map((part) => `"${part.replace(/"/g, '""')}"`).join('.');
  const { rows } = await sql<{ estimate: number | null }>`
    select case when c.relkind in ('r', 'p', 'm') and c.reltuples > 0 then c.reltuples::float8 end as estimate
    from pg_class c where c.oid = to_regclass(${name})`.execute(db);
  return rows[0]?.estimate ?? undefined;
}
