// The sampling statistics on their own: the inverse normal against published quantiles, Cochran's size
// against sizes worked out by hand, integer allocation over strata, and the seeded bottom-k and Welford
// merges that make a chunked, restartable scan give the same answer as one pass.

import {
  allocateByWeight,
  cochranSampleSize,
  inverseNormal,
  planSample,
  zForConfidence,
  type StratumStats,
} from '../../activities/sampling/sample-size';
import {
  addRow,
  bottomK,
  emptyMoments,
  mergeMoments,
  samplePriority,
  stddevOf,
  stratumKey,
} from '../../activities/sampling/sampling-state';

describe('inverse normal (Acklam)', () => {
  it.each([
    [0.9, 1.6448536269514715],
    [0.95, 1.9599639845400536],
    [0.99, 2.5758293035489],
  ])('gives the two-sided critical value for confidence %p', (confidence, z) => {
    expect(zForConfidence(confidence)).toBeCloseTo(z, 7);
  });

  it('is symmetric and covers the tails', () => {
    expect(inverseNormal(0.5)).toBe(0);
    expect(inverseNormal(0.01)).toBeCloseTo(-2.3263478740408408, 7);
    expect(inverseNormal(0.999)).toBeCloseTo(3.090232306167813, 7);
    expect(() => inverseNormal(1)).toThrow(RangeError);
  });
});

describe('Cochran sample size with finite-population correction', () => {
  it('needs 370 records of 10 000 for 95 %, ±5 %, p = 0.5', () => {
    // z = 1.959964; n0 = 1.959964² · 0.5 · 0.5 / 0.05² = 3.841459 · 0.25 / 0.0025 = 384.146;
    // n = 384.146 / (1 + 383.146 / 10 000) = 384.146 / 1.0383146 = 369.97 → 370.
    const size = cochranSampleSize({
      confidenceLevel: 0.95,
      marginOfError: 0.05,
      expectedRate: 0.5,
      population: 10_000,
    });
    expect(size.n0).toBeCloseTo(384.1459, 3);
    expect(size.sampleSize).toBe(370);
  });

  it('needs 778 of 1 000 for 99 %, ±2 %, p = 0.3', () => {
    // n0 = 2.575829² · 0.3 · 0.7 / 0.02² = 6.634897 · 0.21 / 0.0004 = 3483.32; n = 3483.32 / (1 + 3482.32/1000) =
    // 777.12 → 778.
    expect(
      cochranSampleSize({ confidenceLevel: 0.99, marginOfError: 0.02, expectedRate: 0.3, population: 1_000 })
        .sampleSize,
    ).toBe(778);
  });

  it('approaches n0 for a huge population and shrinks for a small one', () => {
    // 90 %: n0 = 1.644854² · 0.25 / 0.0025 = 270.55 → 271.  N = 100 at 95 %: 384.146 / (1 + 3.83146) = 79.51 → 80.
    expect(
      cochranSampleSize({ confidenceLevel: 0.9, marginOfError: 0.05, expectedRate: 0.5, population: 1e9 }).sampleSize,
    ).toBe(271);
    expect(
      cochranSampleSize({ confidenceLevel: 0.95, marginOfError: 0.05, expectedRate: 0.5, population: 100 }).sampleSize,
    ).toBe(80);
    expect(
      cochranSampleSize({ confidenceLevel: 0.99, marginOfError: 0.01, expectedRate: 0.5, population: 7 }).sampleSize,
    ).toBe(7);
  });
});

const stratum = (name: string, population: number, stddev = 0): StratumStats => ({ stratum: name, population, stddev });
const sizes = (m: Map<string, number>) => Object.fromEntries(m);

describe('allocation over strata', () => {
  it('shares proportionally, giving the remainder to the largest fractions', () => {
    expect(
      sizes(allocateByWeight([stratum('a', 5000), stratum('b', 3000), stratum('c', 2000)], 370, (s) => s.population)),
    ).toEqual({ a: 185, b: 111, c: 74 });
    // quotas 7·10/60 = 1.17, 2.33, 3.5: floors 1, 2, 3 and the one left to c (fraction .5).
    expect(
      sizes(allocateByWeight([stratum('a', 10), stratum('b', 20), stratum('c', 30)], 7, (s) => s.population)),
    ).toEqual({ a: 1, b: 2, c: 4 });
  });

  it('allocates by N·S for Neyman and never more than a stratum holds', () => {
    // N = 200, e = 0.2: n0 = 3.841459 · 0.25 / 0.04 = 24.01, n = 24.01 / (1 + 23.01/200) = 21.53 → 22.
    // Weights 100·1 : 100·3 → quotas 5.5 and 16.5; floors 5 and 16; the tie for the last one goes to a.
    expect(
      sizes(
        planSample([stratum('a', 100, 1), stratum('b', 100, 3)], 'neyman', {
          confidenceLevel: 0.95,
          marginOfError: 0.2,
          expectedRate: 0.5,
        }).allocated,
      ),
    ).toEqual({ a: 6, b: 16 });
    // a's quota 20·500/600 = 16.7 exceeds its 5 records: a gets 5, the other 15 go to b.
    expect(
      sizes(allocateByWeight([stratum('a', 5, 100), stratum('b', 100, 1)], 20, (s) => s.population * s.stddev)),
    ).toEqual({ a: 5, b: 15 });
  });

  it('sizes each stratum on its own with per_stratum', () => {
    const plan = planSample([stratum('a', 10_000), stratum('b', 100)], 'per_stratum', {
      confidenceLevel: 0.95,
      marginOfError: 0.05,
      expectedRate: 0.5,
    });
    expect(sizes(plan.allocated)).toEqual({ a: 370, b: 80 });
    expect(plan.overall.sampleSize).toBe(450);
  });
});

describe('mergeable scan state', () => {
  const ids = Array.from({ length: 2_000 }, (_, i) => i + 1);

  it('keeps the same bottom-k whatever the chunking', () => {
    const whole = bottomK([], ids, 50, 42);
    let chunked: number[] = [];
    for (let i = 0; i < ids.length; i += 137) chunked = bottomK(chunked, ids.slice(i, i + 137), 50, 42);
    expect(chunked).toEqual(whole);
    expect(new Set(whole).size).toBe(50);
    expect(bottomK([], ids, 50, 43)).not.toEqual(whole);
    expect(samplePriority(42, 7)).toBe(samplePriority(42, 7));
  });

  it('merges Welford moments to the one-pass mean and standard deviation', () => {
    const values = ids.map((i) => (i * 7919) % 1000);
    const whole = emptyMoments();
    values.forEach((v) => addRow(whole, v));
    const left = emptyMoments();
    const right = emptyMoments();
    values.forEach((v, i) => addRow(i < 613 ? left : right, i % 10 === 0 ? null : v));
    const merged = mergeMoments(left, right);
    const kept = values.filter((_, i) => i % 10 !== 0);
    const mean = kept.reduce((a, b) => a + b, 0) / kept.length;
    expect(merged.rows).toBe(2_000);
    expect(merged.values).toBe(kept.length);
    expect(merged.mean).toBeCloseTo(mean, 9);
    expect(stddevOf(merged)).toBeCloseTo(
      Math.sqrt(kept.reduce((a, v) => a + (v - mean) ** 2, 0) / (kept.length - 1)),
      9,
    );
    expect(stddevOf(whole)).toBeGreaterThan(0);
  });

  it('names strata unambiguously', () => {
    expect(stratumKey([])).toBe('all');
    expect(stratumKey(['GOLD', null])).toBe('["GOLD",null]');
  });
});
