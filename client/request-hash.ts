// What "the same start request" means for an idempotency key: the request as validated (its common fields with
// their defaults applied: priority, useLlmCache, metadata; the job type's own fields as given), without the key
// itself, as canonical JSON (object keys sorted at every depth, no whitespace), hashed with sha256. Two requests
// that differ only in key order, in spelling a default out, or in the key's place (body or Idempotency-Key
// header) are the same; any other difference makes a reused key a 422 (IdempotencyKeyReusedError).

import { createHash } from 'node:crypto';
import type { CommonStartRequest } from './job-requests';

export function startRequestHash(body: unknown, validated: CommonStartRequest): string {
  const given = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const { idempotencyKey: _key, ...request } = { ...given, ...validated };
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

/** JSON with object keys sorted at every depth; undefined members dropped, as JSON.stringify drops them. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value && typeof value === 'object' && !(value instanceof Date))
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}
