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

/** What the scan needs to know of a column of the table it reads. */
export interface ColumnFacts {
  /** format_type's name of the stored type. */
  type: string;
  /** Whether the column compares by the database's default collation (always deterministic in PostgreSQL 15). */
  defaultCollation: boolean;
  /** ANALYZE's estimate of its distinct values (pg_stats.n_distinct as a count); absent when never analysed. */
  distinctEstimate?: number;
  /** ANALYZE's estimate of the table's rows (pg_class.reltuples); absent when never analysed. */
  rowEstimate?: number;
}

/** Each column of `table` as the catalogue and its statistics describe it (empty when the relation is missing). */
export async function columnFacts(db: Kysely<Database>, table: string): Promise<Map<string, ColumnFacts>> {
  // Quoted part by part, as sql.table quotes it, so to_regclass finds the same relation.
  const name = table
    .split('.')
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join('.');
  // Collation 100 is the database default (DEFAULT_COLLATION_OID). A scan of an inheritance parent reads its children
  // too, so the statistics that include them (inherited) come first.
  const { rows } = await sql<{
    column: string;
    type: string;
    default_collation: boolean;
    n_distinct: number | null;
    reltuples: number;
  }>`
    select a.attname as column, format_type(a.atttypid, null) as type, a.attcollation = 100 as default_collation,
      (select s.n_distinct from pg_stats s
        where s.schemaname = n.nspname and s.tablename = c.relname and s.attname = a.attname
        order by s.inherited desc limit 1)::float8 as n_distinct,
      c.reltuples::float8 as reltuples
    from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
    where a.attrelid = to_regclass(${name}) and a.attnum > 0 and not a.attisdropped`.execute(db);
  return new Map(
    rows.map((r) => {
      const rowEstimate = r.reltuples >= 0 ? r.reltuples : undefined;
      // A negative n_distinct is a fraction of the rows (the count grows with the table).
      const distinctEstimate =
        r.n_distinct === null ? undefined : r.n_distinct >= 0 ? r.n_distinct : -r.n_distinct * (rowEstimate ?? 0);
      return [r.column, { type: r.type, defaultCollation: r.default_collation, distinctEstimate, rowEstimate }];
    }),
  );
}

/** Text types whose equality (under a deterministic collation) is byte equality, so equal values match alike. */
const BYTE_EQUAL_TEXT_TYPES = new Set(['text', 'character varying']);

/**
 * At most this many distinct values (by ANALYZE's estimate) and at most this share of the rows, for a column's
 * `pattern` and `unique` rules to be evaluated once per distinct value instead of once per row. Each (row, column)
 * pair through the grouping costs about half a PostgreSQL regex match (bench/rule-execution.ts measured both), so it
 * pays only when the regex then runs on few values; and a grouping of many values would outgrow work_mem and spill.
 */
const PER_VALUE_MAX_DISTINCT = 50_000;
const PER_VALUE_MAX_DISTINCT_SHARE = 0.1;

/**
 * Whether a column's `pattern` and `unique` rules are evaluated once per distinct value (countViolationsPerRule): a
 * text column whose equal values are identical bytes (so a regex answers alike for all of them), and few distinct
 * values as far as ANALYZE knows. This depends on the data's cardinality: a column never analysed, or with many
 * distinct values, keeps the per-row evaluation. Either way every count is the same; only the cost differs.
 */
export function evaluatedPerValue(facts: ColumnFacts | undefined): boolean {
  if (!facts || !BYTE_EQUAL_TEXT_TYPES.has(facts.type) || !facts.defaultCollation) return false;
  const { distinctEstimate, rowEstimate } = facts;
  if (distinctEstimate === undefined || rowEstimate === undefined || rowEstimate <= 0) return false;
  return distinctEstimate <= PER_VALUE_MAX_DISTINCT && distinctEstimate <= rowEstimate * PER_VALUE_MAX_DISTINCT_SHARE;
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
 * same snapshot. A text column with few distinct values (evaluatedPerValue) has its `pattern` and `unique` rules
 * answered from one grouping of all such columns' values instead: each regex runs once per distinct value, weighted
 * by how many rows hold it, which counts the same rows as the per-row predicate.
 */
export async function countViolationsPerRule(
  db: Kysely<Database>,
  table: string,
  rules: RuleToRun[],
  statementTimeoutMs: number,
): Promise<{ checkedRows: number; counts: RuleCount[] }> {
  const numbered = rules.map((rule, i) => ({ rule, column: `v${i}` }));
  const row = await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      // Every statement reads one snapshot, so their counts describe the same rows.
      await sql`set transaction read only`.execute(trx);
      // JIT compiles the scan's expression of a few hundred rules in every parallel process: on a million rows that
      // took longer than it saved (bench/rule-execution.ts), so the scan is interpreted.
      await sql`select set_config('statement_timeout', ${String(statementTimeoutMs)}, true), set_config('jit', 'off', true)`.execute(
        trx,
      );
      const facts = await columnFacts(trx, table);
      const perValue = numbered.filter(
        (n) => ['pattern', 'unique'].includes(n.rule.rule.kind) && evaluatedPerValue(facts.get(n.rule.attribute.name)),
      );
      const grouped = numbered.filter((n) => n.rule.rule.kind === 'unique' && !perValue.includes(n));
      const filtered = numbered.filter((n) => n.rule.rule.kind !== 'unique' && !perValue.includes(n));
      const counted = filtered.map(
        ({ rule, column }) =>
          sql`count(*) filter (where ${countedPredicate(rule.rule, rule.attribute.name, facts.get(rule.attribute.name)?.type)})::int as ${sql.id(column)}`,
      );
      const scan = sql<
        Record<string, number>
      >`select ${sql.join([sql`count(*)::int as checked_rows`, ...counted])} from ${sql.table(table)}`;
      const [main] = (await scan.execute(trx)).rows;
      if (!main) return undefined;
      const perValueCounts = await countPerDistinctValue(trx, table, perValue);
      if (grouped.length === 0) return { ...perValueCounts, ...main };
      // A count(distinct …) in the main scan would keep PostgreSQL from splitting it across its workers, and sorts
      // every value; grouping hashes them, in parallel.
      const copies = grouped.map(({ rule, column }) => {
        const col = sql.id(rule.attribute.name);
        return sql`(select coalesce(sum(copies - 1), 0)::int from (select count(*) as copies from ${sql.table(table)}
          where ${col} is not null group by ${col}) as value_copies) as ${sql.id(column)}`;
      });
      const [unique] = (await sql<Record<string, number>>`select ${sql.join(copies)}`.execute(trx)).rows;
      return unique ? { ...unique, ...perValueCounts, ...main } : undefined;
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

/**
 * The `pattern` and `unique` rules of columns evaluatedPerValue chose, from one scan that hash-groups the table by each
 * such column on its own (grouping sets): per group, one value and the rows holding it. A pattern counts the rows of the
 * groups whose value it does not match, with the same predicate as row by row (equal values of these columns are
 * identical text); a `unique` rule the copies past the first of each value. A column is NULL in every other column's
 * groups, and NULLs are counted by neither rule, so each rule sees its own column's groups only.
 */
async function countPerDistinctValue(
  trx: Kysely<Database>,
  table: string,
  rules: { rule: RuleToRun; column: string }[],
): Promise<Record<string, number>> {
  if (rules.length === 0) return {};
  const columns = [...new Set(rules.map((r) => r.rule.attribute.name))];
  const counts = rules.map(({ rule, column }) => {
    const name = rule.attribute.name;
    const counted =
      rule.rule.kind === 'pattern'
        ? sql`sum(copies) filter (where ${violationPredicate(rule.rule, name, table)})`
        : sql`sum(copies - 1) filter (where ${sql.id(name)} is not null)`;
    return sql`coalesce(${counted}, 0)::int as ${sql.id(column)}`;
  });
  // Grouping sets are not split across parallel workers, but one process hashing every column in a single scan took
  // less time than a parallel grouping of (column, value) pairs (bench/rule-execution.ts, docs/benchmarks.md).
  const { rows } = await sql<Record<string, number>>`select ${sql.join(counts)} from (
      select ${sql.join(columns.map((c) => sql.id(c)))}, count(*) as copies from ${sql.table(table)}
      group by grouping sets (${sql.join(columns.map((c) => sql`(${sql.id(c)})`))})) as value_copies`.execute(trx);
  return rows[0] ?? {};
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
