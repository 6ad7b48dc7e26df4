// What the provider's answer says about the account's quota: a 429's Retry-After, exhausted
// x-ratelimit-remaining-* with their reset times, and its x-ratelimit-limit-*. Pure, so it is unit-tested.

import { parseResetDuration, retryAfterMs } from '../llm-errors';

export interface ProviderSignals {
  /** Pause every worker's calls for this long (a 429, or a quota the provider reports as used up). */
  pauseMs?: number;
  /** Why, for the recent-429s list and job status. */
  reason?: string;
  /** The account's real limits as the provider states them. */
  requestLimit?: number;
  tokenLimit?: number;
}

/** A 429 that names no wait still means "not now": wait this long rather than hammer the provider. */
const DEFAULT_RATE_LIMIT_PAUSE_MS = 1_000;

const headerNumber = (headers: Headers, name: string): number | undefined => {
  const value = headers.get(name);
  const parsed = value === null ? NaN : Number(value);
  return Number.isFinite(parsed) ? parsed : undefined;
};

export function readProviderSignals(status: number | undefined, headers: Headers | undefined): ProviderSignals {
  if (!headers) return status === 429 ? { pauseMs: DEFAULT_RATE_LIMIT_PAUSE_MS, reason: '429 without headers' } : {};
  const signals: ProviderSignals = {
    requestLimit: headerNumber(headers, 'x-ratelimit-limit-requests'),
    tokenLimit: headerNumber(headers, 'x-ratelimit-limit-tokens'),
  };
  const requestsReset = parseResetDuration(headers.get('x-ratelimit-reset-requests'));
  const tokensReset = parseResetDuration(headers.get('x-ratelimit-reset-tokens'));
  if (status === 429) {
    const retryAfter = retryAfterMs(headers);
    const pauseMs = retryAfter ?? Math.max(requestsReset ?? 0, tokensReset ?? 0);
    return {
      ...signals,
      pauseMs: pauseMs || DEFAULT_RATE_LIMIT_PAUSE_MS,
      reason: retryAfter === undefined ? '429 (x-ratelimit-reset)' : '429 Retry-After',
    };
  }
  // A successful answer that used the last of the quota: the next call would be a 429, so nobody sends it.
  if (headerNumber(headers, 'x-ratelimit-remaining-requests') === 0 && requestsReset)
    return { ...signals, pauseMs: requestsReset, reason: 'x-ratelimit-remaining-requests is 0' };
  if (headerNumber(headers, 'x-ratelimit-remaining-tokens') === 0 && tokensReset)
    return { ...signals, pauseMs: tokensReset, reason: 'x-ratelimit-remaining-tokens is 0' };
  return signals;
}
