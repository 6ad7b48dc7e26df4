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
  const extreme = (fn: 'min' | 'max') => (attribute.dataType === 'boolean' ? sql`null` : sql`${sql.raw(fn)}(${col})::text`);
  const stats = await sql<{ rows: number; nulls: number; distinct: number; min: string | null; max: string | null }>`
    select count(*)::int as rows, (count(*) - count(${col}))::int as nulls, count(distinct ${col})::int as distinct,
           ${extreme('min')} as min, ${extreme('max')} as max
    from ${sql.table(table)}`.execute(db);
  const top = await sql<{ value: string; count: number }>`
    select ${col}::text as value, count(*)::int as count from ${sql.table(table)}
    where ${col} is not null group by 1 order by 2 desc, 1 limit 8`.execute(db);
  const [first] = stats.rows;
  if (!first) throw new Error(`no statistics for ${table}.${attribute.name}`);
  return { ...first, topValues: top.rows };
}
