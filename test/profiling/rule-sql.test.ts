// The rule compiler on the real demo table: each rule kind counts exactly what a hand-written query
// counts, values from the LLM stay values however hostile they are, a rule the database refuses is
// isolated while the others still count, and which database errors are taken to never heal.

import { sql } from 'kysely';
import {
  invalidPatterns,
  countViolationsPerRule,
  isolatingRefusals,
  type RuleToRun,
} from '../../activities/rules/rule-sql';
import { sqlRefusal } from '../../activities/data-sources/sql-errors';
import type { AttributeDescriptor, ValidationRule } from '../../common/rules';
import { openDatabase } from '../../db/connection';
import { DEMO_TABLE } from '../../db/demo-data';

const db = openDatabase(process.env.DATABASE_URL!, 2);
afterAll(() => db.destroy());

const column = (name: string, dataType: AttributeDescriptor['dataType']): AttributeDescriptor => ({
  name,
  dataType,
  description: '',
});
const count = async (where: string) =>
  (
    await sql<{ n: number }>`select count(*)::int as n from ${sql.table(DEMO_TABLE)} where ${sql.raw(where)}`.execute(
      db,
    )
  ).rows[0]!.n;

const cases: [string, AttributeDescriptor, ValidationRule, string][] = [
  ['not_null', column('annual_income', 'numeric'), { kind: 'not_null' }, 'annual_income is null'],
  [
    'range',
    column('credit_score', 'integer'),
    { kind: 'range', min: 300, max: 850 },
    'credit_score < 300 or credit_score > 850',
  ],
  ['range with only a minimum', column('credit_limit', 'numeric'), { kind: 'range', min: 0 }, 'credit_limit < 0'],
  [
    'allowed_values',
    column('account_status', 'text'),
    { kind: 'allowed_values', values: ['ACTIVE', 'CLOSED', 'SUSPENDED', 'DELINQUENT'] },
    "account_status not in ('ACTIVE', 'CLOSED', 'SUSPENDED', 'DELINQUENT')",
  ],
  ['pattern', column('billing_zip', 'text'), { kind: 'pattern', regex: '^[0-9]{5}$' }, "billing_zip !~ '^[0-9]{5}$'"],
  ['length', column('billing_state', 'text'), { kind: 'length', min: 2, max: 2 }, 'length(billing_state) <> 2'],
  [
    'unique',
    column('account_id', 'text'),
    { kind: 'unique' },
    `account_id in (select account_id from ${DEMO_TABLE} group by 1 having count(*) > 1) and ctid not in (select min(ctid) from ${DEMO_TABLE} group by account_id)`,
  ],
  [
    'date_range',
    column('account_open_date', 'date'),
    { kind: 'date_range', notBefore: '1990-01-01' },
    "account_open_date < date '1990-01-01'",
  ],
  [
    'freshness',
    column('last_statement_date', 'date'),
    { kind: 'freshness', maxAgeDays: 400 },
    "last_statement_date < now() - interval '400 days'",
  ],
  [
    'freshness of a timestamp',
    column('last_review_timestamp', 'timestamp'),
    { kind: 'freshness', maxAgeDays: 400 },
    "last_review_timestamp < now() - interval '400 days'",
  ],
  [
    'range with fractional bounds on a whole-number column',
    column('credit_score', 'integer'),
    { kind: 'range', min: 579.5, max: 780.25 },
    'credit_score < 579.5 or credit_score > 780.25',
  ],
  [
    'range with only a maximum on a whole-number column',
    column('cardholder_age', 'integer'),
    { kind: 'range', max: 64.9 },
    'cardholder_age > 64.9',
  ],
  [
    'range with a bound past 2^53 on a whole-number column',
    column('credit_score', 'integer'),
    { kind: 'range', min: -1e20, max: 700 },
    'credit_score > 700',
  ],
  [
    // The catalogue says integer, the table stores numeric: the bounds stay fractional.
    'range with fractional bounds on a numeric column the catalogue calls integer',
    column('annual_income', 'integer'),
    { kind: 'range', min: 20_000.5, max: 150_000.5 },
    'annual_income < 20000.5 or annual_income > 150000.5',
  ],
  [
    'a second unique',
    column('customer_id', 'text'),
    { kind: 'unique' },
    `customer_id in (select customer_id from ${DEMO_TABLE} group by 1 having count(*) > 1) and ctid not in (select min(ctid) from ${DEMO_TABLE} group by customer_id)`,
  ],
];

describe('rule compilation', () => {
  it('evaluates a whole batch of rules in one scan (unique rules in a second statement), each counting what hand-written SQL counts', async () => {
    const rules: RuleToRun[] = cases.map(([, attribute, rule], ruleIndex) => ({ attribute, rule, ruleIndex }));
    const scan = await countViolationsPerRule(db, DEMO_TABLE, rules, 30_000);
    expect(scan.checkedRows).toBe(10_000);
    for (const [i, [name, , , where]] of cases.entries()) {
      expect({ name, failed: scan.counts[i]!.failedRows }).toEqual({ name, failed: await count(where) });
    }
    // The demo data is built with defects: most of these rules must find some.
    expect(scan.counts.filter((c) => c.failedRows > 0).length).toBeGreaterThanOrEqual(7);
  });

  it('treats hostile strings from the LLM as plain values', async () => {
    const hostile = ["ACTIVE'); drop table jobs; --", "' or 1=1 --", '"; delete from jobs; --'];
    const scan = await countViolationsPerRule(
      db,
      DEMO_TABLE,
      [
        {
          attribute: column('account_status', 'text'),
          ruleIndex: 0,
          rule: { kind: 'allowed_values', values: hostile },
        },
      ],
      30_000,
    );
    expect(scan.counts[0]!.failedRows).toBe(await count('account_status is not null'));
    // The jobs table is still there: nothing in those strings ran as SQL.
    await expect(sql`select 1 from jobs limit 1`.execute(db)).resolves.toBeDefined();
  });

  it('finds patterns PostgreSQL cannot compile before they can spoil a scan', async () => {
    const rules: RuleToRun[] = [
      { attribute: column('billing_zip', 'text'), ruleIndex: 0, rule: { kind: 'pattern', regex: '^[0-9]{5}$' } },
      { attribute: column('billing_zip', 'text'), ruleIndex: 1, rule: { kind: 'pattern', regex: '(?<=a)b[' } },
    ];
    const problems = await invalidPatterns(db, rules);
    expect([...problems.keys()]).toEqual(['(?<=a)b[']);
    expect(problems.get('(?<=a)b[')).toMatchObject({
      reason: expect.stringMatching(/^invalid regular expression: .*\(SQLSTATE 2201B\)$/),
      sqlstate: '2201B',
    });
  });
});

describe('rules the database refuses', () => {
  /** Scans through countViolationsPerRule on `table`, counting the scans tried. */
  const scanner = (table: string) => {
    const scans: string[][] = [];
    const scan = async (part: RuleToRun[]) => {
      scans.push(part.map((r) => `${r.attribute.name}#${r.ruleIndex}`));
      return (await countViolationsPerRule(db, table, part, 30_000)).counts.map((c) => c.failedRows);
    };
    return { scans, scan };
  };

  it('isolates the rules that cannot run, with reason and SQLSTATE, and counts every other rule as a batch of its own would', async () => {
    const rules: RuleToRun[] = [
      ...cases.slice(0, 4).map(([, attribute, rule], ruleIndex) => ({ attribute, rule, ruleIndex })),
      // The catalogue says numeric, the table stores text: no `<` between text and numeric.
      { attribute: column('account_status', 'numeric'), ruleIndex: 4, rule: { kind: 'range', min: 0, max: 1 } },
      { attribute: column('account_status', 'numeric'), ruleIndex: 5, rule: { kind: 'not_null' } },
      // In the catalogue, not in the table.
      { attribute: column('no_such_column', 'text'), ruleIndex: 6, rule: { kind: 'not_null' } },
      ...cases.slice(4, 6).map(([, attribute, rule], i) => ({ attribute, rule, ruleIndex: 7 + i })),
    ];
    const { scan } = scanner(DEMO_TABLE);
    const results = await isolatingRefusals(rules, scan, DEMO_TABLE);
    expect(results[4]).toEqual({
      refused: {
        reason: `operator does not exist: text < numeric (table ${DEMO_TABLE}, SQLSTATE 42883)`,
        sqlstate: '42883',
        wholeRelation: false,
      },
    });
    expect(results[6]).toEqual({
      refused: {
        reason: `column "no_such_column" of ${DEMO_TABLE} does not exist (SQLSTATE 42703)`,
        sqlstate: '42703',
        wholeRelation: false,
      },
    });
    // Every other rule ran, the not_null of the mistyped column included, and counts what it counts alone.
    for (const i of [0, 1, 2, 3, 5, 7, 8]) {
      expect({ i, failed: results[i] }).toEqual({ i, failed: (await scan([rules[i]!]))[0] });
    }
  });

  it('refuses every rule after one scan when the table itself is gone', async () => {
    const rules: RuleToRun[] = cases.map(([, attribute, rule], ruleIndex) => ({ attribute, rule, ruleIndex }));
    const { scans, scan } = scanner('no_such_table');
    const results = await isolatingRefusals(rules, scan, 'no_such_table');
    expect(scans).toHaveLength(1);
    expect(new Set(results.map((r) => JSON.stringify(r)))).toEqual(
      new Set([
        JSON.stringify({
          refused: {
            reason: 'relation "no_such_table" does not exist (SQLSTATE 42P01)',
            sqlstate: '42P01',
            wholeRelation: true,
          },
        }),
      ]),
    );
  });

  it('takes SQLSTATE classes 22 and 42 to never heal, and retries connection loss, timeouts, cancels, deadlocks and anything without a SQLSTATE', () => {
    const failure = (code?: string) => Object.assign(new Error(`failure ${code}`), { code });
    for (const code of ['42703', '42P01', '42883', '42804', '42846', '42501', '22P02', '22003', '22008', '2201B'])
      expect(sqlRefusal(failure(code), 't')?.sqlstate).toBe(code);
    for (const code of [undefined, '08006', '57014', '57P01', '40001', '40P01', '53300', '55P03', 'XX000', '58030'])
      expect(sqlRefusal(failure(code), 't')).toBeUndefined();
    expect(sqlRefusal(new Error('Connection terminated unexpectedly'))).toBeUndefined();
  });
});
