// The audit trail: who started or controlled which job, when, and how it went. Written for every
// attempt, refused ones included, because refusals are what an audit is most often asked about; so every
// entry is made storable and bounded, whatever a refused request carried.

import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { findUnstorableText, storableText } from './storable-text';

/** Characters an entry keeps of one detail value (or of its JSON); a refused request may carry megabytes. */
const AUDIT_VALUE_MAX_CHARS = 256;
/** Characters kept of an actor and of an outcome (which quotes the refusal's message). */
const AUDIT_ACTOR_MAX_CHARS = 256;
const AUDIT_OUTCOME_MAX_CHARS = 1_000;

export interface AuditEntry {
  actor: string;
  action: string;
  jobId: string | null;
  outcome: string;
  detail?: Record<string, unknown>;
}

export async function recordAudit(db: Kysely<Database>, entry: AuditEntry): Promise<void> {
  const detail = Object.fromEntries(
    Object.entries(entry.detail ?? {}).map(([key, value]) => [storableText(key), auditedValue(value)]),
  );
  await db
    .insertInto('audit_log')
    .values({
      actor: storableText(entry.actor.slice(0, AUDIT_ACTOR_MAX_CHARS)),
      action: entry.action,
      job_id: entry.jobId,
      outcome: storableText(entry.outcome.slice(0, AUDIT_OUTCOME_MAX_CHARS)),
      detail: JSON.stringify(detail),
    })
    .execute();
}

/**
 * A detail value as the audit keeps it: as is when short and storable; otherwise its first characters
 * (made storable), its length and the sha256 of its JSON, which identifies the original without storing it.
 */
export function auditedValue(value: unknown): unknown {
  const json = JSON.stringify(value);
  if (json === undefined) return value;
  const text = typeof value === 'string' ? value : json;
  if (text.length <= AUDIT_VALUE_MAX_CHARS && !findUnstorableText(value)) return value;
  return {
    truncated: storableText(text.slice(0, AUDIT_VALUE_MAX_CHARS)),
    length: text.length,
    sha256: createHash('sha256').update(json).digest('hex'),
  };
}

/** Runs a start or control action and audits it with its outcome, whether it succeeds or is refused. */
export async function audited<T>(
  db: Kysely<Database>,
  entry: Omit<AuditEntry, 'outcome'>,
  action: () => Promise<T>,
  jobIdOf?: (result: T) => string,
): Promise<T> {
  try {
    const result = await action();
    await recordAudit(db, { ...entry, jobId: jobIdOf?.(result) ?? entry.jobId, outcome: 'ok' });
    return result;
  } catch (error) {
    await recordAudit(db, { ...entry, outcome: `refused: ${error instanceof Error ? error.message : String(error)}` });
    throw error;
  }
}
