// Fault plans for the LLM stand-in: which requests misbehave, how, and how slowly everything answers.
// Every choice is a pure function of (item key, call index), so a test run replays identically.

import { z } from 'zod';

export type FaultKind =
  'rate_limit' | 'quota_spent' | 'server_error' | 'hang' | 'malformed' | 'wrong_shape' | 'latency';

export interface FaultRule {
  kind: FaultKind;
  items?: string[];
  /** Regular-expression source matched against the item key. */
  itemPattern?: string;
  task?: string;
  /** Apply only to the first N calls of each matching item (call index 0..N-1). */
  firstCallsPerItem?: number;
  /** 0..1: share of matching calls hit, chosen by hash(item key, call index). */
  fraction?: number;
  /**
   * rate_limit: sent as Retry-After (integer seconds) and retry-after-ms. quota_spent: the answer is a normal
   * 200 whose headers say the request quota is used up (x-ratelimit-remaining-requests 0) until this reset.
   */
  retryAfterSeconds?: number;
  /** server_error: HTTP status, default 503. */
  status?: number;
  /** latency: extra delay on top of the plan's base latency. */
  latencyMs?: number;
}

export interface FaultPlan {
  latencyMs?: number;
  latencyJitterMs?: number;
  rules?: FaultRule[];
  /** The provider's quota; `windowMs` (default 60 000) shortens its "minute" for tests. */
  limits?: { requestsPerMinute?: number; tokensPerMinute?: number; windowMs?: number };
}

/** What the stand-in knows about a request when it decides its fate. */
export interface CallSubject {
  itemKey?: string;
  task?: string;
  /** 0-based position of this call among the calls for the same item. */
  callIndex: number;
}

const nonNegative = z.number().nonnegative();

const faultRuleSchema = z.strictObject({
  kind: z.enum(['rate_limit', 'quota_spent', 'server_error', 'hang', 'malformed', 'wrong_shape', 'latency']),
  items: z.array(z.string()).optional(),
  itemPattern: z
    .string()
    .refine((source) => compiles(source), 'itemPattern is not a valid regular expression')
    .optional(),
  task: z.string().optional(),
  firstCallsPerItem: z.number().int().nonnegative().optional(),
  fraction: z.number().min(0).max(1).optional(),
  retryAfterSeconds: nonNegative.optional(),
  status: z.number().int().min(400).max(599).optional(),
  latencyMs: nonNegative.optional(),
});

const faultPlanSchema = z.strictObject({
  latencyMs: nonNegative.optional(),
  latencyJitterMs: nonNegative.optional(),
  rules: z.array(faultRuleSchema).optional(),
  limits: z
    .strictObject({
      requestsPerMinute: z.number().int().positive().optional(),
      tokensPerMinute: z.number().int().positive().optional(),
      windowMs: z.number().int().positive().optional(),
    })
    .optional(),
});

function compiles(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/**
 * Validates a plan from code or from `PUT /_standin/faults`; a typo in a plan should fail loudly, not silently match
 * nothing.
 */
export function parseFaultPlan(input: unknown): FaultPlan {
  const result = faultPlanSchema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => `${issue.path.join('.') || '(plan)'}: ${issue.message}`);
  throw new Error(`invalid fault plan: ${issues.join('; ')}`);
}

/**
 * FNV-1a over the item key and call index, scaled to [0, 1); the salt keeps jitter and fraction independent.
 * FNV-1a alone barely moves the high bits when only the last character (the call index) changes, so an
 * item's calls would all land on the same side of a fraction: murmur3's finaliser mixes them.
 */
export function unitHash(salt: string, itemKey: string | undefined, callIndex: number): number {
  const text = `${salt}\u0000${itemKey ?? ''}\u0000${callIndex}`;
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 0x1_0000_0000;
}

function ruleMatches(rule: FaultRule, subject: CallSubject): boolean {
  const { itemKey, task, callIndex } = subject;
  if (rule.items && (itemKey === undefined || !rule.items.includes(itemKey))) return false;
  if (rule.itemPattern !== undefined && (itemKey === undefined || !new RegExp(rule.itemPattern).test(itemKey)))
    return false;
  if (rule.task !== undefined && rule.task !== task) return false;
  if (rule.firstCallsPerItem !== undefined && callIndex >= rule.firstCallsPerItem) return false;
  if (rule.fraction !== undefined && unitHash('fraction', itemKey, callIndex) >= rule.fraction) return false;
  return true;
}

/** The first rule that matches this call, if any. */
export function chooseFault(plan: FaultPlan, subject: CallSubject): FaultRule | undefined {
  return plan.rules?.find((rule) => ruleMatches(rule, subject));
}

/** Base latency plus deterministic jitter, plus a matched latency rule's own delay. */
export function delayFor(plan: FaultPlan, fault: FaultRule | undefined, subject: CallSubject): number {
  const jitter = plan.latencyJitterMs
    ? Math.floor(unitHash('jitter', subject.itemKey, subject.callIndex) * plan.latencyJitterMs)
    : 0;
  const extra = fault?.kind === 'latency' ? (fault.latencyMs ?? 0) : 0;
  return (plan.latencyMs ?? 0) + jitter + extra;
}
