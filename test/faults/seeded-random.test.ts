// The seeded randomness fault scenarios draw from (test/support/random.ts): one seed gives one sequence, so
// TEST_SEED=<seed> replays a kill storm's choices, and a failure names the seed to replay it with.

import { replayableOnFailure, seededRandom, testSeed } from '../support/random';

it('draws the same choices from the same seed and different ones from another', () => {
  const draw = (seed: number) => {
    const random = seededRandom('replay check', seed);
    return [random.next(), random.int(6), random.pick(['a', 'b', 'c']), random.between(10, 20)];
  };
  expect(draw(42)).toEqual(draw(42));
  expect(draw(42)).not.toEqual(draw(43));
  const spread = seededRandom('spread', 7);
  const counts = [0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 6_000; i++) counts[spread.int(6)]!++;
  // Each face within 20 % of its share: a PRNG that favoured a victim would show here.
  for (const n of counts) expect(Math.abs(n - 1_000)).toBeLessThan(200);
});

it('takes its seed from TEST_SEED, refuses one that is not an integer, and picks a fresh one otherwise', () => {
  expect(testSeed({ TEST_SEED: '12345' })).toBe(12345);
  expect(() => testSeed({ TEST_SEED: 'abc' })).toThrow(/TEST_SEED must be an integer/);
  expect(() => testSeed({ TEST_SEED: String(2 ** 32) })).toThrow(/TEST_SEED must be an integer/);
  expect(Number.isInteger(testSeed({}))).toBe(true);
});

it('names the seed in the error of a failing body', async () => {
  const random = seededRandom('failing storm', 99);
  await expect(
    replayableOnFailure(random, async () => {
      throw new Error('kill did not land');
    }),
  ).rejects.toThrow('kill did not land [failing storm: seed 99; replay with TEST_SEED=99]');
  await expect(replayableOnFailure(random, async () => 'fine')).resolves.toBe('fine');
});
