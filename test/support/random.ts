// Seeded randomness for tests: every random choice (a gap before a kill, which worker dies) comes from one
// small PRNG (mulberry32) whose seed is printed, so a failing run can be replayed with TEST_SEED=<seed>.
// Without TEST_SEED each run picks a fresh seed (from the clock and pid) and says which one it picked.

import { seededRandom as mulberry32 } from '../../db/demo-data';

export interface SeededRandom {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** A float in [min, max). */
  between(min: number, max: number): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** `message` followed by how to replay this run: for failure messages. */
  describe(message: string): string;
}

/** The seed from TEST_SEED (a non-negative integer), or a fresh one; throws on a TEST_SEED that is not one. */
export function testSeed(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.TEST_SEED;
  if (given !== undefined && given !== '') {
    if (!/^\d+$/.test(given) || Number(given) > 0xffffffff)
      throw new Error(`TEST_SEED must be an integer from 0 to ${0xffffffff}, got '${given}'`);
    return Number(given);
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

/**
 * A PRNG for one test (or suite), named by `label`; prints its seed at once so the seed is in the log even when
 * the test later hangs or the process dies. Failure messages should go through `describe`.
 */
export function seededRandom(label: string, seed: number = testSeed()): SeededRandom {
  // The demo table's generator: one mulberry32 in the codebase, identical on every platform.
  const next = mulberry32(seed);
  console.info(`${label}: random seed ${seed} (replay with TEST_SEED=${seed})`);
  const random: SeededRandom = {
    seed,
    next,
    between: (min, max) => min + (max - min) * next(),
    int: (n) => Math.floor(next() * n),
    pick: (items) => {
      if (items.length === 0) throw new Error(`${label}: pick from an empty list (seed ${seed})`);
      return items[Math.floor(next() * items.length)]!;
    },
    describe: (message) => `${message} [${label}: seed ${seed}; replay with TEST_SEED=${seed}]`,
  };
  return random;
}

/**
 * Runs `body` and, if it fails, names the seed in the error (and prints it, since some reporters show only
 * the matcher's own text), so the failure can be replayed.
 */
export async function replayableOnFailure<T>(random: SeededRandom, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    console.error(random.describe('failed'));
    if (error instanceof Error) error.message = random.describe(error.message);
    throw error;
  }
}
