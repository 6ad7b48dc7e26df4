// Basic statistics of a column, computed in one query (one for several columns of a table), that give the LLM
// something concrete to reason about (nulls, distinct values, extremes, most common values, each cut to a bounded
// length) instead of the name alone. A table larger than `sampleRows` (by PostgreSQL's estimate) is profiled from a
// page sample of about that many rows, so profiling costs the same on a billion-row table as on a million-row one.

import { sql, type Kysely } from 'kysely';
import type { AttributeDescriptor } from '../../common/rules';
import type { Database } from '../../db/database';
import { truncationMarker } from '../llm/prompt-budget';

export interface ColumnProfile {
  rows: number;
  nulls: number;
  distinct: number;
  min: string | null;
  max: string | null;
  /**
   * Values longer than PROFILE_VALUE_MAX_CHARS are cut there and end with `…[truncated, N characters]`, as are min and
   * max.
   */
  topValues: { value: string; count: number }[];
  /**
   * Set when the table was sampled: the rows it holds by PostgreSQL's estimate. The counts above describe the sample.
   */
  sampledFromEstimatedRows?: number;
}

/**
 * The most of one value (extreme or common value) a profile carries: enough to show a value's shape to the
 * LLM, while a column of 1 MB documents cannot turn one prompt into millions of tokens.
 */
export const PROFILE_VALUE_MAX_CHARS = 200;

export interface ProfileOptions {
  /** Tables estimated larger than this are profiled from a sample of about this many rows. */
  sampleRows: number;
  /**
   * The table's row estimate, when the caller already has it (a job profiling many columns of one table reads it once
   * for all of them); read from pg_class otherwise.
   */
  estimatedRows?: number | null;
}

export async function profileColumn(
  db: Kysely<Database>,
  table: string,
  attribute: AttributeDescriptor,
  options: ProfileOptions,
): Promise<ColumnProfile> {
  const [profile] = await profileColumns(db, table, [attribute], options);
  return profile!;
}

/**
 * The profiles of several columns of one table from one scan, each the same as profileColumn's for its column: on a
 * wide table the scan is the cost (5 columns of a 1 000-column table: 14 ms against 37 ms one by one). A column the
 * table lacks fails them all: the caller profiles them one by one to find which.
 */
export async function profileColumns(
  db: Kysely<Database>,
  table: string,
  attributes: readonly AttributeDescriptor[],
  options: ProfileOptions,
): Promise<ColumnProfile[]> {
  if (attributes.length === 0) return [];
  const estimatedRows =
    options.estimatedRows === undefined ? await sampleableRowEstimate(db, table) : (options.estimatedRows ?? undefined);
  const sampled = estimatedRows !== undefined && estimatedRows > options.sampleRows;
  // SYSTEM sampling reads whole pages, about `percent` of them; REPEATABLE picks the same pages every time,
  // so a retried or repeated profile (and the prompt built from it, and its cache key) stays the same.
  const source = sampled
    ? sql`${sql.table(table)} tablesample system (${sql.lit((100 * options.sampleRows) / estimatedRows)}) repeatable (0)`
    : sql.table(table);
  const limit = sql.lit(PROFILE_VALUE_MAX_CHARS);
  // The columns are read once into a materialised CTE, each under a name of its own (v0, v1, …), and each column's
  // statistics and most common values are computed from that, one row per column. On wide tables the scan, not the
  // aggregates, is the cost. Values leave the database already cut to PROFILE_VALUE_MAX_CHARS, with their real length
  // beside them.
  const read = attributes.map((attribute, i) => sql`${sql.id(attribute.name)} as ${sql.id(`v${i}`)}`);
  const perColumn = attributes.map((attribute, i) => {
    const v = sql.id(`v${i}`);
    // PostgreSQL has no min/max over booleans; the top values say all there is to say about them.
    const extreme = (fn: 'min' | 'max') =>
      attribute.dataType === 'boolean' ? sql`null` : sql`${sql.raw(fn)}(${v})::text`;
    return sql`
      select ${sql.lit(i)}::int as i, rows, nulls, "distinct",
             left(min, ${limit}) as min, length(min) as min_length, left(max, ${limit}) as max, length(max) as max_length,
             (select json_agg(json_build_object('value', left(value, ${limit}), 'length', length(value), 'count', count) order by count desc, value)
              from (select ${v}::text as value, count(*)::int as count from column_values where ${v} is not null
                    group by 1 order by 2 desc, 1 limit 8) as top) as top_values
      from (select count(*)::int as rows, (count(*) - count(${v}))::int as nulls, count(distinct ${v})::int as "distinct",
                   ${extreme('min')} as min, ${extreme('max')} as max from column_values) as stats`;
  });
  const { rows } = await sql<ProfileRow & { i: number }>`
    with column_values as materialized (select ${sql.join(read)} from ${source})
    ${sql.join(perColumn, sql` union all `)}`.execute(db);
  return attributes.map((attribute, i) => {
    const row = rows.find((r) => r.i === i);
    if (!row) throw new Error(`no statistics for ${table}.${attribute.name}`);
    return {
      rows: row.rows,
      nulls: row.nulls,
      distinct: row.distinct,
      min: bounded(row.min, row.min_length),
      max: bounded(row.max, row.max_length),
      topValues: (row.top_values ?? []).map((t) => ({ value: bounded(t.value, t.length)!, count: t.count })),
      ...(sampled ? { sampledFromEstimatedRows: estimatedRows } : {}),
    };
  });
}

interface ProfileRow {
  rows: number;
  nulls: number;
  distinct: number;
  min: string | null;
  min_length: number | null;
  max: string | null;
  max_length: number | null;
  top_values: { value: string; length: number; count: number }[] | null;
}

/** A value as the database cut it, marked as cut when its real length is over the bound. */
const bounded = (prefix: string | null, length: number | null): string | null =>
  prefix === null || length === null || length <= PROFILE_VALUE_MAX_CHARS
    ? prefix
    : `${prefix}${truncationMarker(length)}`;

/**
 * PostgreSQL's row estimate for a plain, partitioned or materialised table (kept by ANALYZE and autovacuum);
 * undefined for a view or a table never analysed, which are then read in full.
 */
export async function sampleableRowEstimate(db: Kysely<Database>, table: string): Promise<number | undefined> {
  // Quoted part by part, as sql.table quotes it, so to_regclass finds the same relation.
  const name = table
    .split('.')
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join('.');
  const { rows } = await sql<{ estimate: number | null }>`
    select case when c.relkind in ('r', 'p', 'm') and c.reltuples > 0 then c.reltuples::float8 end as estimate
    from pg_class c where c.oid = to_regclass(${name})`.execute(db);
  return rows[0]?.estimate ?? undefined;
}
