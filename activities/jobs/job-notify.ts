// The one notification a change of a job's row sends: `NOTIFY job_events, '<job id>'`, in the transaction that writes
// the row, so a listener never hears of a change it cannot read yet. The API's event streams listen for it
// (job-events.ts); the payload is the job id alone, far under PostgreSQL's 8 000-byte limit.

import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/database';

/** The channel every API process LISTENs on. */
export const JOB_EVENTS_CHANNEL = 'job_events';

/** Queues the notification for `jobId`; PostgreSQL delivers it when the surrounding transaction commits. */
export async function notifyJobChanged(db: Kysely<Database>, jobId: string): Promise<void> {
  await sql`select pg_notify(${JOB_EVENTS_CHANNEL}, ${jobId})`.execute(db);
}
