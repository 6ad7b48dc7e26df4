// Scoping: each job's assessment per attribute (LLM risk, scope, recommended tests, the deterministic score
// and the profiling summary it saw, or why it failed), and the test set scope optimisation chose for a job.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('scoping_assessments')
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('attribute', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('completed', 'failed')`))
    .addColumn('in_scope', 'boolean')
    .addColumn('risk', 'text', (c) => c.check(sql`risk in ('low', 'medium', 'high')`))
    .addColumn('score', 'integer', (c) => c.check(sql`score between 0 and 100`))
    .addColumn('score_parts', 'jsonb')
    .addColumn('recommended_tests', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('rationale', 'text')
    /** The profiling rules the prompt summarised; null when the job named no profiling job. */
    .addColumn('profiling', 'jsonb')
    .addColumn('failure_reason', 'text')
    .addColumn('llm_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('scoping_assessments_pk', ['job_id', 'attribute'])
    .execute();

  await db.schema
    .createTable('scoping_selection')
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('test_kind', 'text', (c) => c.notNull())
    .addColumn('cost', 'integer', (c) => c.notNull())
    /** The high-risk in-scope attributes this test covers (what the optimiser counted). */
    .addColumn('covers', sql`text[]`, (c) => c.notNull())
    /** Every in-scope attribute the test was recommended for, which it runs over. */
    .addColumn('applies_to', sql`text[]`, (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('scoping_selection_pk', ['job_id', 'test_kind'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['scoping_selection', 'scoping_assessments']) await db.schema.dropTable(table).execute();
}
