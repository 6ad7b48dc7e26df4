// Turns what the openai client throws into Temporal failures with the right retry behaviour:
// 429 waits for the provider's Retry-After, 5xx/timeouts back off, requests the provider refuses fail fast.

import { ApplicationFailure } from '@temporalio/common';
import OpenAI from 'openai';
import { FailureType } from '../common/failures';

/** Retry-After as milliseconds, from `retry-after-ms`, `retry-after` seconds, or an HTTP date. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  const ms = Number(headers?.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function classifyLlmError(error: unknown): unknown {
  if (error instanceof OpenAI.RateLimitError) {
    // An exhausted quota is also a 429, but no amount of waiting fixes it.
    if (error.code === 'insufficient_quota') {
      return ApplicationFailure.nonRetryable(`LLM quota exhausted: ${error.message}`, FailureType.LlmRejectedRequest);
    }
    const delay = retryAfterMs(error.headers);
    return ApplicationFailure.create({
      type: FailureType.LlmRateLimited,
      message: `LLM rate limited (429)${delay === undefined ? '' : `, retry after ${delay} ms`}`,
      nextRetryDelay: delay,
    });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    // Includes APIConnectionTimeoutError: the request hung past LLM_REQUEST_TIMEOUT_MS.
    return ApplicationFailure.retryable(`LLM unreachable: ${error.message}`, FailureType.LlmUnavailable);
  }
  if (error instanceof OpenAI.APIError && typeof error.status === 'number') {
    if (error.status >= 500 || error.status === 408 || error.status === 409) {
      return ApplicationFailure.retryable(`LLM server error ${error.status}: ${error.message}`, FailureType.LlmUnavailable);
    }
    return ApplicationFailure.nonRetryable(`LLM rejected the request (${error.status}): ${error.message}`, FailureType.LlmRejectedRequest);
  }
  return error;
}
