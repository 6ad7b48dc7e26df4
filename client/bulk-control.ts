// Admin bulk control: pause, resume or cancel every active job of one owner (or job type) in one call.
// The jobs table picks the jobs (it is what owners and statuses are kept in, and it is read-your-writes,
// unlike Temporal's visibility); each job is signalled or cancelled directly and audited, plus one bulk entry.

import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { CONTROLLABLE_FROM } from '../common/jobs';
import type { Database } from '../db/database';
import { pauseSignal, resumeSignal } from '../workflows/control/control';
import { audited, recordAudit } from './audit';
import { DependencyUnavailableError, InvalidJobRequestError } from './errors';
import { parseOrReject, storableString } from './job-requests';
import { requireAdmin } from './llm-budget';
import type { TemporalCalls } from './temporal-calls';

export type BulkAction = 'pause' | 'resume' | 'cancel';

export const bulkFilterSchema = z
  .strictObject({
    owner: storableString.min(1).max(200).optional(),
    jobType: storableString.min(1).max(100).optional(),
    status: z.enum(['pending', 'running', 'paused']).optional(),
  })
  .refine(
    (f) => f.owner !== undefined || f.jobType !== undefined,
    'give owner or jobType: a bulk action on every job is not offered',
  );

export interface BulkOutcome {
  action: BulkAction;
  matched: number;
  done: string[];
  failed: { jobId: string; error: string }[];
}

/** Signals sent at once; enough to be quick for hundreds of jobs without flooding the frontend service. */
const PARALLEL = 10;

export async function bulkControl(
  temporal: Client,
  calls: TemporalCalls,
  db: Kysely<Database>,
  actor: { subject: string; admin: boolean },
  filter: unknown,
  action: BulkAction,
): Promise<BulkOutcome> {
  return audited(
    db,
    {
      actor: actor.subject,
      action: `bulk-${action}`,
      jobId: null,
      detail: { filter: filter as Record<string, unknown> },
    },
    async () => {
      requireAdmin(actor, `bulk ${action}`);
      if (!(action in CONTROLLABLE_FROM))
        throw new InvalidJobRequestError('action', 'expected pause, resume or cancel');
      const f = parseOrReject(bulkFilterSchema, filter ?? {}, 'filter');
      if (calls.isUnreachable())
        throw new DependencyUnavailableError('temporal', `Temporal is unreachable; no job was sent ${action}`);
      const statuses = f.status ? CONTROLLABLE_FROM[action].filter((s) => s === f.status) : CONTROLLABLE_FROM[action];
      if (statuses.length === 0) return { action, matched: 0, done: [], failed: [] };
      let query = db.selectFrom('jobs').select('id').where('source', '=', 'synapse').where('status', 'in', statuses);
      if (f.owner) query = query.where('owner', '=', f.owner);
      if (f.jobType) query = query.where('type', '=', f.jobType);
      const ids = (await query.orderBy('created_at').execute()).map((r) => r.id);
      const outcome: BulkOutcome = { action, matched: ids.length, done: [], failed: [] };
      for (let i = 0; i < ids.length; i += PARALLEL) {
        await Promise.all(
          ids
            .slice(i, i + PARALLEL)
            .map((jobId) => controlOne(temporal, calls, db, actor.subject, jobId, action, outcome)),
        );
      }
      return outcome;
    },
  );
}

async function controlOne(
  temporal: Client,
  calls: TemporalCalls,
  db: Kysely<Database>,
  actor: string,
  jobId: string,
  action: BulkAction,
  outcome: BulkOutcome,
): Promise<void> {
  const handle = temporal.workflow.getHandle(jobId);
  try {
    // Each within the deadline: Temporal going away mid-way lists the rest as failed instead of hanging the request.
    await calls.run(`${action} job ${jobId}`, async () => {
      if (action === 'pause') await handle.signal(pauseSignal, { now: false });
      else if (action === 'resume') await handle.signal(resumeSignal);
      else await handle.cancel();
    });
    outcome.done.push(jobId);
    await recordAudit(db, { actor, action, jobId, outcome: 'ok', detail: { bulk: true } });
  } catch (error) {
    // A job that ended between the lookup and the signal is reported, not fatal to the others.
    const message = error instanceof Error ? error.message : String(error);
    outcome.failed.push({ jobId, error: message });
    await recordAudit(db, { actor, action, jobId, outcome: `refused: ${message}`, detail: { bulk: true } });
  }
}
