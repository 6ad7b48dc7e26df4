// The stand-in's answer to `assess_attribute_scope`, computed from the prompt alone so tests can state exact
// results: risk from personal/identifying/financial keywords and failing profiling rules, tests from the
// description's wording and from the kinds of rule that failed; low-risk attributes are out of scope.

import type { RiskLevel, TestKind } from '../../activities/scoping/scoping-catalogue';

interface AttributeInPrompt {
  name: string;
  dataType: string;
  description: string;
}

interface RuleInPrompt {
  kind: string;
  severity: string;
  passRate: number | null;
  failedRows: number;
}

const PERSONAL = /\b(e-?mail|phone|ssn|social security|birth|address|zip|postal)\b/i;
const IDENTIFYING = /\b(identifier|id)\b/i;
const FINANCIAL = /\b(balance|limit|amount|income|payment|apr|rate|fee|usd)\b/i;
const NOTABLE = /\b(status|score|grade|date)\b/i;

/** Which wording asks for which test, and which failing rule kind does. */
const TEST_CUES: { test: TestKind; words: RegExp; ruleKinds: string[] }[] = [
  { test: 'completeness', words: /\b(identifier|not null|required)\b/i, ruleKinds: ['not_null'] },
  { test: 'validity', words: /\b(one of|format|valid|length)\b/i, ruleKinds: ['pattern', 'allowed_values', 'length'] },
  { test: 'uniqueness', words: /\bunique\b/i, ruleKinds: ['unique'] },
  { test: 'consistency', words: /\b(status|state|zip|grade)\b/i, ruleKinds: [] },
  { test: 'timeliness', words: /\b(recent|within \d+ days)\b/i, ruleKinds: ['freshness'] },
  { test: 'accuracy', words: /\b(score|income|age|between)\b/i, ruleKinds: ['range', 'date_range'] },
  { test: 'reconciliation', words: /\b(balance|payment|amount|limit)\b/i, ruleKinds: [] },
];

function jsonAfter<T>(prompt: string, marker: string): T | null {
  const line = prompt.split('\n').find((l) => l.startsWith(marker));
  if (!line) throw new Error(`prompt has no ${marker} line`);
  const text = line.slice(marker.length).trim();
  return text === 'none' ? null : (JSON.parse(text) as T);
}

function riskOf(text: string, failing: RuleInPrompt[]): { risk: RiskLevel; why: string[] } {
  const why: string[] = [];
  if (PERSONAL.test(text)) why.push('personal data');
  if (IDENTIFYING.test(text)) why.push('identifies records');
  const financial = FINANCIAL.test(text);
  if (financial) why.push('financial value');
  if (failing.length > 0) why.push(`fails ${failing.map((r) => `${r.kind} (${r.failedRows} rows)`).join(', ')}`);
  const high =
    PERSONAL.test(text) ||
    IDENTIFYING.test(text) ||
    failing.some((r) => r.severity === 'high') ||
    (financial && failing.length > 0);
  if (high) return { risk: 'high', why };
  if (financial || failing.length > 0 || NOTABLE.test(text))
    return { risk: 'medium', why: why.length ? why : ['reported field'] };
  return { risk: 'low', why: ['no sensitive or failing data'] };
}

export function answerScopingAssessment(prompt: string) {
  const attribute = jsonAfter<AttributeInPrompt>(prompt, 'ATTRIBUTE: ')!;
  const profiling = jsonAfter<{ rules: RuleInPrompt[] }>(prompt, 'PROFILING: ');
  const failing = (profiling?.rules ?? []).filter((r) => r.passRate !== null && r.failedRows > 0);
  const text = `${attribute.name.replace(/_/g, ' ')} ${attribute.description}`;
  const { risk, why } = riskOf(text, failing);
  const inScope = risk !== 'low';
  const recommendedTests = inScope
    ? TEST_CUES.filter(
        (c) => c.words.test(attribute.description) || failing.some((r) => c.ruleKinds.includes(r.kind)),
      ).map((c) => ({
        test: c.test,
        reason: failing.some((r) => c.ruleKinds.includes(r.kind))
          ? 'a profiling rule of this kind fails'
          : 'the description calls for it',
      }))
    : [];
  if (inScope && recommendedTests.length === 0)
    recommendedTests.push({ test: 'completeness', reason: 'a reported field must be present' });
  return { inScope, risk, recommendedTests, rationale: `${attribute.name}: ${why.join('; ')}` };
}
