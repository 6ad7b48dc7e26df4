// Turns what the openai client throws into Temporal failures with the right retry behaviour: rate limits
// and unavailability are transient (the LLM activity waits them out itself, for LLM_RETRY_SPAN_MS, see
// activities/llm/llm.ts); requests the provider refuses fail fast. Also the provider's wait headers, parsed once.

import { ApplicationFailure } from '@temporalio/common';
import OpenAI from 'openai';
import { FailureType } from '../../common/failures';

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

/** OpenAI writes reset times as Go durations (`20ms`, `1.5s`, `6m0s`, `1h2m3s`); plain numbers are seconds. */
export function parseResetDuration(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
  let total = 0;
  let matched = '';
  for (const part of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    total += Number(part[1]) * units[part[2]!]!;
    matched += part[0];
  }
  return matched === trimmed && matched !== '' ? total : undefined;
}

/** A 429's wait: Retry-After, else the reset of whichever quota it says is used up (x-ratelimit-remaining-* 0). */
function rateLimitWaitMs(headers: Headers | undefined): number | undefined {
  const retryAfter = retryAfterMs(headers);
  if (retryAfter !== undefined) return retryAfter;
  const resets = (['requests', 'tokens'] as const)
    .filter((quota) => headers?.get(`x-ratelimit-remaining-${quota}`) === '0')
    .map((quota) => parseResetDuration(headers?.get(`x-ratelimit-reset-${quota}`)))
    .filter((ms): ms is number => ms !== undefined);
  return resets.length > 0 ? Math.max(...resets) : undefined;
}

/** The failure classes that heal with time: retried for LLM_RETRY_SPAN_MS, not for a number of attempts. */
const TRANSIENT: ReadonlySet<string> = new Set([FailureType.LlmRateLimited, FailureType.LlmUnavailable]);

export function isTransientLlmFailure(failure: unknown): failure is ApplicationFailure & { type: FailureType } {
  return (
    failure instanceof ApplicationFailure &&
    !failure.nonRetryable &&
    typeof failure.type === 'string' &&
    TRANSIENT.has(failure.type)
  );
}

/**
 * How long to wait before retrying a transient failure: the provider's own wait when it named one, else a
 * backoff of 2 s doubling to 60 s (a 5xx or a hung request says nothing about when the provider is back).
 */
export function transientRetryDelayMs(failure: ApplicationFailure, retries: number): number {
  if (typeof failure.nextRetryDelay === 'number') return failure.nextRetryDelay;
  return Math.min(60_000, 2_000 * 2 ** Math.max(0, retries - 1));
}

export function classifyLlmError(error: unknown): unknown {
  if (error instanceof OpenAI.RateLimitError) {
    // An exhausted quota is also a 429, but no amount of waiting fixes it.
    if (error.code === 'insufficient_quota') {
      return ApplicationFailure.nonRetryable(`LLM quota exhausted: ${error.message}`, FailureType.LlmRejectedRequest);
    }
    const delay = rateLimitWaitMs(error.headers);
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
      return ApplicationFailure.retryable(
        `LLM server error ${error.status}: ${error.message}`,
        FailureType.LlmUnavailable,
      );
    }
    return ApplicationFailure.nonRetryable(
      `LLM rejected the request (${error.status}): ${error.message}`,
      FailureType.LlmRejectedRequest,
    );
  }
  return error;
}
