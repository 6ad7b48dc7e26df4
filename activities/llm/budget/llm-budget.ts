// The seam through which every LLM call asks for budget before it is sent and reports what it used after.
// `unlimitedBudget` grants at once; the fleet-wide budget shared by all workers plugs in here.

export interface BudgetRequest {
  model: string;
  jobId: string;
  owner: string;
  /** 1 (highest) to 5 (lowest). */
  priority: number;
  /** The prompt's tokens, counted from its length as the provider counts them before answering. */
  promptTokens: number;
  /**
   * The most the answer may use (max_completion_tokens). The budget reserves the prompt plus the completion recent
   * answers used, at most this, and settles to the provider's usage once answered.
   */
  maxOutputTokens: number;
}

export interface BudgetSettlement {
  /** Tokens the provider reports the call used; undefined when the call failed before an answer. */
  usedTokens?: number;
  /** The provider's response headers (Retry-After, x-ratelimit-*), from an answer or an error. */
  headers?: Headers;
  /** HTTP status of the answer or error, when there was one. */
  status?: number;
  /**
   * How long ago the answer (or error) arrived, by the worker's clock: the call's window starts then, not when the
   * settlement is written (after the usage row), so it stops counting as soon as the provider's count lets it.
   */
  sinceAnswerMs?: number;
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
