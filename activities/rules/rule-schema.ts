// The schema an LLM answer must satisfy before any rule is stored, plus the check that a rule makes
// sense for its column's type. Validated rules are still only data: see rule-sql.ts for execution.

import { z } from 'zod';
import type { AttributeDescriptor, ProposedRule, ValidationRule } from '../../common/rules';

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');

export const validationRuleSchema: z.ZodType<ValidationRule, ValidationRule> = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('not_null') }),
  z.object({ kind: z.literal('range'), min: z.number().optional(), max: z.number().optional() }),
  z.object({ kind: z.literal('allowed_values'), values: z.array(z.string().max(200)).min(1).max(500) }),
  z.object({ kind: z.literal('pattern'), regex: z.string().min(1).max(500) }),
  z.object({
    kind: z.literal('length'),
    min: z.number().int().min(0).optional(),
    max: z.number().int().min(0).optional(),
  }),
  z.object({ kind: z.literal('unique') }),
  z.object({ kind: z.literal('freshness'), maxAgeDays: z.number().int().positive().max(36_500) }),
  z.object({ kind: z.literal('date_range'), notBefore: isoDate.optional(), notAfter: isoDate.optional() }),
]);

export const proposedRulesSchema: z.ZodType<{ rules: ProposedRule[] }> = z.object({
  rules: z
    .array(
      z.object({
        rule: validationRuleSchema,
        description: z.string().max(1_000).default(''),
        severity: z.enum(['low', 'medium', 'high']).default('medium'),
      }),
    )
    .max(30),
});

const KINDS_BY_TYPE: Record<AttributeDescriptor['dataType'], ReadonlySet<ValidationRule['kind']>> = {
  integer: new Set(['not_null', 'range', 'unique', 'allowed_values']),
  numeric: new Set(['not_null', 'range', 'unique']),
  text: new Set(['not_null', 'allowed_values', 'pattern', 'length', 'unique']),
  date: new Set(['not_null', 'freshness', 'date_range', 'unique']),
  timestamp: new Set(['not_null', 'freshness', 'date_range', 'unique']),
  boolean: new Set(['not_null']),
};

/** Why a schema-valid rule still cannot apply to this column, or undefined when it can. */
export function ruleProblem(attribute: AttributeDescriptor, rule: ValidationRule): string | undefined {
  if (!KINDS_BY_TYPE[attribute.dataType].has(rule.kind))
    return `${rule.kind} does not apply to a ${attribute.dataType} column`;
  if ((rule.kind === 'range' || rule.kind === 'length') && rule.min === undefined && rule.max === undefined)
    return `${rule.kind} needs min or max`;
  if (
    (rule.kind === 'range' || rule.kind === 'length') &&
    rule.min !== undefined &&
    rule.max !== undefined &&
    rule.min > rule.max
  )
    return `${rule.kind} has min > max`;
  if (rule.kind === 'date_range' && !rule.notBefore && !rule.notAfter) return 'date_range needs notBefore or notAfter';
  return undefined;
}
