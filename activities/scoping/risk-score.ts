// The deterministic risk score (0-100) that orders scoping recommendations: the LLM's risk level, how badly
// the attribute failed its profiling rules, how severe those rules are, and whether the attribute holds
// sensitive data. Pure and unit-tested (test/scoping/scope-optimisation.test.ts); no LLM or database here.

import type { RiskLevel } from './scoping-catalogue';

/** One profiling rule of the attribute as the scoping prompt summarises it (see scoping-profile.ts). */
export interface ProfiledRule {
  kind: string;
  severity: 'low' | 'medium' | 'high';
  /** Null when the rule could not run. */
  passRate: number | null;
  failedRows: number;
  checkedRows: number;
}

export interface ScoreInput {
  name: string;
  description: string;
  risk: RiskLevel;
  inScope: boolean;
  /** The attribute's rules in the named profiling job; absent when none was named or it has none. */
  profilingRules?: readonly ProfiledRule[];
}

export interface RiskScore {
  score: number;
  /** The parts before the out-of-scope halving, so a reader can see why an attribute ranks where it does. */
  parts: { llmRisk: number; failures: number; severity: number; sensitivity: number };
}

/** The LLM's judgement weighs most (up to 50 of 100): it has read the description and the profile. */
const LLM_RISK_POINTS: Record<RiskLevel, number> = { low: 10, medium: 30, high: 50 };
/** Per failing rule, capped at SEVERITY_CAP: one high-severity failure matters more than two low ones. */
const SEVERITY_POINTS: Record<ProfiledRule['severity'], number> = { low: 2, medium: 5, high: 10 };
const SEVERITY_CAP = 15;
/** Any failing rule gives FAILURE_BASE; the worst rule's failure rate adds up to FAILURE_RATE_CAP more. */
const FAILURE_BASE = 10;
const FAILURE_RATE_CAP = 15;
/** A 5 % failure rate already earns the full rate points: defects that common are systemic. */
const FAILURE_RATE_FACTOR = 300;

const SENSITIVITY: { pattern: RegExp; points: number }[] = [
  { pattern: /\b(e-?mail|phone|ssn|social security|birth|address|zip|postal|name)\b/i, points: 10 },
  { pattern: /\b(balance|limit|amount|income|payment|apr|rate|fee|usd|interest)\b/i, points: 7 },
  { pattern: /\b(identifier|id)\b/i, points: 5 },
];

export function failingRules(rules: readonly ProfiledRule[] = []): ProfiledRule[] {
  return rules.filter((r) => r.passRate !== null && r.failedRows > 0);
}

/** Points for the sensitive data the attribute's name or description suggests: personal, financial, identifying. */
export function sensitivityPoints(name: string, description: string): number {
  const text = `${name.replace(/_/g, ' ')} ${description}`;
  return Math.max(0, ...SENSITIVITY.filter((s) => s.pattern.test(text)).map((s) => s.points));
}

export function riskScore(input: ScoreInput): RiskScore {
  const failing = failingRules(input.profilingRules);
  const worstRate = Math.max(0, ...failing.map((r) => (r.checkedRows > 0 ? r.failedRows / r.checkedRows : 0)));
  const parts = {
    llmRisk: LLM_RISK_POINTS[input.risk],
    failures:
      failing.length === 0 ? 0 : FAILURE_BASE + Math.min(FAILURE_RATE_CAP, Math.round(worstRate * FAILURE_RATE_FACTOR)),
    severity: Math.min(
      SEVERITY_CAP,
      failing.reduce((sum, r) => sum + SEVERITY_POINTS[r.severity], 0),
    ),
    sensitivity: sensitivityPoints(input.name, input.description),
  };
  const total = Math.min(100, parts.llmRisk + parts.failures + parts.severity + parts.sensitivity);
  // Out of scope still ranks (a reviewer may overrule the LLM) but below any in-scope peer.
  return { score: input.inScope ? total : Math.floor(total / 2), parts };
}

/** Risk-based prioritisation: highest score first, then by name so equal scores always list the same way. */
export function byPriority<T extends { attribute: string; score: number }>(a: T, b: T): number {
  return b.score - a.score || (a.attribute < b.attribute ? -1 : a.attribute > b.attribute ? 1 : 0);
}
