// What an LLM activity needs to know about the job it calls for: whose budget and priority the call is
// granted under, where its token usage is recorded, and whether a stored answer may be reused; and what its
// heartbeats say while it waits.

import type { FailureType } from './failures';

export interface LlmCallContext {
  jobId: string;
  owner: string;
  /** 1 (highest) to 5 (lowest), as the job stands when the activity is scheduled. */
  priority: number;
  /** Reuse a stored answer to the identical prompt instead of asking again. */
  useCache: boolean;
  /**
   * The job's LLM concurrency, when the workflow schedules its activities ahead of its calls: the worker then holds
   * the job to this many calls in flight (activities/llm/job-gate.ts). Absent, the workflow's window bounds them.
   */
  concurrency?: number;
}

/** Token usage of a job's LLM calls, summed from every call recorded (cache hits cost nothing). */
export interface LlmUsage {
  calls: number;
  cachedCalls: number;
  promptTokens: number;
  completionTokens: number;
  /** In US dollars at the configured price table; null when the model has no price configured. */
  costUsd: number | null;
}

/**
 * An LLM activity's heartbeat details (Temporal's pending activity `heartbeatDetails`), for status to show
 * what a running item is doing. Sent at least every second while it waits.
 */
export interface LlmActivityHeartbeat {
  /** The item (attribute, chunk, PDE…) the activity works on. */
  item: string;
  /** Requests this attempt has sent to the provider. */
  calls: number;
  /**
   * For one of the job's LLM slots (its calls in flight are at its concurrency), for the shared budget, for the
   * provider's answer, or out a 429's Retry-After / a backoff before retrying.
   */
  waitingFor?: 'slot' | 'budget' | 'llm' | 'retry';
  /** Rate limits and unavailability met so far by this activity (across its attempts); absent when none. */
  retries?: number;
  /** The class of the last of them: `LlmRateLimited` or `LlmUnavailable`. */
  lastErrorType?: FailureType;
  /** Its message, at most 200 characters. */
  lastError?: string;
}

/**
 * What an LLM request asks its answer to be (LLM_RESPONSE_FORMATS, by model): `json_schema` sends the answer's strict
 * JSON Schema, which the provider holds its output to; `json_object`, for models and providers without structured
 * outputs, asks for any JSON object. The answer is validated either way.
 */
export const RESPONSE_FORMATS = ['json_schema', 'json_object'] as const;
export type ResponseFormatKind = (typeof RESPONSE_FORMATS)[number];
