// Test execution: one row per test case of a test_execution job (a rule run against the records under
// test), keyed by job and test case so that a retried batch writes each result once.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('test_case_results')
    .addColumn('job_id', 'text', (c) => c.notNull())
    /** `<attribute>#<ruleIndex>` for a profiling job's rule, `<attribute>#check<n>` for the request's n-th check. */
    .addColumn('test_case_id', 'text', (c) => c.notNull())
    .addColumn('attribute', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('rule', 'jsonb', (c) => c.notNull())
    // A test passes when no record under test violates its rule; `error` when the rule could not run.
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pass', 'fail', 'error')`))
    .addColumn('checked_records', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failed_records', 'integer', (c) => c.notNull().defaultTo(0))
    /** The lowest failing record ids, at most the job's maxFailingIdsPerTest of them. */
    .addColumn('failing_record_ids', sql`bigint[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('error', 'text')
    /** The activity attempt that wrote the result (> 1 when transient errors were retried); 0 when carried over. */
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('executed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    /** For a re-run: the job whose passing result was carried over instead of executed again (null: executed here). */
    .addColumn('carried_over_from', 'text')
    .addPrimaryKeyConstraint('test_case_results_pk', ['job_id', 'test_case_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('test_case_results').execute();
}
