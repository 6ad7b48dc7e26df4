// The completion callback: once a job's final state is written, its outcome (id, type, status, error, completion
// time, the result's figures) is POSTed to the start request's `callbackUrl`, signed with HMAC-SHA256 under
// CALLBACK_SECRET over `<timestamp>.<body>`, never to a host outside CALLBACK_ALLOWED_HOSTS and never following a
// redirect. Every attempt is recorded in job_callbacks; the retries are the activity's (CALLBACK_ACTIVITY).

import { createHmac } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { sql, type Kysely } from 'kysely';
import { FailureType } from '../../common/failures';
import type { Config } from '../../config';
import type { Database } from '../../db/database';
import { callbackUrlProblem, type CallbackSettings } from './callback-allow-list';

export type CallbackDeliverySettings = CallbackSettings & Pick<Config, 'CALLBACK_TIMEOUT_MS'>;

export interface CallbackRequest {
  jobId: string;
  url: string;
}

/** What the receiver gets: the job's outcome, as the status API names its fields. */
export interface CallbackBody {
  job_id: string;
  job_type: string;
  status: string;
  error: string | null;
  completed_at: string | null;
  /** The result's top-level figures and words (counts, rates, scope); lists stay behind GET /api/v1/jobs/{id}. */
  result_summary: Record<string, string | number | boolean | null> | null;
}

/** The header names a receiver reads: the signature over `<timestamp>.<raw body>`, and that timestamp (Unix s). */
export const SIGNATURE_HEADER = 'x-synapse-signature';
export const TIMESTAMP_HEADER = 'x-synapse-timestamp';

/** `sha256=<hex>` of HMAC-SHA256(secret, `${timestamp}.${body}`): the timestamp signed too, so a replay can be refused. */
export function signCallback(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The result's scalar fields only: a summary a receiver can act on, bounded whatever the family's result holds. */
function summaryOf(result: unknown): CallbackBody['result_summary'] {
  if (typeof result !== 'object' || result === null) return null;
  const summary: NonNullable<CallbackBody['result_summary']> = {};
  for (const [key, value] of Object.entries(result))
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value))
      summary[key] = typeof value === 'string' ? value.slice(0, 1_000) : (value as number | boolean | null);
  return summary;
}

async function recordAttempt(
  db: Kysely<Database>,
  { jobId, url }: CallbackRequest,
  outcome: { status: number | null; error: string | null },
): Promise<void> {
  const delivered = outcome.error === null ? new Date() : null;
  await db
    .insertInto('job_callbacks')
    .values({
      job_id: jobId,
      url,
      attempts: 1,
      last_status: outcome.status,
      last_error: outcome.error,
      delivered_at: delivered,
    })
    .onConflict((oc) =>
      oc.column('job_id').doUpdateSet({
        url,
        attempts: sql<number>`job_callbacks.attempts + 1`,
        last_status: outcome.status,
        last_error: outcome.error,
        delivered_at: delivered,
        updated_at: new Date(),
      }),
    )
    .execute();
}

/** Where a job's completion callback stands, as the status API shows it. */
export interface CallbackDelivery {
  url: string;
  attempts: number;
  /** The receiver's HTTP status on the last attempt; null before one, or when it gave none. */
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
}

/** The delivery of the job's callback to `url` (no attempt yet: 0 attempts). */
export async function callbackDeliveryOf(db: Kysely<Database>, jobId: string, url: string): Promise<CallbackDelivery> {
  const row = await db.selectFrom('job_callbacks').selectAll().where('job_id', '=', jobId).executeTakeFirst();
  return {
    url,
    attempts: row?.attempts ?? 0,
    last_status: row?.last_status ?? null,
    last_error: row?.last_error ?? null,
    delivered_at: row?.delivered_at ? row.delivered_at.toISOString() : null,
  };
}

export function createCallbackActivities(db: Kysely<Database>, settings: CallbackDeliverySettings) {
  return {
    /** POSTs the job's outcome to its callback URL; throws CallbackFailed (retried) or CallbackRefused (not). */
    async deliverJobCallback(request: CallbackRequest): Promise<{ status: number }> {
      const refused = callbackUrlProblem(request.url, settings);
      if (refused) {
        await recordAttempt(db, request, { status: null, error: `not sent: callbackUrl ${refused}` });
        throw ApplicationFailure.nonRetryable(`callbackUrl ${refused}`, FailureType.CallbackRefused);
      }
      const row = await db
        .selectFrom('jobs')
        .select(['id', 'type', 'status', 'error', 'completed_at', 'result'])
        .where('id', '=', request.jobId)
        .executeTakeFirstOrThrow();
      const body: CallbackBody = {
        job_id: row.id,
        job_type: row.type,
        status: row.status,
        error: row.error,
        completed_at: row.completed_at ? row.completed_at.toISOString() : null,
        result_summary: summaryOf(row.result),
      };
      const text = JSON.stringify(body);
      const timestamp = String(Math.floor(Date.now() / 1_000));
      let status: number | null = null;
      let error: string | null = null;
      try {
        const response = await fetch(request.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'synapse-jobs-callback',
            [TIMESTAMP_HEADER]: timestamp,
            [SIGNATURE_HEADER]: signCallback(settings.CALLBACK_SECRET!, timestamp, text),
          },
          body: text,
          // A redirect could lead anywhere, outside the allow-list: it is an answer, not a place to go.
          redirect: 'manual',
          signal: AbortSignal.timeout(settings.CALLBACK_TIMEOUT_MS),
        });
        status = response.status;
        await response.body?.cancel();
        if (status >= 300 && status < 400) error = `answered ${status}, a redirect (never followed)`;
        else if (status < 200 || status >= 300) error = `answered ${status}`;
      } catch (failure) {
        error = failure instanceof Error ? `${failure.name}: ${failure.message}` : String(failure);
      }
      await recordAttempt(db, request, { status, error });
      if (error !== null)
        throw ApplicationFailure.retryable(
          `callback to ${new URL(request.url).host} ${error}`,
          FailureType.CallbackFailed,
        );
      return { status: status! };
    },
  };
}
