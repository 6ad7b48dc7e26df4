// Whichever way countViolationsPerRule evaluates a rule (per row, per distinct value, with whole-number bounds), it
// counts exactly the rows the plain per-row predicate (violationPredicate) counts: on a table built for the edges —
// NULLs, boundary values, few and many distinct values, non-ASCII text, numerics of large scale and precision.

import { sql } from 'kysely';
import {
  columnFacts,
  countViolationsPerRule,
  evaluatedPerValue,
  violationPredicate,
  type RuleToRun,
} from '../../activities/rules/rule-sql';
import type { AttributeDescriptor, ValidationRule } from '../../common/rules';
import { openDatabase } from '../../db/connection';

const db = openDatabase(process.env.DATABASE_URL!, 2);
const TABLE = `rule_edges_${process.pid}`;

// Few distinct values: look-alikes a byte-wise grouping must keep apart (case, spaces, full-width digits, accents).
const FEW = [
  'ACC00000001',
  'ACC0000001',
  'acc00000001',
  ' ACC00000001',
  'ACC00000001 ',
  'ACC０００００００１',
  'Zürich',
  'Zu\u0308rich',
  '東京都',
  '😀x',
  '',
];

beforeAll(async () => {
  await sql`create table ${sql.table(TABLE)} (
      row_no int, few text, few_varchar varchar(20), few_c text collate "C", many text, amount numeric, age integer)`.execute(
    db,
  );
  await sql`insert into ${sql.table(TABLE)}
    select g,
      case when g % 17 = 0 then null else (${FEW}::text[])[1 + g % ${FEW.length}] end,
      case when g % 19 = 0 then null else (${FEW}::text[])[1 + (g / 3) % ${FEW.length}] end,
      case when g % 23 = 0 then null else (${FEW}::text[])[1 + (g / 7) % ${FEW.length}] end,
      case when g % 13 = 0 then null when g % 11 = 0 then 'ACC' || (g % 50) when g % 7 = 0 then 'acc' || g
           else 'ACC' || lpad(g::text, 8, '0') end,
      (array[null, 0, 1.5, 1.50000000000000000000000000001, -0.000000000000000000000000000001,
             123456789012345678901234567890.123456789, 'NaN', 1.4999999999999999999999, 0.0000])[1 + g % 9]::numeric
        + case when g % 10 = 0 then g / 7.0 else 0 end,
      (array[null, 17, 18, 110, 111, -2147483648, 2147483647])[1 + g % 7]
    from generate_series(1, 4000) as g`.execute(db);
  await sql`analyze ${sql.table(TABLE)}`.execute(db);
});
afterAll(async () => {
  await sql`drop table if exists ${sql.table(TABLE)}`.execute(db);
  await db.destroy();
});

const attribute = (name: string, dataType: AttributeDescriptor['dataType']): AttributeDescriptor => ({
  name,
  dataType,
  description: '',
});

const text = (name: string) => attribute(name, 'text');
const patterns = ['^ACC[0-9]{8}$', '^[[:alpha:]]+$', '^.{0,3}$', '(?i)^acc', 'ü', '^$'];
const rules: RuleToRun[] = [
  ...['few', 'few_varchar', 'few_c', 'many'].flatMap((name) =>
    [
      ...patterns.map((regex): ValidationRule => ({ kind: 'pattern', regex })),
      { kind: 'unique' } as ValidationRule,
      { kind: 'not_null' } as ValidationRule,
      { kind: 'allowed_values', values: ['ACC00000001', 'Zürich'] } as ValidationRule,
      { kind: 'length', min: 1, max: 11 } as ValidationRule,
    ].map((rule) => ({ attribute: text(name), rule })),
  ),
  ...(
    [
      { kind: 'range', min: 0, max: 1.5 },
      { kind: 'range', min: -1e-30 },
      { kind: 'range', max: 1.5 },
      { kind: 'range', min: 1.5, max: 0 },
    ] as ValidationRule[]
  ).map((rule) => ({ attribute: attribute('amount', 'numeric'), rule })),
  ...(
    [
      { kind: 'range', min: 18, max: 110 },
      { kind: 'range', min: 17.5, max: 110.5 },
      { kind: 'range', min: -2147483648, max: 2147483647 },
      { kind: 'range', max: 1e20 },
    ] as ValidationRule[]
  ).map((rule) => ({ attribute: attribute('age', 'integer'), rule })),
].map((r, ruleIndex) => ({ ...r, ruleIndex }));

/** What the plain per-row predicate counts; for `unique`, the copies past the first of each non-null value. */
async function plainCount({ rule, attribute: { name } }: RuleToRun): Promise<number> {
  const query =
    rule.kind === 'unique'
      ? sql<{
          n: number;
        }>`select (count(${sql.id(name)}) - count(distinct ${sql.id(name)}))::int as n from ${sql.table(TABLE)}`
      : sql<{
          n: number;
        }>`select count(*)::int as n from ${sql.table(TABLE)} where ${violationPredicate(rule, name, TABLE)}`;
  return (await query.execute(db)).rows[0]!.n;
}

describe('how each rule is evaluated', () => {
  it('evaluates patterns and uniqueness once per distinct value only on analysed text columns of few values compared byte by byte', async () => {
    const facts = await columnFacts(db, TABLE);
    expect({
      few: evaluatedPerValue(facts.get('few')),
      few_varchar: evaluatedPerValue(facts.get('few_varchar')),
      few_c: evaluatedPerValue(facts.get('few_c')),
      many: evaluatedPerValue(facts.get('many')),
      amount: evaluatedPerValue(facts.get('amount')),
    }).toEqual({ few: true, few_varchar: true, few_c: false, many: false, amount: false });
    expect(evaluatedPerValue({ type: 'text', defaultCollation: true })).toBe(false);
    expect(evaluatedPerValue(undefined)).toBe(false);
  });

  it('counts exactly what the per-row predicate counts, all rules in one batch and each rule alone', async () => {
    const expected = await Promise.all(rules.map(plainCount));
    const batch = await countViolationsPerRule(db, TABLE, rules, 30_000);
    expect(batch.checkedRows).toBe(4000);
    const named = (counts: number[]) =>
      rules.map((r, i) => `${r.attribute.name} ${JSON.stringify(r.rule)}: ${counts[i]}`);
    expect(named(batch.counts.map((c) => c.failedRows))).toEqual(named(expected));
    const alone = [];
    for (const rule of rules)
      alone.push((await countViolationsPerRule(db, TABLE, [rule], 30_000)).counts[0]!.failedRows);
    expect(named(alone)).toEqual(named(expected));
    // Not a vacuous comparison: the patterns on the few-valued column find some rows and pass others.
    const few = rules.flatMap((r, i) =>
      r.attribute.name === 'few' && r.rule.kind === 'pattern' ? [expected[i]!] : [],
    );
    expect(few.filter((n) => n > 0 && n < 4000).length).toBeGreaterThanOrEqual(4);
  });
});
