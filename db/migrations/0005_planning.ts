// Planning: the documents attribute generation reads and their chunks, the candidates extracted per chunk,
// a plan's data elements (PDEs) with provenance, and PDE-to-column mappings — one current mapping per PDE
// of a plan, plus each mapping job's outcome per PDE (what it mapped, skipped or failed, and why).

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('planning_documents')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('plan_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('planning_chunks')
    .addColumn('document_id', 'bigint', (c) => c.notNull().references('planning_documents.id').onDelete('cascade'))
    .addColumn('chunk_index', 'integer', (c) => c.notNull())
    .addColumn('start_offset', 'integer', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('planning_chunks_pk', ['document_id', 'chunk_index'])
    .execute();

  await db.schema
    .createTable('attribute_candidates')
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('document_id', 'bigint', (c) => c.notNull())
    .addColumn('chunk_index', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('completed', 'failed')`))
    .addColumn('candidates', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('failure_reason', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('attribute_candidates_pk', ['job_id', 'document_id', 'chunk_index'])
    .execute();

  await db.schema
    .createTable('plan_data_elements')
    .addColumn('pde_id', 'bigserial', (c) => c.primaryKey())
    .addColumn('plan_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('data_type', 'text', (c) => c.notNull())
    .addColumn('constraints', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    /** The generation job that wrote it; null when a mapping request supplied it. */
    .addColumn('source_job_id', 'text')
    .addColumn('provenance', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('plan_data_elements_plan_name', ['plan_id', 'name'])
    .execute();

  await db.schema
    .createTable('pde_mappings')
    .addColumn('plan_id', 'text', (c) => c.notNull())
    .addColumn('pde_id', 'bigint', (c) => c.notNull().references('plan_data_elements.pde_id').onDelete('cascade'))
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('data_source_id', 'text', (c) => c.notNull())
    .addColumn('column_names', sql`text[]`, (c) => c.notNull())
    .addColumn('confidence', 'real', (c) => c.notNull())
    .addColumn('classification', 'text', (c) =>
      c.notNull().check(sql`classification in ('CDE', 'PII', 'financial', 'other')`),
    )
    .addColumn('risk_rating', 'text', (c) => c.notNull().check(sql`risk_rating in ('low', 'medium', 'high')`))
    .addColumn('rationale', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('suggested')
        .check(sql`status in ('suggested', 'accepted', 'rejected')`),
    )
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('pde_mappings_pk', ['plan_id', 'pde_id'])
    .execute();

  await db.schema
    .createTable('pde_mapping_outcomes')
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('pde_id', 'bigint', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('mapped', 'failed', 'skipped_accepted')`))
    .addColumn('classification', 'text')
    .addColumn('failure_reason', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('pde_mapping_outcomes_pk', ['job_id', 'pde_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'pde_mapping_outcomes',
    'pde_mappings',
    'plan_data_elements',
    'attribute_candidates',
    'planning_chunks',
    'planning_documents',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
