// What a start keeps for the HTTP contract of issue 12: the canonical hash of the start request (so a reused
// idempotency key with a different request is refused with 422 instead of silently answering the first job), and
// who started the job when that is not its owner (a service starting jobs for others may follow and control them).

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('jobs')
    // sha256 (hex) of the validated request's canonical JSON without its idempotency key (client/request-hash.ts);
    // null on rows from before it was kept, whose key then matches any request as it did.
    .addColumn('request_hash', 'text')
    // The token subject that started the job for its owner (a service role); null when the owner started it.
    .addColumn('started_by', 'text')
    .execute();
  // A service lists the jobs it started for others: the same order as the owner's list (created_at desc, id).
  await db.schema
    .createIndex('jobs_started_by_created_at_idx')
    .on('jobs')
    .columns(['started_by', 'created_at desc', 'id'])
    .where(sql.ref('started_by'), 'is not', null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('jobs_started_by_created_at_idx').execute();
  await db.schema.alterTable('jobs').dropColumn('request_hash').dropColumn('started_by').execute();
}
