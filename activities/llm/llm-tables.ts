// Every LLM call a job made (tokens, cost, outcome) and the cache of answers that passed validation.
// Composed with the other families' tables into the one `Database` in db/database.ts.

import type { Generated } from 'kysely';

export interface LlmCallsTable {
  id: Generated<string>;
  /**
   * Given by the activity before the call is sent (and sent as `x-synapse-call-id`): a retried write records it once.
   */
  call_id: string;
  job_id: string;
  item: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cached: boolean;
  duration_ms: number;
  at: Generated<Date>;
}

export interface LlmCacheTable {
  key: string;
  model: string;
  content: string;
  prompt_tokens: number;
  completion_tokens: number;
  hits: Generated<number>;
  created_at: Generated<Date>;
}

/** One of a job's LLM concurrency slots (activities/llm/job-gate.ts): free, or held by a worker until `held_until`. */
export interface LlmJobSlotsTable {
  job_id: string;
  slot: number;
  holder: string | null;
  held_until: Date | null;
}

export interface LlmTables {
  llm_calls: LlmCallsTable;
  llm_cache: LlmCacheTable;
  llm_job_slots: LlmJobSlotsTable;
}
