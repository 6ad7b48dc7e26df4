// Prompt text and answer schema of the scoping task. The `TASK:` and `ITEM:` lines are the contract with
// the local stand-in (llm-standin/responders/scoping-responder.ts); the one-line JSON after `ATTRIBUTE:` and
// `PROFILING:` is how it, and a reader of the logs, find the data in the prompt.

import { z } from 'zod';
import type { AttributeDescriptor } from '../../common/rules';
import { DESCRIPTION_MAX_CHARS, fitPrompt, truncateText, type PromptText } from '../llm/prompt-budget';
import type { ProfiledRule } from './risk-score';
import { RISK_LEVELS, TEST_COSTS, TEST_KINDS } from './scoping-catalogue';

export const SCOPING_TASK = 'assess_attribute_scope';

export const scopingAnswerSchema = z.object({
  inScope: z.boolean(),
  risk: z.enum(RISK_LEVELS),
  recommendedTests: z
    .array(z.object({ test: z.enum(TEST_KINDS), reason: z.string().max(500).default('') }))
    .max(TEST_KINDS.length)
    // The same kind twice says nothing more; refusing it keeps stored recommendations clean.
    .refine((tests) => new Set(tests.map((t) => t.test)).size === tests.length, 'lists a test kind twice'),
  rationale: z.string().max(2_000),
});

const catalogue = TEST_KINDS.map((kind) => `${kind} (cost ${TEST_COSTS[kind]})`).join(', ');

const SCOPING_SYSTEM_PROMPT = `You are a data-quality lead scoping the testing of a regulatory data source. For one attribute
(column), judge whether it belongs in the test scope, its risk, and which tests it needs. Answer with JSON only:
{"inScope": boolean, "risk": "low"|"medium"|"high", "recommendedTests": [{"test": KIND, "reason": string}], "rationale": string}.
KIND is one of: ${catalogue}. Personal, financial and identifying data, and attributes failing their profiling rules,
are higher risk. Recommend only tests the attribute's description or profile justify; an out-of-scope attribute needs none.`;

/** A profiling summary small enough for a prompt: the attribute's rules with their pass rates and failed rows. */
export interface ProfilingForPrompt {
  profilingJobId: string;
  rules: ProfiledRule[];
}

/**
 * The attribute and its profiling results, within `maxTokens`. Over budget, the rules go first, those that
 * passed best before those that failed most (20 kept, then none, their number still said), then most of the
 * description.
 */
export function scopingPrompt(
  dataSourceId: string,
  attribute: AttributeDescriptor,
  profiling: ProfilingForPrompt | null,
  maxTokens: number,
): PromptText {
  const render = (maxRules: number, descriptionChars: number) => {
    const lines = [
      `TASK: ${SCOPING_TASK}`,
      `ITEM: ${scopingItemKey(dataSourceId, attribute.name)}`,
      `ATTRIBUTE: ${JSON.stringify({ name: attribute.name, dataType: attribute.dataType, description: truncateText(attribute.description, descriptionChars) })}`,
    ];
    if (profiling) {
      const kept =
        maxRules >= profiling.rules.length
          ? profiling.rules
          : [...profiling.rules].sort(failingFirst).slice(0, maxRules);
      const rules = kept.map((r) => ({
        kind: truncateText(r.kind, 50),
        severity: r.severity,
        passRate: r.passRate === null ? null : round4(r.passRate),
        failedRows: r.failedRows,
        checkedRows: r.checkedRows,
      }));
      const omitted = profiling.rules.length - rules.length;
      lines.push(
        `PROFILING: ${JSON.stringify({ job: profiling.profilingJobId, rules, ...(omitted > 0 ? { rulesOmitted: omitted } : {}) })}`,
      );
    } else {
      lines.push('PROFILING: none');
    }
    return { system: SCOPING_SYSTEM_PROMPT, user: lines.join('\n') };
  };
  return fitPrompt(
    [
      () => render(Infinity, DESCRIPTION_MAX_CHARS),
      () => render(20, DESCRIPTION_MAX_CHARS),
      () => render(0, DESCRIPTION_MAX_CHARS),
      () => render(0, 200),
    ],
    maxTokens,
  );
}

const failingFirst = (a: ProfiledRule, b: ProfiledRule) => (a.passRate ?? 2) - (b.passRate ?? 2);
const round4 = (n: number) => Math.round(n * 10_000) / 10_000;

/** The ITEM key of an attribute's scoping call, as the stand-in counts it and llm_calls records it. */
export const scopingItemKey = (dataSourceId: string, attribute: string) => `scope:${dataSourceId}.${attribute}`;
