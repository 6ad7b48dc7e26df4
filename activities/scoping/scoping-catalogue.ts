// The closed catalogue of data-quality test kinds a scoping recommendation may name, each with a fixed
// cost (relative effort to build and run the test once over every attribute it applies to). Pure
// constants: the prompt, the answer schema, the stand-in, the score and the optimiser all read them here.

export const TEST_KINDS = [
  'completeness',
  'validity',
  'uniqueness',
  'consistency',
  'timeliness',
  'accuracy',
  'reconciliation',
] as const;
export type TestKind = (typeof TEST_KINDS)[number];

/** Cheap automated checks cost little; accuracy needs a trusted source, reconciliation a second system. */
export const TEST_COSTS: Record<TestKind, number> = {
  completeness: 1,
  validity: 2,
  uniqueness: 2,
  timeliness: 2,
  consistency: 3,
  accuracy: 5,
  reconciliation: 8,
};

export const RISK_LEVELS = ['low', 'medium', 'high'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];
