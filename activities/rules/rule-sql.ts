// Compiles validation rules (data) into parameterised aggregate queries, so every rule of a batch is
// evaluated in one scan of the table (plus one grouping pass per `unique` rule). Column names come from the
// catalogue and are quoted identifiers; every value a rule carries is a bind parameter. Runs read-only
// under a statement timeout; a rule the database refuses for good is isolated so the others still run.

import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { AttributeDescriptor, ValidationRule } from '../../common/rules';
import type { Database } from '../../db/database';
import { sqlRefusal, type SqlRefusal } from '../data-sources/sql-errors';

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

/** The stored types whose values are whole numbers: a range on them compares with whole-number bounds. */
const WHOLE_NUMBER_TYPES = new Set(['smallint', 'integer', 'bigint']);

/**
 * The condition a violating row meets, as countViolationsPerRule evaluates it once per row and rule: the same rows
 * as violationPredicate, written so nothing is converted per row. A range on a column stored as a whole number
 * compares with whole-number bounds (`n < 17.5` ⇔ `n < 18`, `n > 17.5` ⇔ `n > 17`, through PostgreSQL's
 * cross-width integer operators) instead of turning every value into a numeric; a freshness cutoff is computed
 * once per scan (an InitPlan), not per row. `storedType` is format_type's name of the column's type, when known.
 */
function countedPredicate(rule: ValidationRule, column: string, storedType: string | undefined): RawBuilder<boolean> {
  const col = sql.id(column);
  if (rule.kind === 'range' && storedType !== undefined && WHOLE_NUMBER_TYPES.has(storedType)) {
    const low = rule.min === undefined ? undefined : Math.ceil(rule.min);
    const high = rule.max === undefined ? undefined : Math.floor(rule.max);
    // Past 2^53 a JavaScript number is no longer a whole number exactly: such a bound keeps the numeric comparison.
    if ([low, high].every((b) => b === undefined || Number.isSafeInteger(b))) {
      const sides = [
        ...(low === undefined ? [] : [sql<boolean>`${col} < ${low}::bigint`]),
        ...(high === undefined ? [] : [sql<boolean>`${col} > ${high}::bigint`]),
      ];
      return sql<boolean>`(${sql.join(sides, sql` or `)})`;
    }
  }
  if (rule.kind === 'freshness')
    return sql<boolean>`${col} < (select now() - make_interval(days => ${rule.maxAgeDays}::int))`;
  return violationPredicate(rule, column, '');
}

/** format_type's name of each column of `table`, read from the catalogue (empty when the relation is missing). */
async function storedTypes(db: Kysely<Database>, table: string): Promise<Map<string, string>> {
  // Quoted part by part, as sql.table quotes it, so to_regclass finds the same relation.
  const name = table
    .split('.')
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join('.');
  const { rows } = await sql<{ column: string; type: string }>`
    select attname as column, format_type(atttypid, null) as type from pg_attribute
    where attrelid = to_regclass(${name}) and attnum > 0 and not attisdropped`.execute(db);
  return new Map(rows.map((r) => [r.column, r.type]));
}

/**
 * PostgreSQL's regex dialect differs from JavaScript's, so ask PostgreSQL itself which patterns compile: the
 * reason (SQLSTATE 2201B) per pattern that does not. Any other error (the connection) is thrown, for a retry.
 */
export async function invalidPatterns(db: Kysely<Database>, rules: RuleToRun[]): Promise<Map<string, SqlRefusal>> {
  const problems = new Map<string, SqlRefusal>();
  for (const { rule } of rules) {
    if (rule.kind !== 'pattern' || problems.has(rule.regex)) continue;
    try {
      await sql`select '' ~ ${rule.regex}`.execute(db);
    } catch (error) {
      const refusal = sqlRefusal(error);
      if (!refusal) throw error;
      problems.set(rule.regex, refusal);
    }
  }
  return problems;
}

/** A rule the database refused for good, with the reason and SQLSTATE. */
export interface RefusedRule {
  refused: SqlRefusal;
}

/**
 * Runs `rules` through `scan` (one result per rule, in order) in as few scans as it can. When the database
 * refuses a scan for good (activities/data-sources/sql-errors.ts), the rules are halved — by attribute while they span
 * several, then rule by rule — and each half scanned again, so one rule that cannot run costs about
 * 2·log2(n) scans and every other rule still gets its result. A missing relation refuses every part at once.
 * Errors that may pass are thrown, for the activity's retry policy.
 */
export async function isolatingRefusals<T>(
  rules: RuleToRun[],
  scan: (part: RuleToRun[]) => Promise<T[]>,
  table?: string,
): Promise<(T | RefusedRule)[]> {
  const results = new Array<T | RefusedRule>(rules.length);
  const run = async (part: number[]): Promise<void> => {
    try {
      const found = await scan(part.map((i) => rules[i]!));
      part.forEach((i, k) => (results[i] = found[k]!));
    } catch (error) {
      const refused = sqlRefusal(error, table);
      if (!refused) throw error;
      if (part.length === 1 || refused.wholeRelation) return part.forEach((i) => (results[i] = { refused }));
      for (const half of halves(part, rules)) await run(half);
    }
  };
  if (rules.length > 0) await run(rules.map((_, i) => i));
  return results;
}

export const isRefused = <T>(result: T | RefusedRule): result is RefusedRule =>
  typeof result === 'object' && result !== null && 'refused' in result;

/** Two halves of `part`: by attribute while it spans several (an attribute's rules stay together), else by rule. */
function halves(part: number[], rules: RuleToRun[]): [number[], number[]] {
  const attributes = [...new Set(part.map((i) => rules[i]!.attribute.name))];
  if (attributes.length > 1) {
    const first = new Set(attributes.slice(0, Math.ceil(attributes.length / 2)));
    return [
      part.filter((i) => first.has(rules[i]!.attribute.name)),
      part.filter((i) => !first.has(rules[i]!.attribute.name)),
    ];
  }
  const middle = Math.ceil(part.length / 2);
  return [part.slice(0, middle), part.slice(middle)];
}

/**
 * Per rule (in the order given): how many rows of `table` violate it. Every rule but `unique` is evaluated in one
 * scan, which PostgreSQL splits across its parallel workers; a `unique` rule (its extra copies: non-null values
 * minus distinct ones) is one parallel hash aggregation of its column, all of them in a second statement on the
 * same snapshot.
 */
export async function countViolationsPerRule(
  db: Kysely<Database>,
  table: string,
  rules: RuleToRun[],
  statementTimeoutMs: number,
): Promise<{ checkedRows: number; counts: RuleCount[] }> {
  const numbered = rules.map((rule, i) => ({ rule, column: `v${i}` }));
  const [filtered, distinct] = [
    numbered.filter((n) => n.rule.rule.kind !== 'unique'),
    numbered.filter((n) => n.rule.rule.kind === 'unique'),
  ];
  const row = await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      // Both statements read one snapshot, so their counts describe the same rows.
      await sql`set transaction read only`.execute(trx);
      // JIT compiles the scan's expression of a few hundred rules in every parallel process: on a million rows that
      // took longer than it saved (bench/rule-execution.ts), so the scan is interpreted.
      await sql`select set_config('statement_timeout', ${String(statementTimeoutMs)}, true), set_config('jit', 'off', true)`.execute(
        trx,
      );
      const types = await storedTypes(trx, table);
      const counted = filtered.map(
        ({ rule, column }) =>
          sql`count(*) filter (where ${countedPredicate(rule.rule, rule.attribute.name, types.get(rule.attribute.name))})::int as ${sql.id(column)}`,
      );
      const scan = sql<
        Record<string, number>
      >`select ${sql.join([sql`count(*)::int as checked_rows`, ...counted])} from ${sql.table(table)}`;
      const [main] = (await scan.execute(trx)).rows;
      if (distinct.length === 0) return main;
      // A count(distinct …) in the main scan would keep PostgreSQL from splitting it across its workers, and sorts
      // every value; grouping hashes them, in parallel.
      const copies = distinct.map(({ rule, column }) => {
        const col = sql.id(rule.attribute.name);
        return sql`(select coalesce(sum(copies - 1), 0)::int from (select count(*) as copies from ${sql.table(table)}
          where ${col} is not null group by ${col}) as value_copies) as ${sql.id(column)}`;
      });
      const [unique] = (await sql<Record<string, number>>`select ${sql.join(copies)}`.execute(trx)).rows;
      return main && unique ? { ...unique, ...main } : undefined;
    });
  if (!row) throw new Error(`no result scanning ${table}`);
  return {
    checkedRows: row.checked_rows ?? 0,
    counts: numbered.map(({ rule, column }) => ({
      attribute: rule.attribute.name,
      ruleIndex: rule.ruleIndex,
      failedRows: row[column] ?? 0,
    })),
  };
}

/** Which records a scan covers: a data source's table, or only the records a sampling job selected from it. */
export interface RecordScope {
  table: string;
  /** The column naming a record (data_sources.record_id_column). */
  recordIdColumn: string;
  /** Only the records this sampling job stored in sample_records; the whole table when absent. */
  sampleJobId?: string;
}

export interface RuleFindings {
  failedRecords: number;
  /** The lowest ids of violating records, at most `maxFailingIds` of them, ascending. */
  failingRecordIds: number[];
}

/**
 * Per rule (in the order given): how many records in scope violate it and the lowest of their ids, all in
 * one scan. A violation is violationPredicate's, so `unique` fails every record sharing its value with
 * another record of the table (profiling's count, by contrast, counts only the extra copies). The ids
 * are collected per rule and then sliced: memory grows with a rule's violators, bounded by the scope.
 */
export async function findViolationsInOneScan(
  db: Kysely<Database>,
  scope: RecordScope,
  rules: RuleToRun[],
  options: { statementTimeoutMs: number; maxFailingIds: number },
): Promise<{ checkedRecords: number; findings: RuleFindings[] }> {
  const id = sql.id(scope.recordIdColumn);
  const aggregates = rules.flatMap((r, i) => {
    const violated = violationPredicate(r.rule, r.attribute.name, scope.table);
    return [
      sql`(count(*) filter (where ${violated}))::int as ${sql.id(`n${i}`)}`,
      sql`(array_agg(${id} order by ${id}) filter (where ${violated}))[1:${options.maxFailingIds}::int] as ${sql.id(`ids${i}`)}`,
    ];
  });
  const ruleColumns = aggregates.length ? sql`, ${sql.join(aggregates)}` : sql``;
  const inScope =
    scope.sampleJobId === undefined
      ? sql`true`
      : sql`${id} in (select row_id from sample_records where job_id = ${scope.sampleJobId})`;
  const query = sql<
    Record<string, unknown>
  >`select count(*)::int as checked_records${ruleColumns} from ${sql.table(scope.table)} where ${inScope}`;
  const row = await db.transaction().execute(async (trx) => {
    await sql`set transaction read only`.execute(trx);
    await sql`select set_config('statement_timeout', ${String(options.statementTimeoutMs)}, true)`.execute(trx);
    const { rows } = await query.execute(trx);
    return rows[0];
  });
  if (!row) throw new Error(`no result scanning ${scope.table}`);
  return {
    checkedRecords: Number(row.checked_records ?? 0),
    // pg hands bigint[] back as strings; record ids fit in doubles.
    findings: rules.map((_, i) => ({
      failedRecords: Number(row[`n${i}`] ?? 0),
      failingRecordIds: ((row[`ids${i}`] as string[] | null) ?? []).map(Number),
    })),
  };
}
