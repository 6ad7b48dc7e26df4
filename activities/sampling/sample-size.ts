// Sampling statistics, pure and exact: the normal quantile (Acklam), Cochran's sample size with the
// finite-population correction, and allocation of a sample over strata (proportional, Neyman, per stratum).

/** Acklam's rational approximation of the standard normal inverse CDF (relative error < 1.15e-9). */
const A = [
  -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
  2.506628277459239,
];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [
  -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
const P_LOW = 0.02425;

const poly = (coefficients: number[], x: number) => coefficients.reduce((sum, c) => sum * x + c, 0);

export function inverseNormal(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`inverseNormal needs 0 < p < 1, got ${p}`);
  if (p < P_LOW) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(C, q) / (poly(D, q) * q + 1);
  }
  if (p > 1 - P_LOW) return -inverseNormal(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (poly(A, r) * q) / (poly(B, r) * r + 1);
}

/** The two-sided critical value: z such that P(|Z| ≤ z) = confidenceLevel. */
export function zForConfidence(confidenceLevel: number): number {
  return inverseNormal(1 - (1 - confidenceLevel) / 2);
}

export interface SampleSizeInputs {
  confidenceLevel: number;
  marginOfError: number;
  expectedRate: number;
  population: number;
}

export interface SampleSize extends SampleSizeInputs {
  z: number;
  /** Cochran's size for an infinite population: z²·p(1−p)/e². */
  n0: number;
  /** n0 / (1 + (n0 − 1)/N), rounded up, never above N. */
  sampleSize: number;
}

export function cochranSampleSize(inputs: SampleSizeInputs): SampleSize {
  const { confidenceLevel, marginOfError: e, expectedRate: p, population } = inputs;
  const z = zForConfidence(confidenceLevel);
  const n0 = (z * z * p * (1 - p)) / (e * e);
  if (population <= 0) return { ...inputs, z, n0, sampleSize: 0 };
  const corrected = n0 / (1 + (n0 - 1) / population);
  // A hair of tolerance so that a size which is an integer up to rounding noise is not pushed up by one.
  return { ...inputs, z, n0, sampleSize: Math.min(population, Math.ceil(corrected - 1e-9)) };
}

export type Allocation = 'proportional' | 'neyman' | 'per_stratum';

export interface StratumStats {
  stratum: string;
  population: number;
  /** Standard deviation of the Neyman column in the stratum (0 when it has fewer than two values). */
  stddev: number;
}

/**
 * Integer sizes per stratum for a sample of `total`: quotas from the weights, floors, then the remainder to
 * the largest fractional parts (ties to the earlier stratum in the given order). No stratum gets more than
 * its population; the excess of a capped stratum is shared again among the others.
 */
export function allocateByWeight(
  strata: StratumStats[],
  total: number,
  weight: (s: StratumStats) => number,
): Map<string, number> {
  const sizes = new Map<string, number>();
  let open = strata.filter((s) => s.population > 0);
  let left = Math.min(
    total,
    strata.reduce((sum, s) => sum + s.population, 0),
  );
  for (const s of strata) sizes.set(s.stratum, 0);
  while (left > 0 && open.length > 0) {
    const weights = open.map(weight);
    const weightSum = weights.reduce((a, b) => a + b, 0);
    const quotas =
      weightSum > 0
        ? weights.map((w) => (left * w) / weightSum)
        : open.map((s) => (left * s.population) / open.reduce((a, o) => a + o.population, 0));
    const capped = open.filter((s, i) => quotas[i]! > s.population);
    if (capped.length > 0) {
      for (const s of capped) sizes.set(s.stratum, s.population);
      left -= capped.reduce((sum, s) => sum + s.population, 0);
      open = open.filter((s) => !capped.includes(s));
      continue;
    }
    const floors = quotas.map(Math.floor);
    let remainder = left - floors.reduce((a, b) => a + b, 0);
    const byFraction = open
      .map((_, i) => i)
      .sort((i, j) => quotas[j]! - floors[j]! - (quotas[i]! - floors[i]!) || i - j);
    for (const i of byFraction) {
      if (remainder === 0) break;
      floors[i]!++;
      remainder--;
    }
    open.forEach((s, i) => sizes.set(s.stratum, floors[i]!));
    left = 0;
  }
  return sizes;
}

export interface SamplePlan {
  /** Cochran over the whole population (for `per_stratum`, the sum of the strata's own sizes). */
  overall: SampleSize;
  allocated: Map<string, number>;
  /** `per_stratum` only: each stratum's own Cochran size. */
  perStratum?: Map<string, SampleSize>;
}

export function planSample(
  strata: StratumStats[],
  allocation: Allocation,
  inputs: Omit<SampleSizeInputs, 'population'>,
): SamplePlan {
  const population = strata.reduce((sum, s) => sum + s.population, 0);
  const overall = cochranSampleSize({ ...inputs, population });
  if (allocation === 'per_stratum') {
    const perStratum = new Map(
      strata.map((s) => [s.stratum, cochranSampleSize({ ...inputs, population: s.population })]),
    );
    const allocated = new Map([...perStratum].map(([k, size]) => [k, size.sampleSize]));
    return {
      overall: { ...overall, sampleSize: [...allocated.values()].reduce((a, b) => a + b, 0) },
      allocated,
      perStratum,
    };
  }
  // Neyman: n_h ∝ N_h·S_h. When no stratum varies at all, that is no guidance: fall back to N_h.
  const weight =
    allocation === 'neyman' ? (s: StratumStats) => s.population * s.stddev : (s: StratumStats) => s.population;
  return { overall, allocated: allocateByWeight(strata, overall.sampleSize, weight) };
}
