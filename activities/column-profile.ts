// Basic statistics of one column, computed in one query, that give the LLM something concrete to reason
// about (null share, distinct values, extremes, most common values) instead of the name alone.

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
}

export async function profileColumn(db: Kysely<Database>, table: string, attribute: AttributeDescriptor): Promise<ColumnProfile> {
  const col = sql.id(attribute.name);
  // PostgreSQL has no min/max over booleans; the top values say all there is to say about them.
  const extreme = (fn: 'min' | 'max') => (attribute.dataType === 'boolean' ? sql`null` : sql`${sql.raw(fn)}(v)::text`);
  // One scan of the table: the column is read once into a materialised CTE, and both the statistics and
  // the most common values are computed from that. On wide tables the scan, not the aggregates, is the cost.
  const { rows } = await sql<{ rows: number; nulls: number; distinct: number; min: string | null; max: string | null; top_values: { value: string; count: number }[] | null }>`
    with column_values as materialized (select ${col} as v from ${sql.table(table)}),
    top as (select v::text as value, count(*)::int as count from column_values where v is not null group by 1 order by 2 desc, 1 limit 8)
    select count(*)::int as rows, (count(*) - count(v))::int as nulls, count(distinct v)::int as distinct,
           ${extreme('min')} as min, ${extreme('max')} as max,
           (select json_agg(json_build_object('value', value, 'count', count) order by count desc, value) from top) as top_values
    from column_values`.execute(db);
  const [first] = rows;
  if (!first) throw new Error(`no statistics for ${table}.${attribute.name}`);
  const { top_values: topValues, ...stats } = first;
  return { ...stats, topValues: topValues ?? [] };
}
