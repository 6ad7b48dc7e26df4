// Compiles validation rules (data) into one parameterised aggregate query per table, so every rule of a
// batch is evaluated in a single scan. Column names come from the catalogue and are quoted identifiers;
// every value a rule carries is a bind parameter. Runs read-only under a statement timeout.

import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { AttributeDescriptor, ValidationRule } from '../common/rules';
import type { Database } from '../db/database';

export interface RuleToRun {
  attribute: AttributeDescriptor;
  ruleIndex: number;
  rule: ValidationRule;
}

export interface RuleCount {
  attribute: string;
  ruleIndex: number;
  failedRows: number;
}

/**
 * The condition a violating row meets, for selecting such rows (sampling's edge cases). NULLs only ever
 * violate `not_null`; a `unique` violation is a row whose value another row of `table` shares.
 */
export function violationPredicate(rule: ValidationRule, column: string, table: string): RawBuilder<boolean> {
  const col = sql.id(column);
  switch (rule.kind) {
    case 'not_null':
      return sql<boolean>`${col} is null`;
    case 'range':
      return sql<boolean>`${col} < ${rule.min ?? null}::numeric or ${col} > ${rule.max ?? null}::numeric`;
    case 'allowed_values':
      return sql<boolean>`not (${col}::text = any(${rule.values}::text[]))`;
    case 'pattern':
      return sql<boolean>`${col}::text !~ ${rule.regex}`;
    case 'length':
      return sql<boolean>`length(${col}::text) < ${rule.min ?? null}::int or length(${col}::text) > ${rule.max ?? null}::int`;
    case 'unique':
      return sql<boolean>`${col} in (select ${col} from ${sql.table(table)} where ${col} is not null group by ${col} having count(*) > 1)`;
    case 'freshness':
      return sql<boolean>`${col} < now() - make_interval(days => ${rule.maxAgeDays}::int)`;
    case 'date_range':
      return sql<boolean>`${col} < ${rule.notBefore ?? null}::date or ${col} > ${rule.notAfter ?? null}::date`;
  }
}

/** Rows violating the rule, as one aggregate expression (the same conditions as violationPredicate). */
function violations(rule: ValidationRule, column: string): RawBuilder<number> {
  // `unique` counts the extra copies in the same scan instead of a correlated subquery.
  if (rule.kind === 'unique') return sql<number>`(count(${sql.id(column)}) - count(distinct ${sql.id(column)}))`;
  return sql<number>`count(*) filter (where ${violationPredicate(rule, column, '')})`;
}

/** PostgreSQL's regex dialect differs from JavaScript's, so ask PostgreSQL itself which patterns compile. */
export async function invalidPatterns(db: Kysely<Database>, rules: RuleToRun[]): Promise<Map<string, string>> {
  const problems = new Map<string, string>();
  for (const { rule } of rules) {
    if (rule.kind !== 'pattern' || problems.has(rule.regex)) continue;
    try {
      await sql`select '' ~ ${rule.regex}`.execute(db);
    } catch (error) {
      problems.set(rule.regex, `invalid regular expression: ${(error as Error).message}`);
    }
  }
  return problems;
}

export async function countViolationsInOneScan(
  db: Kysely<Database>,
  table: string,
  rules: RuleToRun[],
  statementTimeoutMs: number,
): Promise<{ checkedRows: number; counts: RuleCount[] }> {
  const aggregates = rules.map((r, i) => sql`${violations(r.rule, r.attribute.name)}::int as ${sql.id(`v${i}`)}`);
  const ruleColumns = aggregates.length ? sql`, ${sql.join(aggregates)}` : sql``;
  const query = sql<Record<string, number>>`select count(*)::int as checked_rows${ruleColumns} from ${sql.table(table)}`;
  const row = await db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(statementTimeoutMs)}, true)`.execute(trx);
    const { rows } = await query.execute(trx);
    return rows[0];
  });
  if (!row) throw new Error(`no result scanning ${table}`);
  return {
    checkedRows: row.checked_rows ?? 0,
    counts: rules.map((r, i) => ({ attribute: r.attribute.name, ruleIndex: r.ruleIndex, failedRows: row[`v${i}`] ?? 0 })),
  };
}
