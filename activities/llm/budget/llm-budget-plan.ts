// Which waiting LLM calls get budget now: priority first (1 before 5), then the owner who has been granted
// least in the current window (so a 5 000-item job cannot starve a 20-item one), then the oldest. Pure.

export interface BudgetLimits {
  rpm: number;
  tpm: number;
  pausedUntil: Date | null;
}

export interface WindowUsage {
  requests: number;
  tokens: number;
  /** Calls granted per owner in the window: the fairness measure. */
  byOwner: Map<string, number>;
}

export interface Waiter {
  id: number;
  owner: string;
  priority: number;
  tokens: number;
  /** Held back (its job is paused): it keeps its place but takes no budget. */
  held: boolean;
}

export type BlockedReason =
  | 'waiting for requests-per-minute budget'
  | 'waiting for tokens-per-minute budget'
  | 'paused by the provider (429 / x-ratelimit)'
  | null;

export interface GrantPlan {
  grant: number[];
  /** Why the best waiter left waiting could not be granted; null when nobody is left waiting. */
  blocked: BlockedReason;
}

/**
 * Grants in order while the window has room. It stops at the first waiter that does not fit instead of
 * letting smaller calls past it, so a large prompt is not starved by a stream of small ones.
 */
export function planGrants(limits: BudgetLimits, usage: WindowUsage, waiters: readonly Waiter[], now: Date): GrantPlan {
  const candidates = waiters.filter((w) => !w.held);
  if (candidates.length === 0) return { grant: [], blocked: null };
  if (limits.pausedUntil && limits.pausedUntil > now)
    return { grant: [], blocked: 'paused by the provider (429 / x-ratelimit)' };
  const byOwner = new Map(usage.byOwner);
  let { requests, tokens } = usage;
  const grant: number[] = [];
  // `waiters` arrive oldest first, so a stable pick of the minimum keeps age as the last tie-breaker.
  const order = new Map(candidates.map((w, i) => [w.id, i]));
  const left = [...candidates];
  while (left.length > 0) {
    let best = 0;
    for (let i = 1; i < left.length; i++) if (before(left[i]!, left[best]!, byOwner, order)) best = i;
    const next = left[best]!;
    if (requests + 1 > limits.rpm) return { grant, blocked: 'waiting for requests-per-minute budget' };
    // A call larger than the whole token budget never fits; it goes alone, when the window is empty.
    const fits = tokens + next.tokens <= limits.tpm || (next.tokens > limits.tpm && tokens === 0);
    if (!fits) return { grant, blocked: 'waiting for tokens-per-minute budget' };
    grant.push(next.id);
    requests += 1;
    tokens += next.tokens;
    byOwner.set(next.owner, (byOwner.get(next.owner) ?? 0) + 1);
    left.splice(best, 1);
  }
  return { grant, blocked: null };
}

function before(a: Waiter, b: Waiter, byOwner: Map<string, number>, order: Map<number, number>): boolean {
  if (a.priority !== b.priority) return a.priority < b.priority;
  const [usedA, usedB] = [byOwner.get(a.owner) ?? 0, byOwner.get(b.owner) ?? 0];
  if (usedA !== usedB) return usedA < usedB;
  return order.get(a.id)! < order.get(b.id)!;
}
