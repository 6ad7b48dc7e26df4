// The mergeable state a sampling scan carries from chunk to chunk (and across crashes, in its heartbeat):
// per-stratum counts with Welford moments for pass one, per-stratum bottom-k by a seeded hash for pass two.
// Merging is order-independent, so the same seed gives the same sample whatever the chunking or restarts.

/** Rows of a stratum, and running mean / sum of squared deviations of the Neyman column's non-null values. */
export interface StratumMoments {
  rows: number;
  values: number;
  mean: number;
  m2: number;
}

/** What a scan unit has gathered so far; merged across units once all are done. */
export interface UnitState {
  rows: number;
  moments?: Record<string, StratumMoments>;
  picks?: Record<string, number[]>;
}

export const emptyMoments = (): StratumMoments => ({ rows: 0, values: 0, mean: 0, m2: 0 });

/** Welford's update for one row (value null when the Neyman column is null or not asked for). */
export function addRow(m: StratumMoments, value: number | null): void {
  m.rows++;
  if (value === null) return;
  m.values++;
  const delta = value - m.mean;
  m.mean += delta / m.values;
  m.m2 += delta * (value - m.mean);
}

/** Chan et al.'s parallel merge of two sets of moments. */
export function mergeMoments(a: StratumMoments, b: StratumMoments): StratumMoments {
  const values = a.values + b.values;
  if (values === 0) return { rows: a.rows + b.rows, values: 0, mean: 0, m2: 0 };
  const delta = b.mean - a.mean;
  return {
    rows: a.rows + b.rows,
    values,
    mean: a.mean + (delta * b.values) / values,
    m2: a.m2 + b.m2 + (delta * delta * a.values * b.values) / values,
  };
}

/** Sample standard deviation (n − 1); 0 with fewer than two values. */
export const stddevOf = (m: StratumMoments) => (m.values > 1 ? Math.sqrt(m.m2 / (m.values - 1)) : 0);

export function mergeMomentMaps(maps: Record<string, StratumMoments>[]): Record<string, StratumMoments> {
  const merged: Record<string, StratumMoments> = {};
  for (const map of maps)
    for (const [stratum, m] of Object.entries(map))
      merged[stratum] = mergeMoments(merged[stratum] ?? emptyMoments(), m);
  return merged;
}

function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A record's place in the seeded random order: a keyed hash of (seed, row id), murmur3's finaliser. */
export function samplePriority(seed: number, rowId: number): number {
  const low = rowId % 0x1_0000_0000;
  const high = Math.floor(rowId / 0x1_0000_0000);
  return mix32(mix32(mix32(seed ^ 0x9e3779b9) ^ low) ^ Math.imul(high, 0x27d4eb2f));
}

/**
 * The k records of lowest priority among `current` and `candidates` (current is already bottom-k); ties
 * (hash collisions) go to the lower row id, a total order, so the result is unique.
 */
export function bottomK(current: readonly number[], candidates: readonly number[], k: number, seed: number): number[] {
  if (k <= 0) return [];
  const keyed = [...current, ...candidates].map((id) => [samplePriority(seed, id), id] as const);
  keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return keyed.slice(0, k).map(([, id]) => id);
}

/** A stratum's key: the JSON array of its columns' values as text (null kept), or `all` without strata. */
export function stratumKey(values: (string | null)[]): string {
  return values.length === 0 ? 'all' : JSON.stringify(values);
}
