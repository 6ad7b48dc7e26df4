// The answer schemas as strict JSON Schemas (activities/llm/llm-response-format.ts), pure: every prompt kind's schema
// converts to one a provider accepts (the stand-in's check, which answers 400 otherwise, and the openai package's own
// conversion where it can make one), and a strict answer, nulls for absent fields, is read as the zod schema reads it.

import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { nullsAsAbsent, responseFormat, strictJsonSchema } from '../../activities/llm/llm-response-format';
import {
  ATTRIBUTE_EXTRACTION_TASK,
  extractedAttributesSchema,
  PDE_MAPPING_TASK,
  pdeMappingSchema,
} from '../../activities/planning/planning-prompts';
import { VALIDATION_RULES_TASK } from '../../activities/profiling/profiling-prompts';
import { proposedRulesSchema } from '../../activities/rules/rule-schema';
import { SCOPING_TASK, scopingAnswerSchema } from '../../activities/scoping/scoping-prompts';
import { answerInSchema, strictSchemaProblem } from '../../llm-standin/json-schema';

/** Every schema completeStructured is called with, by the TASK its prompt names. */
const ANSWER_SCHEMAS: [string, z.ZodType][] = [
  [VALIDATION_RULES_TASK, proposedRulesSchema],
  [ATTRIBUTE_EXTRACTION_TASK, extractedAttributesSchema],
  [PDE_MAPPING_TASK, pdeMappingSchema(['customer_id', 'customer_name'])],
  [SCOPING_TASK, scopingAnswerSchema],
];

describe.each(ANSWER_SCHEMAS)('the %s answer schema', (name, schema) => {
  const format = responseFormat('json_schema', name, schema);

  test('is sent as a strict json_schema response format a provider accepts', () => {
    expect(format).toEqual({ type: 'json_schema', json_schema: { name, schema: expect.any(Object), strict: true } });
    if (format.type !== 'json_schema') throw new Error('unreachable');
    expect(strictSchemaProblem(format.json_schema.schema)).toBeUndefined();
  });

  test('is the schema the openai package makes of it, where the package can make one', () => {
    let helpers: Record<string, unknown>;
    try {
      // The package refuses a field that is optional but not nullable: the rules schema has them.
      const { $schema: _draft, ...made } = zodResponseFormat(schema, name).json_schema.schema as Record<
        string,
        unknown
      >;
      helpers = made;
    } catch (error) {
      expect((error as Error).message).toMatch(/uses `\.optional\(\)` without `\.nullable\(\)`/);
      expect(name).toBe(VALIDATION_RULES_TASK);
      return;
    }
    expect(strictJsonSchema(schema)).toEqual(helpers);
  });
});

test('a rule answer written strictly, null for each absent bound, conforms and is read as the rule without it', () => {
  const schema = strictJsonSchema(proposedRulesSchema);
  const answer = {
    rules: [
      { rule: { kind: 'date_range', notBefore: '1990-01-01' }, description: 'plausible', severity: 'medium' },
      { rule: { kind: 'length', min: 3 }, description: 'long enough', severity: 'low' },
      { rule: { kind: 'not_null' }, description: 'present', severity: 'high' },
    ],
  };
  const strict = answerInSchema(answer, schema);
  expect(strict).toEqual({
    conforms: true,
    answer: {
      rules: [
        {
          rule: { kind: 'date_range', notBefore: '1990-01-01', notAfter: null },
          description: 'plausible',
          severity: 'medium',
        },
        { rule: { kind: 'length', min: 3, max: null }, description: 'long enough', severity: 'low' },
        { rule: { kind: 'not_null' }, description: 'present', severity: 'high' },
      ],
    },
  });
  expect(proposedRulesSchema.parse(nullsAsAbsent(strict.answer))).toEqual(answer);
  // Without the reading, the nulls fail the zod schema: the strict answer is not what it accepts as is.
  expect(proposedRulesSchema.safeParse(strict.answer).success).toBe(false);
});

test('an answer that breaks the schema does not conform, in the stand-in as in validation', () => {
  const schema = strictJsonSchema(proposedRulesSchema);
  for (const broken of [{ unexpected: true }, { rules: [{ rule: { kind: 'range', min: '1' } }] }]) {
    expect(answerInSchema(broken, schema).conforms).toBe(false);
    expect(proposedRulesSchema.safeParse(nullsAsAbsent(broken)).success).toBe(false);
  }
});

test('a null inside a list stays, and fails the schema that has no nulls', () => {
  expect(nullsAsAbsent({ a: null, b: [{ c: null, d: 1 }, null] })).toEqual({ b: [{ d: 1 }, null] });
});

test('a model set to json_object is asked for JSON without a schema', () => {
  expect(responseFormat('json_object', VALIDATION_RULES_TASK, proposedRulesSchema)).toEqual({ type: 'json_object' });
});

test('refuses to send a schema it cannot make strict, naming where', () => {
  const refusals: [z.ZodType, RegExp][] = [
    [z.object({ labels: z.record(z.string(), z.string()) }), /\.labels has open keys/],
    [z.object({ note: z.string().nullable() }), /\.note is nullable/],
    [z.array(z.string()), /root must be one object, not type "array"/],
    [z.union([z.object({ a: z.string() }), z.object({ b: z.string() })]), /root must be one object, not a union/],
  ];
  for (const [schema, problem] of refusals) expect(() => responseFormat('json_schema', 'x', schema)).toThrow(problem);
  expect(() => responseFormat('json_schema', 'not a name', z.object({}))).toThrow(/not one a provider accepts/);
});

test('the stand-in refuses a schema that is not strict, in the words a provider uses', () => {
  const object = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    type: 'object',
    properties,
    required: Object.keys(properties),
    additionalProperties: false,
    ...extra,
  });
  expect(strictSchemaProblem(object({ a: { type: 'string' } }))).toBeUndefined();
  expect(strictSchemaProblem({ type: 'array', items: { type: 'string' } })).toMatch(
    /must be a JSON Schema of 'type: "object"'/,
  );
  expect(strictSchemaProblem(object({ a: { type: 'object', properties: {}, required: [] } }))).toBe(
    "In context=('properties', 'a'), 'additionalProperties' is required to be supplied and to be false.",
  );
  expect(strictSchemaProblem(object({ a: { type: 'string' } }, { required: [] }))).toBe(
    "In context=(), 'required' is required to be supplied and to be an array including every key in properties. Missing 'a'.",
  );
  expect(strictSchemaProblem(object({ a: { allOf: [{ type: 'string' }] } }))).toBe(
    "In context=('properties', 'a'), 'allOf' is not permitted.",
  );
});
