// The audit trail: who started or controlled which job, when, and how it went. Written for every
// attempt, refused ones included, because refusals are what an audit is most often asked about.

import type { Kysely } from 'kysely';
import type { Database } from '../db/database';

export interface AuditEntry {
  actor: string;
  action: string;
  jobId: string | null;
  outcome: string;
  detail?: Record<string, unknown>;
}

export async function recordAudit(db: Kysely<Database>, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({ actor: entry.actor, action: entry.action, job_id: entry.jobId, outcome: entry.outcome, detail: JSON.stringify(entry.detail ?? {}) })
    .execute();
}

/** Runs a start or control action and audits it with its outcome, whether it succeeds or is refused. */
export async function audited<T>(db: Kysely<Database>, entry: Omit<AuditEntry, 'outcome'>, action: () => Promise<T>, jobIdOf?: (result: T) => string): Promise<T> {
  try {
    const result = await action();
    await recordAudit(db, { ...entry, jobId: jobIdOf?.(result) ?? entry.jobId, outcome: 'ok' });
    return result;
  } catch (error) {
    await recordAudit(db, { ...entry, outcome: `refused: ${error instanceof Error ? error.message : String(error)}` });
    throw error;
  }
}
