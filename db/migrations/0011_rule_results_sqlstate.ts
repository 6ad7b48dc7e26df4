// Rule results say why a rule could not run in a form a program can act on: the SQLSTATE of the database's
// refusal (42703 missing column, 42883 no operator for the stored type, 42P01 table gone …) beside the reason.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rule_results').addColumn('sqlstate', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rule_results').dropColumn('sqlstate').execute();
}
