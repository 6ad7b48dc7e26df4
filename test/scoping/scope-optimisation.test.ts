// Unit tests of the scoping job's two pure algorithms, with hand-computed cases: the risk score that orders
// recommendations, and the scope optimisation that picks the smallest covering test set within a budget.

import { byPriority, riskScore, sensitivityPoints, type ProfiledRule } from '../../activities/scoping/risk-score';
import { chooseTests, EXACT_CANDIDATE_LIMIT, type CandidateTest } from '../../activities/scoping/scope-optimisation';

const rule = (
  severity: ProfiledRule['severity'],
  failedRows: number,
  passRate: number | null = 1 - failedRows / 10_000,
): ProfiledRule => ({ kind: 'range', severity, passRate, failedRows, checkedRows: 10_000 });

describe('risk score', () => {
  it('adds LLM risk, failure rate, severity and sensitivity points', () => {
    // 30 (medium) + 10 + round(0.02 * 300) = 16 (worst rule fails 2 %) + min(15, 10 + 10) + 0 (not sensitive)
    const score = riskScore({
      name: 'credit_score',
      description: 'FICO score at last review',
      risk: 'medium',
      inScope: true,
      profilingRules: [rule('high', 100), rule('high', 200)],
    });
    expect(score).toEqual({ score: 61, parts: { llmRisk: 30, failures: 16, severity: 15, sensitivity: 0 } });
  });

  it('scores personal data without profiling from the LLM risk and the keywords alone', () => {
    expect(
      riskScore({ name: 'email_address', description: 'Contact email address', risk: 'high', inScope: true }),
    ).toEqual({ score: 60, parts: { llmRisk: 50, failures: 0, severity: 0, sensitivity: 10 } });
  });

  it('ignores rules that passed or could not run, and halves out-of-scope attributes', () => {
    const rules = [rule('high', 0), rule('medium', 0, null)];
    expect(
      riskScore({
        name: 'rewards_points',
        description: 'Rewards points balance',
        risk: 'low',
        inScope: false,
        profilingRules: rules,
      }),
    ).toEqual({
      score: 8, // floor((10 + 7) / 2): "balance" is financial
      parts: { llmRisk: 10, failures: 0, severity: 0, sensitivity: 7 },
    });
  });

  it('caps each part so the total tops out at exactly 100', () => {
    const score = riskScore({
      name: 'customer_ssn',
      description: 'Social security number',
      risk: 'high',
      inScope: true,
      profilingRules: [rule('high', 5_000), rule('high', 1)],
    });
    expect(score).toEqual({ score: 100, parts: { llmRisk: 50, failures: 25, severity: 15, sensitivity: 10 } });
  });

  it('takes the strongest sensitivity keyword of name and description', () => {
    expect(sensitivityPoints('account_id', 'Account identifier')).toBe(5);
    expect(sensitivityPoints('billing_zip', 'Five-digit US ZIP code')).toBe(10);
    expect(sensitivityPoints('credit_limit', 'Credit limit in USD')).toBe(7);
    expect(sensitivityPoints('risk_grade', 'Internal risk grade')).toBe(0);
  });

  it('orders by score, highest first, then by name', () => {
    const items = [
      { attribute: 'b', score: 40 },
      { attribute: 'c', score: 70 },
      { attribute: 'a', score: 40 },
    ];
    expect([...items].sort(byPriority).map((i) => i.attribute)).toEqual(['c', 'a', 'b']);
  });
});

const test = (id: string, cost: number, covers: string[]): CandidateTest => ({ id, cost, covers });

describe('scope optimisation', () => {
  const wide = [test('broad', 5, ['a', 'b', 'c', 'd']), test('left', 1, ['a', 'b']), test('right', 1, ['c', 'd'])];

  it('prefers the fewest tests when the budget allows', () => {
    expect(chooseTests({ candidates: wide, targets: ['a', 'b', 'c', 'd'], budget: null })).toEqual({
      selected: ['broad'],
      covered: ['a', 'b', 'c', 'd'],
      uncovered: [],
      cost: 5,
      method: 'exact',
    });
  });

  it('takes more, cheaper tests when the fewest do not fit the budget', () => {
    expect(chooseTests({ candidates: wide, targets: ['a', 'b', 'c', 'd'], budget: 4 })).toMatchObject({
      selected: ['left', 'right'],
      uncovered: [],
      cost: 2,
    });
  });

  it('covers as many targets as the budget allows and names the rest', () => {
    expect(chooseTests({ candidates: wide, targets: ['a', 'b', 'c', 'd'], budget: 1 })).toEqual({
      selected: ['left'],
      covered: ['a', 'b'],
      uncovered: ['c', 'd'],
      cost: 1,
      method: 'exact',
    });
    expect(chooseTests({ candidates: wide, targets: ['a'], budget: 0 })).toEqual({
      selected: [],
      covered: [],
      uncovered: ['a'],
      cost: 0,
      method: 'exact',
    });
  });

  it('breaks ties by cost, then by candidate order', () => {
    expect(
      chooseTests({
        candidates: [test('p', 3, ['a', 'b']), test('q', 2, ['a', 'b'])],
        targets: ['a', 'b'],
        budget: null,
      }).selected,
    ).toEqual(['q']);
    expect(
      chooseTests({
        candidates: [test('p', 2, ['a', 'b']), test('q', 2, ['a', 'b'])],
        targets: ['a', 'b'],
        budget: null,
      }).selected,
    ).toEqual(['p']);
  });

  it('ignores non-target names and tests covering no target', () => {
    const result = chooseTests({
      candidates: [test('noise', 1, ['x', 'y']), test('real', 4, ['a', 'x'])],
      targets: ['a'],
      budget: null,
    });
    expect(result).toMatchObject({ selected: ['real'], covered: ['a'], cost: 4 });
  });

  // A classic case where greedy is not optimal: it takes the widest set first and then needs two more.
  const trap = [test('S1', 1, ['1', '2', '3', '4']), test('S2', 1, ['1', '2', '5']), test('S3', 1, ['3', '4', '6'])];
  const targets = ['1', '2', '3', '4', '5', '6'];

  it('finds the optimum where greedy would not', () => {
    expect(chooseTests({ candidates: trap, targets, budget: null })).toMatchObject({
      selected: ['S2', 'S3'],
      uncovered: [],
      method: 'exact',
    });
  });

  it('falls back to greedy beyond the candidate cap', () => {
    expect(chooseTests({ candidates: trap, targets, budget: null, exactLimit: 2 })).toMatchObject({
      selected: ['S1', 'S2', 'S3'],
      uncovered: [],
      method: 'greedy',
    });
    const singles = Array.from({ length: EXACT_CANDIDATE_LIMIT + 5 }, (_, i) => test(`t${i}`, 1 + (i % 2), [`x${i}`]));
    const result = chooseTests({ candidates: singles, targets: singles.map((s) => s.covers[0]!), budget: 10 });
    // Cost-1 tests first (even indices), ten of them fill the budget.
    expect(result).toMatchObject({
      method: 'greedy',
      cost: 10,
      selected: Array.from({ length: 10 }, (_, i) => `t${i * 2}`),
    });
    expect(result.uncovered).toHaveLength(15);
  });

  it('agrees with brute force on random small instances', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 200; round++) {
      const names = Array.from({ length: 6 }, (_, i) => `t${i}`);
      const candidates = Array.from({ length: 2 + Math.floor(random() * 6) }, (_, i) =>
        test(
          `c${i}`,
          1 + Math.floor(random() * 5),
          names.filter(() => random() < 0.35),
        ),
      );
      const budget = random() < 0.3 ? null : Math.floor(random() * 10);
      expect(chooseTests({ candidates, targets: names, budget })).toEqual(bruteForce(candidates, names, budget));
    }
  });
});

/** Every subset, the same lexicographic objective: covered desc, tests asc, cost asc, earliest candidates. */
function bruteForce(candidates: CandidateTest[], targets: string[], budget: number | null) {
  let best: { chosen: number[]; covered: Set<string>; cost: number } = { chosen: [], covered: new Set(), cost: 0 };
  for (let subset = 1; subset < 2 ** candidates.length; subset++) {
    const chosen = candidates.map((_, i) => i).filter((i) => subset & (1 << i));
    const cost = chosen.reduce((sum, i) => sum + candidates[i]!.cost, 0);
    if (budget !== null && cost > budget) continue;
    const covered = new Set(chosen.flatMap((i) => candidates[i]!.covers).filter((t) => targets.includes(t)));
    const key = (x: typeof best) => [-x.covered.size, x.chosen.length, x.cost, ...x.chosen];
    const [a, b] = [key({ chosen, covered, cost }), key(best)];
    const i = a.findIndex((v, j) => v !== b[j]);
    if (i >= 0 && i < b.length && a[i]! < b[i]!) best = { chosen, covered, cost };
  }
  return {
    selected: best.chosen.map((i) => candidates[i]!.id),
    covered: targets.filter((t) => best.covered.has(t)),
    uncovered: targets.filter((t) => !best.covered.has(t)),
    cost: best.cost,
    method: 'exact',
  };
}
