// Structured outputs as a provider gives them: a strict JSON Schema is checked as OpenAI checks it (every property
// required, no other property allowed, only keywords strict mode supports) and refused otherwise, and the answer is
// sent in the schema's strict form (a field the responder left out written as null) and checked against it.

import Ajv, { type ValidateFunction } from 'ajv';

type Schema = Record<string, unknown>;

/** Keywords OpenAI's strict mode refuses (the list the openai package's own strict-schema check keeps). */
const UNSUPPORTED_KEYWORDS = [
  'allOf',
  'not',
  'if',
  'then',
  'else',
  'contains',
  'prefixItems',
  'uniqueItems',
  'patternProperties',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
  'minProperties',
  'maxProperties',
  'dependentRequired',
  'dependentSchemas',
  'dependencies',
];

// Formats are not checked (strict mode only hints at them), and keywords Ajv does not know are left to the check above.
const ajv = new Ajv({ strict: false, validateFormats: false });

/** Compiled validators by schema text; a run sends few distinct schemas, and this bounds a long one's memory. */
const validators = new Map<string, ValidateFunction | undefined>();
const VALIDATORS_KEPT = 500;

function validatorFor(schema: Schema): ValidateFunction | undefined {
  const key = JSON.stringify(schema);
  if (validators.has(key)) return validators.get(key);
  if (validators.size >= VALIDATORS_KEPT) validators.clear();
  let validate: ValidateFunction | undefined;
  try {
    validate = ajv.compile(schema);
  } catch {
    validate = undefined;
  }
  // Ajv keeps every schema object it compiled; the text-keyed map above is the cache that stays bounded.
  ajv.removeSchema(schema);
  validators.set(key, validate);
  return validate;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const context = (path: string[]) => `In context=(${path.map((p) => `'${p}'`).join(', ')})`;

/**
 * Why a provider would refuse `schema` as a strict response format, in OpenAI's words, or undefined when it is
 * well-formed.
 */
export function strictSchemaProblem(schema: Schema): string | undefined {
  if (schema.type !== 'object')
    return `schema must be a JSON Schema of 'type: "object"', got 'type: ${JSON.stringify(schema.type ?? null)}'.`;
  if (validatorFor(schema) === undefined) return 'schema is not a valid JSON Schema.';
  return nodeProblem(schema, []);
}

function nodeProblem(node: unknown, path: string[]): string | undefined {
  if (!isRecord(node)) return `${context(path)}, a schema must be an object.`;
  for (const keyword of UNSUPPORTED_KEYWORDS)
    if (keyword in node) return `${context(path)}, '${keyword}' is not permitted.`;
  if (node.type === 'object' || 'properties' in node) {
    if (node.additionalProperties !== false)
      return `${context(path)}, 'additionalProperties' is required to be supplied and to be false.`;
    const properties = isRecord(node.properties) ? node.properties : {};
    const required = Array.isArray(node.required) ? node.required : [];
    const missing = Object.keys(properties).find((key) => !required.includes(key));
    if (missing !== undefined)
      return `${context(path)}, 'required' is required to be supplied and to be an array including every key in properties. Missing '${missing}'.`;
    for (const [key, child] of Object.entries(properties)) {
      const problem = nodeProblem(child, [...path, 'properties', key]);
      if (problem) return problem;
    }
  }
  if ('items' in node) {
    const problem = nodeProblem(node.items, [...path, 'items']);
    if (problem) return problem;
  }
  for (const keyword of ['anyOf', 'oneOf'] as const) {
    const branches = node[keyword];
    if (branches === undefined) continue;
    if (!Array.isArray(branches)) return `${context(path)}, '${keyword}' must be an array.`;
    for (const [index, branch] of branches.entries()) {
      const problem = nodeProblem(branch, [...path, keyword, String(index)]);
      if (problem) return problem;
    }
  }
  for (const keyword of ['$defs', 'definitions'] as const) {
    const definitions = node[keyword];
    if (!isRecord(definitions)) continue;
    for (const [name, definition] of Object.entries(definitions)) {
      const problem = nodeProblem(definition, [...path, keyword, name]);
      if (problem) return problem;
    }
  }
  return undefined;
}

/**
 * The answer as a provider holding its output to `schema` writes it: every field the schema allows as null and the
 * answer leaves out is written as null, through objects, arrays and the first branch of a union it fits; and whether
 * the result conforms (it does not when the responder, or a fault, broke the schema).
 */
export function answerInSchema(answer: unknown, schema: Schema): { answer: unknown; conforms: boolean } {
  const fitted = fit(answer, schema);
  return { answer: fitted, conforms: conformsTo(fitted, schema) };
}

export const conformsTo = (answer: unknown, schema: Schema): boolean => validatorFor(schema)?.(answer) === true;

function fit(value: unknown, schema: unknown): unknown {
  if (!isRecord(schema)) return value;
  const branches = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(branches)) {
    for (const branch of branches) {
      const fitted = fit(value, branch);
      if (isRecord(branch) && validatorFor(branch)?.(fitted) === true) return fitted;
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((item) => fit(item, schema.items));
  if (!isRecord(value) || !isRecord(schema.properties)) return value;
  const fitted: Record<string, unknown> = { ...value };
  for (const [key, property] of Object.entries(schema.properties)) {
    if (Object.hasOwn(fitted, key)) fitted[key] = fit(fitted[key], property);
    else if (admitsNull(property)) fitted[key] = null;
  }
  return fitted;
}

function admitsNull(schema: unknown): boolean {
  if (!isRecord(schema)) return false;
  if (schema.type === 'null' || (Array.isArray(schema.type) && schema.type.includes('null'))) return true;
  const branches = schema.anyOf ?? schema.oneOf;
  return Array.isArray(branches) && branches.some(admitsNull);
}
