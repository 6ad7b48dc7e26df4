// Scope optimisation: choose the smallest set of candidate tests that covers every target (high-risk,
// in-scope attribute) within a cost budget. Exact branch-and-bound when the useful candidates are few (the
// closed test catalogue always is); greedy by new coverage per cost beyond EXACT_CANDIDATE_LIMIT. Pure.

export interface CandidateTest {
  id: string;
  cost: number;
  /** The targets this test covers; other names are ignored. */
  covers: readonly string[];
}

export interface SelectionProblem {
  /** In preference order: among equally good selections, the one using earlier candidates wins. */
  candidates: readonly CandidateTest[];
  targets: readonly string[];
  /** Maximum total cost; null for no limit. */
  budget: number | null;
  exactLimit?: number;
}

export interface Selection {
  /** Chosen test ids, in candidate order. */
  selected: string[];
  /** Targets covered / not covered, in target order. */
  covered: string[];
  uncovered: string[];
  cost: number;
  method: 'exact' | 'greedy';
}

/** 2^20 subsets is the worst case the search may visit; pruning keeps real cases far below it. */
export const EXACT_CANDIDATE_LIMIT = 20;

interface Useful {
  index: number;
  id: string;
  cost: number;
  mask: bigint;
}

interface Best {
  chosen: number[];
  mask: bigint;
  covered: number;
  cost: number;
}

/**
 * Lexicographic objective: most targets covered (all, when the budget allows), then fewest tests, then
 * lowest cost, then earliest candidates — so the answer never depends on search order.
 */
function better(a: Best, b: Best): boolean {
  if (a.covered !== b.covered) return a.covered > b.covered;
  if (a.chosen.length !== b.chosen.length) return a.chosen.length < b.chosen.length;
  if (a.cost !== b.cost) return a.cost < b.cost;
  for (let i = 0; i < a.chosen.length; i++) if (a.chosen[i] !== b.chosen[i]) return a.chosen[i]! < b.chosen[i]!;
  return false;
}

function popcount(mask: bigint): number {
  let count = 0;
  for (let m = mask; m > 0n; m &= m - 1n) count++;
  return count;
}

export function chooseTests(problem: SelectionProblem): Selection {
  const budget = problem.budget ?? Number.POSITIVE_INFINITY;
  const bit = new Map(problem.targets.map((t, i) => [t, 1n << BigInt(i)]));
  const useful: Useful[] = problem.candidates
    .map((c, index) => ({ index, id: c.id, cost: c.cost, mask: c.covers.reduce((m, t) => m | (bit.get(t) ?? 0n), 0n) }))
    // A test that covers no target, or that alone exceeds the budget, is in no selection.
    .filter((c) => c.mask !== 0n && c.cost <= budget);
  const exact = useful.length <= (problem.exactLimit ?? EXACT_CANDIDATE_LIMIT);
  const best = exact ? branchAndBound(useful, budget) : greedy(useful, budget);
  const chosen = [...best.chosen].sort((a, b) => a - b);
  return {
    selected: chosen.map((i) => problem.candidates[i]!.id),
    covered: problem.targets.filter((t) => (best.mask & bit.get(t)!) !== 0n),
    uncovered: problem.targets.filter((t) => (best.mask & bit.get(t)!) === 0n),
    cost: best.cost,
    method: exact ? 'exact' : 'greedy',
  };
}

function branchAndBound(useful: Useful[], budget: number): Best {
  // What the candidates from i onwards could still add: the bound that prunes hopeless branches.
  const reachable = new Array<bigint>(useful.length + 1).fill(0n);
  for (let i = useful.length - 1; i >= 0; i--) reachable[i] = reachable[i + 1]! | useful[i]!.mask;
  let best: Best = { chosen: [], mask: 0n, covered: 0, cost: 0 };

  const search = (i: number, current: Best): void => {
    if (better(current, best)) best = { ...current, chosen: [...current.chosen] };
    if (i === useful.length) return;
    const bound = popcount(current.mask | reachable[i]!);
    if (bound === current.covered) return; // nothing left to gain; more tests only make it worse
    if (bound < best.covered || (bound === best.covered && current.chosen.length + 1 > best.chosen.length)) return;
    const candidate = useful[i]!;
    const mask = current.mask | candidate.mask;
    // A test adding no new target is never part of a smallest selection.
    if (mask !== current.mask && current.cost + candidate.cost <= budget) {
      current.chosen.push(candidate.index);
      search(i + 1, { chosen: current.chosen, mask, covered: popcount(mask), cost: current.cost + candidate.cost });
      current.chosen.pop();
    }
    search(i + 1, current);
  };
  search(0, { chosen: [], mask: 0n, covered: 0, cost: 0 });
  return best;
}

/** Most new targets per unit of cost first (ties: more new targets, then earlier candidate), while affordable. */
function greedy(useful: Useful[], budget: number): Best {
  const current: Best = { chosen: [], mask: 0n, covered: 0, cost: 0 };
  const left = new Set(useful);
  for (;;) {
    let pick: { candidate: Useful; gain: number } | undefined;
    for (const candidate of left) {
      if (current.cost + candidate.cost > budget) continue;
      const gain = popcount(candidate.mask & ~current.mask);
      if (gain === 0) continue;
      const ratio = gain / candidate.cost;
      const pickRatio = pick ? pick.gain / pick.candidate.cost : -1;
      if (
        !pick ||
        ratio > pickRatio ||
        (ratio === pickRatio && (gain > pick.gain || (gain === pick.gain && candidate.index < pick.candidate.index)))
      )
        pick = { candidate, gain };
    }
    if (!pick) return current;
    left.delete(pick.candidate);
    current.chosen.push(pick.candidate.index);
    current.mask |= pick.candidate.mask;
    current.covered += pick.gain;
    current.cost += pick.candidate.cost;
  }
}
