// The provider's per-minute quota as a sliding 60-second window of admitted requests and their tokens,
// and the x-ratelimit-* headers OpenAI sends so clients can pace themselves from them. Tests may shorten
// the window (`windowMs`) so a "minute" of quota passes in seconds.

const DEFAULT_WINDOW_MS = 60_000;

/** Reported (not enforced) when a plan sets no limits, so answers still carry believable headers. */
const NOMINAL_LIMITS = { requestsPerMinute: 10_000, tokensPerMinute: 2_000_000 };

export interface RateLimits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  /** Length of the quota window; 60 000 (a minute) unless a test shortens it. */
  windowMs?: number;
}

const windowOf = (limits: RateLimits | undefined) => limits?.windowMs ?? DEFAULT_WINDOW_MS;

interface Admission {
  at: number;
  tokens: number;
}

export type AdmissionResult =
  { admitted: true; usage: Admission } | { admitted: false; retryAfterMs: number; exhausted: 'requests' | 'tokens' };

/** OpenAI writes reset times as Go durations: `20ms`, `1.5s`, `6m0s`. */
export function formatResetDuration(ms: number): string {
  const rounded = Math.max(0, Math.ceil(ms));
  if (rounded < 1_000) return `${rounded}ms`;
  const minutes = Math.floor(rounded / 60_000);
  const seconds = Number(((rounded % 60_000) / 1_000).toFixed(3));
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

export class RateWindow {
  private admissions: Admission[] = [];

  /** Admits a request of `tokens` estimated tokens if the configured limits allow it at `now`. */
  admit(limits: RateLimits | undefined, tokens: number, now: number): AdmissionResult {
    const windowMs = windowOf(limits);
    this.forgetBefore(now - windowMs);
    const requestWait = this.waitForRequestSlot(limits?.requestsPerMinute, now, windowMs);
    const tokenWait = this.waitForTokens(limits?.tokensPerMinute, tokens, now, windowMs);
    if (requestWait > 0 || tokenWait > 0) {
      return {
        admitted: false,
        retryAfterMs: Math.max(requestWait, tokenWait),
        exhausted: requestWait >= tokenWait ? 'requests' : 'tokens',
      };
    }
    const usage = { at: now, tokens };
    this.admissions.push(usage);
    return { admitted: true, usage };
  }

  /** Completion tokens are only known once answered; they count against the window from then on. */
  addTokens(usage: Admission, tokens: number): void {
    usage.tokens += tokens;
  }

  clear(): void {
    this.admissions = [];
  }

  /**
   * Headers describing the window at `now`; a fault rule (a 429, or a spent quota) can force the request budget to
   * zero.
   */
  headers(limits: RateLimits | undefined, now: number, forced?: { retryAfterMs: number }): Record<string, string> {
    const windowMs = windowOf(limits);
    this.forgetBefore(now - windowMs);
    const requestLimit = limits?.requestsPerMinute ?? NOMINAL_LIMITS.requestsPerMinute;
    const tokenLimit = limits?.tokensPerMinute ?? NOMINAL_LIMITS.tokensPerMinute;
    const oldest = this.admissions[0];
    const untilOldestExpires = oldest ? oldest.at + windowMs - now : 0;
    const usedTokens = this.admissions.reduce((sum, a) => sum + a.tokens, 0);
    return {
      'x-ratelimit-limit-requests': String(requestLimit),
      'x-ratelimit-limit-tokens': String(tokenLimit),
      'x-ratelimit-remaining-requests': String(forced ? 0 : Math.max(0, requestLimit - this.admissions.length)),
      'x-ratelimit-remaining-tokens': String(Math.max(0, tokenLimit - usedTokens)),
      'x-ratelimit-reset-requests': formatResetDuration(forced ? forced.retryAfterMs : untilOldestExpires),
      'x-ratelimit-reset-tokens': formatResetDuration(untilOldestExpires),
    };
  }

  private forgetBefore(cutoff: number): void {
    while (this.admissions.length > 0 && this.admissions[0]!.at <= cutoff) this.admissions.shift();
  }

  private waitForRequestSlot(limit: number | undefined, now: number, windowMs: number): number {
    if (limit === undefined || this.admissions.length < limit) return 0;
    const freeing = this.admissions[this.admissions.length - limit]!;
    return freeing.at + windowMs - now;
  }

  private waitForTokens(limit: number | undefined, tokens: number, now: number, windowMs: number): number {
    if (limit === undefined) return 0;
    let used = this.admissions.reduce((sum, a) => sum + a.tokens, 0);
    if (used + tokens <= limit) return 0;
    // A request bigger than the whole budget never fits; tell the client to come back in a full window.
    if (tokens > limit) return windowMs;
    for (const admission of this.admissions) {
      used -= admission.tokens;
      if (used + tokens <= limit) return admission.at + windowMs - now;
    }
    return windowMs;
  }
}
