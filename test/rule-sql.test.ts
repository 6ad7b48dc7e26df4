// The rule compiler on the real demo table: each rule kind counts exactly what a hand-written query
// counts, and values from the LLM stay values however hostile they are.

import { sql } from 'kysely';
import { invalidPatterns, countViolationsPerRule, type RuleToRun } from '../activities/rule-sql';
import type { AttributeDescriptor, ValidationRule } from '../common/rules';
import { openDatabase } from '../db/connection';
import { DEMO_TABLE } from '../db/demo-data';

const db = openDatabase(process.env.DATABASE_URL!, 2);
afterAll(() => db.destroy());

const column = (name: string, dataType: AttributeDescriptor['dataType']): AttributeDescriptor => ({ name, dataType, description: '' });
const count = async (where: string) => (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(DEMO_TABLE)} where ${sql.raw(where)}`.execute(db)).rows[0]!.n;

const cases: [string, AttributeDescriptor, ValidationRule, string][] = [
  ['not_null', column('annual_income', 'numeric'), { kind: 'not_null' }, 'annual_income is null'],
  ['range', column('credit_score', 'integer'), { kind: 'range', min: 300, max: 850 }, 'credit_score < 300 or credit_score > 850'],
  ['range with only a minimum', column('credit_limit', 'numeric'), { kind: 'range', min: 0 }, 'credit_limit < 0'],
  ['allowed_values', column('account_status', 'text'), { kind: 'allowed_values', values: ['ACTIVE', 'CLOSED', 'SUSPENDED', 'DELINQUENT'] }, "account_status not in ('ACTIVE', 'CLOSED', 'SUSPENDED', 'DELINQUENT')"],
  ['pattern', column('billing_zip', 'text'), { kind: 'pattern', regex: '^[0-9]{5}$' }, "billing_zip !~ '^[0-9]{5}$'"],
  ['length', column('billing_state', 'text'), { kind: 'length', min: 2, max: 2 }, 'length(billing_state) <> 2'],
  ['unique', column('account_id', 'text'), { kind: 'unique' }, `account_id in (select account_id from ${DEMO_TABLE} group by 1 having count(*) > 1) and ctid not in (select min(ctid) from ${DEMO_TABLE} group by account_id)`],
  ['date_range', column('account_open_date', 'date'), { kind: 'date_range', notBefore: '1990-01-01' }, "account_open_date < date '1990-01-01'"],
  ['freshness', column('last_statement_date', 'date'), { kind: 'freshness', maxAgeDays: 400 }, "last_statement_date < now() - interval '400 days'"],
];

describe('rule compilation', () => {
  it('evaluates a whole batch of rules in one scan (unique rules in a second), each counting what hand-written SQL counts', async () => {
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
    const scan = await countViolationsPerRule(db, DEMO_TABLE, [{ attribute: column('account_status', 'text'), ruleIndex: 0, rule: { kind: 'allowed_values', values: hostile } }], 30_000);
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
    expect(problems.get('(?<=a)b[')).toMatch(/invalid regular expression/);
  });
});
