// The seam through which every LLM call asks for budget before it is sent and reports what it used after.
// `unlimitedBudget` grants at once; the fleet-wide budget shared by all workers plugs in here.

export interface BudgetRequest {
  model: string;
  jobId: string;
  owner: string;
  /** 1 (highest) to 5 (lowest). */
  priority: number;
  /** Prompt tokens (estimated from its length) plus the most the answer may use. */
  estimatedTokens: number;
}

export interface BudgetSettlement {
  /** Tokens the provider reports the call used; undefined when the call failed before an answer. */
  usedTokens?: number;
  /** The provider's response headers (Retry-After, x-ratelimit-*), from an answer or an error. */
  headers?: Headers;
  /** HTTP status of the answer or error, when there was one. */
  status?: number;
}

export interface BudgetGrant {
  settle(outcome: BudgetSettlement): Promise<void>;
}

export interface LlmBudget {
  /** Resolves when the call may be sent; while waiting it calls `heartbeat` and gives up when `signal` aborts. */
  acquire(
    request: BudgetRequest,
    signal: AbortSignal,
    heartbeat: (details: Record<string, unknown>) => void,
  ): Promise<BudgetGrant>;
}

export const unlimitedBudget: LlmBudget = {
  async acquire() {
    return { settle: async () => undefined };
  },
};
