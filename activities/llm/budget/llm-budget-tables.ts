// The fleet-wide LLM budget's ledger, shared by every worker process: limits per model, calls waiting or granted,
// recent 429s.
// Composed with the other families' tables into the one `Database` in db/database.ts.

import type { Generated } from 'kysely';

/** Per model, the fleet-wide LLM budget's limits (changeable at run time) and the provider's pause. */
export interface LlmBudgetLimitsTable {
  model: string;
  rpm: number;
  tpm: number;
  window_ms: number;
  paused_until: Date | null;
  provider_rpm: number | null;
  provider_tpm: number | null;
  blocked_reason: string | null;
  updated_at: Generated<Date>;
  updated_by: string | null;
}

/** One LLM call waiting for budget, or granted and counted until a window after it settled. */
export interface LlmBudgetCallsTable {
  id: Generated<number>;
  model: string;
  job_id: string;
  owner: string;
  priority: number;
  /** Reserved while waiting and in flight (see prompt_tokens); the provider's reported usage once settled. */
  tokens: number;
  /** The prompt's tokens as the provider counts them; null on calls enqueued before reservations were learned. */
  prompt_tokens: number | null;
  /** The most the answer may use (max_completion_tokens): the reservation's cap. */
  max_output_tokens: number | null;
  state: 'waiting' | 'granted';
  worker: string;
  enqueued_at: Generated<Date>;
  seen_at: Generated<Date>;
  granted_at: Date | null;
  settled_at: Date | null;
}

/** The provider's recent 429s and exhausted-quota answers, and how long they paused the budget. */
export interface LlmBudgetRateLimitsTable {
  id: Generated<number>;
  model: string;
  at: Generated<Date>;
  status: number;
  pause_ms: number;
  reason: string;
  job_id: string;
  worker: string;
}

export interface LlmBudgetTables {
  llm_budget_limits: LlmBudgetLimitsTable;
  llm_budget_calls: LlmBudgetCallsTable;
  llm_budget_rate_limits: LlmBudgetRateLimitsTable;
}
