// What an LLM request asks its answer to be, and how the answer is read back. With `json_schema` the provider holds
// its output to the answer's JSON Schema, derived here from the zod schema that validates it, in the strict form
// providers accept (every property required, no others, an optional property nullable); `json_object` asks for JSON.

import { z } from 'zod';
import type { ResponseFormatKind } from '../../common/llm';

/** A JSON Schema node, as zod writes it and the strict form keeps it. */
type JsonSchema = Record<string, unknown>;

export type ResponseFormat =
  { type: 'json_object' } | { type: 'json_schema'; json_schema: { name: string; schema: JsonSchema; strict: true } };

/** A JSON Schema response format's name: what providers accept (letters, digits, `_` and `-`, up to 64). */
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * The request's `response_format` for an answer of `schema` named `name` (the prompt's TASK). Throws when the schema
 * cannot be sent strict: a record (open keys), a root that is not one object, or a field that is already nullable
 * (null is how a strict answer says a field is absent, so it cannot also be a value).
 */
export function responseFormat(kind: ResponseFormatKind, name: string, schema: z.ZodType): ResponseFormat {
  if (kind === 'json_object') return { type: 'json_object' };
  if (!NAME.test(name)) throw new Error(`answer name '${name}' is not one a provider accepts (${NAME.source})`);
  return { type: 'json_schema', json_schema: { name, schema: strictJsonSchema(schema), strict: true } };
}

/**
 * A module-level schema's JSON Schema, made once (about half a millisecond each time, on every call of a 5 000-item
 * job); only read afterwards, as the request body.
 */
const madeBefore = new WeakMap<z.ZodType, JsonSchema>();

/**
 * The strict JSON Schema of what `schema` outputs. The output side, not the input: a field with a default is
 * required too, so the model writes it instead of leaving it to the default.
 */
export function strictJsonSchema(schema: z.ZodType): JsonSchema {
  const made = madeBefore.get(schema);
  if (made) return made;
  const { $schema: _draft, ...root } = z.toJSONSchema(schema, { target: 'draft-7', io: 'output' }) as JsonSchema;
  if (root.type !== 'object') throw new Error(`an answer's root must be one object, not ${describe(root)}`);
  const strict = strictNode(root, '');
  madeBefore.set(schema, strict);
  return strict;
}

function strictNode(node: JsonSchema, at: string): JsonSchema {
  if (node.type === 'null' || (Array.isArray(node.type) && node.type.includes('null')))
    throw new Error(`${at || '(root)'} is nullable: a strict answer uses null to say a field is absent`);
  const strict: JsonSchema = { ...node };
  if (node.type === 'object') {
    const properties = (node.properties ?? {}) as Record<string, JsonSchema>;
    if (node.additionalProperties !== undefined && node.additionalProperties !== false)
      throw new Error(`${at || '(root)'} has open keys (a record): a strict answer names every key`);
    const required = new Set((node.required ?? []) as string[]);
    strict.properties = Object.fromEntries(
      Object.entries(properties).map(([key, child]) => {
        const property = strictNode(child, `${at}.${key}`);
        return [key, required.has(key) ? property : { anyOf: [property, { type: 'null' }] }];
      }),
    );
    strict.required = Object.keys(properties);
    strict.additionalProperties = false;
  }
  if (isSchema(node.items)) strict.items = strictNode(node.items, `${at}[]`);
  // A discriminated union comes as oneOf; its branches exclude each other, so anyOf (what strict mode takes) is the same.
  const branches = node.anyOf ?? node.oneOf;
  if (Array.isArray(branches)) {
    delete strict.oneOf;
    strict.anyOf = (branches as JsonSchema[]).map((branch, i) => strictNode(branch, `${at}|${i}`));
  }
  if (node.allOf !== undefined || node.$ref !== undefined || node.$defs !== undefined || node.definitions !== undefined)
    throw new Error(`${at || '(root)'} uses allOf or references, which this conversion does not make strict`);
  return strict;
}

const isSchema = (value: unknown): value is JsonSchema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const describe = (node: JsonSchema) =>
  node.type === undefined ? (node.anyOf ? 'a union' : 'an untyped schema') : `type ${JSON.stringify(node.type)}`;

/**
 * The answer with every object property that is null taken out: a strict answer writes null for a field it leaves
 * out, and the zod schemas (which strictJsonSchema refuses to send when they allow null anywhere) read it as absent.
 */
export function nullsAsAbsent(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(nullsAsAbsent);
  if (!isSchema(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, field]) => field !== null)
      .map(([key, field]) => [key, nullsAsAbsent(field)]),
  );
}
