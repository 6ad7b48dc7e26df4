// The pure shaping of a job's results (client/job-results.ts), alone: pass rate per attribute over the rules that ran,
// counts with every key present, lists capped with their total, and the family each job type's results come from.

import { JobType } from '../../common/jobs';
import {
  attributePassRates,
  countsBy,
  listed,
  passRate,
  resultFamilyOf,
  RESULTS_MAX_ROWS,
  type RuleOutcome,
} from '../../client/job-results';

const rule = (
  attribute: string,
  index: number,
  checked: number | null,
  failed: number | null,
  error: string | null = null,
) =>
  ({
    attribute,
    rule_index: index,
    kind: 'not_null',
    description: `rule ${index}`,
    severity: 'high',
    checked_rows: checked,
    failed_rows: failed,
    pass_rate: checked === null || error ? null : passRate(checked, failed ?? 0),
    error,
  }) satisfies RuleOutcome & { attribute: string };

describe('attributePassRates', () => {
  it('pools rows checked and failing over the rules that ran, as the job result does', () => {
    const [a] = attributePassRates(
      [{ attribute: 'apr', status: 'completed', rules_count: 2, failure_reason: null }],
      [rule('apr', 0, 100, 10), rule('apr', 1, 300, 0)],
    );
    expect(a).toMatchObject({ attribute: 'apr', checked_rows: 400, failed_rows: 10, pass_rate: 1 - 10 / 400 });
    expect(a!.rules.map((r) => r.rule_index)).toEqual([0, 1]);
  });

  it('leaves out a rule that could not run or has not run yet, and gives null when none ran', () => {
    const shaped = attributePassRates(
      [
        { attribute: 'a', status: 'completed', rules_count: 2, failure_reason: null },
        { attribute: 'b', status: 'completed', rules_count: 1, failure_reason: null },
      ],
      [rule('a', 0, 50, 5), rule('a', 1, 0, 0, 'operator does not exist'), rule('b', 0, null, null)],
    );
    expect(shaped[0]).toMatchObject({ checked_rows: 50, failed_rows: 5, pass_rate: 0.9 });
    expect(shaped[0]!.rules[1]!.error).toBe('operator does not exist');
    expect(shaped[1]).toMatchObject({ checked_rows: 0, failed_rows: 0, pass_rate: null });
  });

  it('keeps the order of the attributes and gives an attribute whose generation failed no rules', () => {
    const shaped = attributePassRates(
      [
        { attribute: 'z', status: 'completed', rules_count: 1, failure_reason: null },
        { attribute: 'a', status: 'failed', rules_count: 0, failure_reason: 'invalid answer' },
      ],
      [rule('z', 0, 10, 10)],
    );
    expect(shaped.map((s) => s.attribute)).toEqual(['z', 'a']);
    expect(shaped[0]!.pass_rate).toBe(0);
    expect(shaped[1]).toMatchObject({ status: 'failed', failure_reason: 'invalid answer', rules: [], pass_rate: null });
  });
});

describe('countsBy', () => {
  it('has every key, zero where no row names it, and ignores keys it was not asked for', () => {
    expect(
      countsBy(
        [
          { key: 'fail', n: 3 },
          { key: 'other', n: 9 },
        ],
        ['pass', 'fail', 'error'],
      ),
    ).toEqual({ pass: 0, fail: 3, error: 0 });
  });
});

describe('listed', () => {
  it('keeps a list of at most RESULTS_MAX_ROWS whole, without counting', async () => {
    const rows = Array.from({ length: RESULTS_MAX_ROWS }, (_, i) => i);
    const count = jest.fn(() => Promise.resolve(-1));
    expect(await listed(rows, count)).toEqual({ total: RESULTS_MAX_ROWS, truncated: false, items: rows });
    expect(count).not.toHaveBeenCalled();
  });

  it('cuts a longer one (read with one row more) to RESULTS_MAX_ROWS and counts them all', async () => {
    const rows = Array.from({ length: RESULTS_MAX_ROWS + 1 }, (_, i) => i);
    const shaped = await listed(rows, () => Promise.resolve(20_000));
    expect(shaped).toMatchObject({ total: 20_000, truncated: true });
    expect(shaped.items).toEqual(rows.slice(0, RESULTS_MAX_ROWS));
  });
});

describe('resultFamilyOf', () => {
  it('names the family of every job type and none for a type no family runs', () => {
    expect(resultFamilyOf(JobType.DataProfilingRuleExecution)).toBe('profiling');
    expect(resultFamilyOf(JobType.PdeRegeneration)).toBe('planning');
    expect(resultFamilyOf(JobType.TestExecution)).toBe('test_execution');
    expect(Object.values(JobType).every((t) => resultFamilyOf(t) !== undefined)).toBe(true);
    expect(resultFamilyOf('legacy_export')).toBeUndefined();
  });
});
