// The fleet-wide LLM budget as operators and job status see it: limits, usage in the current window, calls
// waiting per owner, recent 429s; and changing a model's limits at run time (workers read them every round).

import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/database';
import { notifyBudgetChanged } from '../activities/llm/budget/llm-budget-ledger';
import { audited } from './audit';
import { AdminRequiredError, InvalidJobRequestError } from './errors';
import { parseOrReject } from './job-requests';

export interface ModelBudget {
  model: string;
  limits: { rpm: number; tpm: number; window_ms: number };
  /** The provider's own x-ratelimit-limit-*, which cap ours when lower. */
  provider_limits: { rpm: number | null; tpm: number | null };
  paused_until: string | null;
  /** Why the first waiting call is not granted yet; null when nothing waits. */
  blocked_reason: string | null;
  usage: { requests: number; tokens: number; in_flight: number };
  waiting: { calls: number; by_owner: Record<string, number> };
  recent_rate_limits: {
    at: string;
    status: number;
    pause_ms: number;
    reason: string;
    job_id: string;
    worker: string;
  }[];
  updated_at: string;
  updated_by: string | null;
}

/** Why a job's calls are waiting, for its status; undefined when none is. */
export interface JobBudgetStatus {
  waiting_calls: number;
  reason: string;
}

const RECENT_RATE_LIMITS = 20;

export async function budgetSnapshot(db: Kysely<Database>): Promise<ModelBudget[]> {
  const models = await db.selectFrom('llm_budget_limits').selectAll().orderBy('model').execute();
  return Promise.all(
    models.map(async (limits) => {
      // Rows that left the window but were not purged yet (purging happens when a worker grants) do not count.
      const windowStart = sql<Date>`clock_timestamp() - make_interval(secs => ${limits.window_ms / 1000})`;
      const [usage, waiting, rateLimits] = await Promise.all([
        db
          .selectFrom('llm_budget_calls')
          .select((eb) => [
            eb.fn.countAll<number>().as('requests'),
            eb.fn.coalesce(eb.fn.sum<number>('tokens'), eb.lit(0)).as('tokens'),
            sql<number>`count(*) filter (where settled_at is null)`.as('in_flight'),
          ])
          .where('model', '=', limits.model)
          .where('state', '=', 'granted')
          .where((eb) => eb.or([eb('settled_at', 'is', null), eb('settled_at', '>', windowStart)]))
          .executeTakeFirstOrThrow(),
        db
          .selectFrom('llm_budget_calls')
          .select((eb) => ['owner', eb.fn.countAll<number>().as('calls')])
          .where('model', '=', limits.model)
          .where('state', '=', 'waiting')
          .groupBy('owner')
          .execute(),
        db
          .selectFrom('llm_budget_rate_limits')
          .selectAll()
          .where('model', '=', limits.model)
          .orderBy('id', 'desc')
          .limit(RECENT_RATE_LIMITS)
          .execute(),
      ]);
      const byOwner = Object.fromEntries(waiting.map((w) => [w.owner, Number(w.calls)]));
      return {
        model: limits.model,
        limits: { rpm: limits.rpm, tpm: limits.tpm, window_ms: limits.window_ms },
        provider_limits: { rpm: limits.provider_rpm, tpm: limits.provider_tpm },
        paused_until:
          limits.paused_until && limits.paused_until > new Date() ? limits.paused_until.toISOString() : null,
        blocked_reason: limits.blocked_reason,
        usage: { requests: Number(usage.requests), tokens: Number(usage.tokens), in_flight: Number(usage.in_flight) },
        waiting: { calls: Object.values(byOwner).reduce((a, b) => a + b, 0), by_owner: byOwner },
        recent_rate_limits: rateLimits.map((r) => ({
          at: r.at.toISOString(),
          status: r.status,
          pause_ms: r.pause_ms,
          reason: r.reason,
          job_id: r.job_id,
          worker: r.worker,
        })),
        updated_at: limits.updated_at.toISOString(),
        updated_by: limits.updated_by,
      };
    }),
  );
}

export async function jobBudgetStatus(db: Kysely<Database>, jobId: string): Promise<JobBudgetStatus | undefined> {
  const rows = await db
    .selectFrom('llm_budget_calls as c')
    .innerJoin('llm_budget_limits as l', 'l.model', 'c.model')
    .leftJoin('jobs as j', 'j.id', 'c.job_id')
    .select((eb) => [eb.fn.countAll<number>().as('calls'), 'l.blocked_reason', 'j.status'])
    .where('c.job_id', '=', jobId)
    .where('c.state', '=', 'waiting')
    .groupBy(['l.blocked_reason', 'j.status'])
    .execute();
  const calls = rows.reduce((sum, r) => sum + Number(r.calls), 0);
  if (calls === 0) return undefined;
  const first = rows[0]!;
  const reason =
    first.status === 'paused'
      ? 'held while the job is paused'
      : (first.blocked_reason ?? 'queued behind calls of higher priority or of other owners');
  return { waiting_calls: calls, reason };
}

export const limitsSchema = z.strictObject({
  rpm: z.coerce.number().int().min(1).optional(),
  tpm: z.coerce.number().int().min(1).optional(),
  windowMs: z.coerce.number().int().min(100).optional(),
});

/**
 * Changes a model's limits for every worker at once (they re-read them on their next grant round, prompted by NOTIFY).
 */
export async function setBudgetLimits(
  db: Kysely<Database>,
  actor: { subject: string; admin: boolean },
  model: string,
  change: unknown,
  defaults: { rpm: number; tpm: number; windowMs: number },
): Promise<ModelBudget> {
  await audited(
    db,
    {
      actor: actor.subject,
      action: 'llm-budget-set',
      jobId: null,
      detail: { model, change: change as Record<string, unknown> },
    },
    async () => {
      requireAdmin(actor, 'changing the LLM budget');
      if (!/^[\w.:/-]{1,200}$/.test(model)) throw new InvalidJobRequestError('model', 'not a model name');
      const { rpm, tpm, windowMs } = parseOrReject(limitsSchema, change, 'limits');
      if (rpm === undefined && tpm === undefined && windowMs === undefined)
        throw new InvalidJobRequestError('limits', 'give rpm, tpm or windowMs');
      await db
        .insertInto('llm_budget_limits')
        .values({
          model,
          rpm: rpm ?? defaults.rpm,
          tpm: tpm ?? defaults.tpm,
          window_ms: windowMs ?? defaults.windowMs,
          updated_by: actor.subject,
        })
        .onConflict((oc) =>
          oc.column('model').doUpdateSet((eb) => ({
            rpm: rpm ?? eb.ref('llm_budget_limits.rpm'),
            tpm: tpm ?? eb.ref('llm_budget_limits.tpm'),
            window_ms: windowMs ?? eb.ref('llm_budget_limits.window_ms'),
            updated_at: new Date(),
            updated_by: actor.subject,
          })),
        )
        .execute();
      await notifyBudgetChanged(db, model);
    },
  );
  return (await budgetSnapshot(db)).find((m) => m.model === model)!;
}

export function requireAdmin(actor: { admin: boolean }, what: string): void {
  if (!actor.admin) throw new AdminRequiredError(`${what} needs the admin role`);
}
