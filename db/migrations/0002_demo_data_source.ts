// The demo data source: its table (columns from the demo data dictionary) and its catalogue rows.
// Rows of data are seeded separately (db/demo-data.ts); a migration only shapes the schema.

import { sql, type Kysely } from 'kysely';
import { DEMO_COLUMNS } from '../demo-columns';

const TABLE = 'demo_credit_card_accounts';
const SQL_TYPES = {
  integer: 'integer',
  numeric: 'numeric',
  text: 'text',
  date: 'date',
  timestamp: 'timestamptz',
  boolean: 'boolean',
} as const;

export async function up(db: Kysely<any>): Promise<void> {
  let table = db.schema.createTable(TABLE);
  for (const column of DEMO_COLUMNS) table = table.addColumn(column.name, SQL_TYPES[column.dataType]);
  await table.execute();

  await db
    .insertInto('data_sources')
    .values({ id: TABLE, table_name: TABLE, description: 'Demo credit-card accounts with realistic defects' })
    .execute();
  await db
    .insertInto('data_source_attributes')
    .values(
      DEMO_COLUMNS.map((c, position) => ({
        data_source_id: TABLE,
        name: c.name,
        data_type: c.dataType,
        description: c.description,
        position,
      })),
    )
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('data_sources').where('id', '=', TABLE).execute();
  await sql`drop table if exists ${sql.table(TABLE)}`.execute(db);
}
