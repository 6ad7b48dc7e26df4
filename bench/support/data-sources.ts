// Bench-only data sources built from the demo table in SQL: a wide one (the demo columns copied with a
// suffix, up to PostgreSQL's 1 600 columns) and a tall one (the demo rows repeated), each registered in
// the catalogue so jobs can be started on them like on the demo source.

import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/database';
import { DEMO_COLUMNS } from '../../db/demo-columns';
import { DEMO_TABLE } from '../../db/demo-data';

const SQL_TYPES = {
  integer: 'integer',
  numeric: 'numeric',
  text: 'text',
  date: 'date',
  timestamp: 'timestamptz',
  boolean: 'boolean',
} as const;

/** A table with `attributes` columns (demo columns renamed `<name>_<copy>`) and `rows` demo rows. */
export async function createWideDataSource(
  db: Kysely<Database>,
  id: string,
  attributes: number,
  rows: number,
): Promise<string[]> {
  const columns = Array.from({ length: attributes }, (_, i) => {
    const demo = DEMO_COLUMNS[i % DEMO_COLUMNS.length]!;
    return { demo, name: `${demo.name}_${Math.floor(i / DEMO_COLUMNS.length) + 1}` };
  });
  const definitions = columns.map((c) => sql`${sql.id(c.name)} ${sql.raw(SQL_TYPES[c.demo.dataType])}`);
  await sql`create table ${sql.table(id)} (row_id bigint generated always as identity primary key, ${sql.join(definitions)})`.execute(
    db,
  );
  await sql`insert into ${sql.table(id)} (${sql.join(columns.map((c) => sql.id(c.name)))})
            select ${sql.join(columns.map((c) => sql.id(c.demo.name)))} from ${sql.table(DEMO_TABLE)} order by row_id limit ${rows}`.execute(
    db,
  );
  await sql`analyze ${sql.table(id)}`.execute(db);
  await register(
    db,
    id,
    columns.map((c) => ({ name: c.name, dataType: c.demo.dataType, description: c.demo.description })),
  );
  return columns.map((c) => c.name);
}

/**
 * The demo table's rows `copies` times over, same columns, registered with the demo catalogue. With
 * `distinctText`, every copy after the first appends ` #<copy>` to each non-null text value, so a text column has
 * as many distinct values as rows (up to `copies` × its demo values) instead of at most the demo row count.
 */
export async function createTallDataSource(
  db: Kysely<Database>,
  id: string,
  copies: number,
  options: { distinctText?: boolean } = {},
): Promise<number> {
  const names = sql.join(DEMO_COLUMNS.map((c) => sql.id(c.name)));
  const values = sql.join(
    DEMO_COLUMNS.map((c) =>
      options.distinctText && c.dataType === 'text'
        ? sql`case when copy = 1 then ${sql.id(c.name)} else ${sql.id(c.name)} || ' #' || copy end`
        : sql.id(c.name),
    ),
  );
  await sql`create table ${sql.table(id)} (like ${sql.table(DEMO_TABLE)} including defaults including identity)`.execute(
    db,
  );
  await sql`insert into ${sql.table(id)} (${names}) select ${values} from ${sql.table(DEMO_TABLE)}, generate_series(1, ${copies}) as copy`.execute(
    db,
  );
  await sql`analyze ${sql.table(id)}`.execute(db);
  await register(db, id, DEMO_COLUMNS);
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(id)}`.execute(db);
  return rows[0]!.n;
}

async function register(
  db: Kysely<Database>,
  id: string,
  attributes: readonly { name: string; dataType: string; description: string }[],
): Promise<void> {
  await db
    .insertInto('data_sources')
    .values({ id, table_name: id, description: `bench data source ${id}` })
    .execute();
  for (let start = 0; start < attributes.length; start += 500) {
    await db
      .insertInto('data_source_attributes')
      .values(
        attributes.slice(start, start + 500).map((a, i) => ({
          data_source_id: id,
          name: a.name,
          data_type: a.dataType,
          description: a.description,
          position: start + i,
        })),
      )
      .execute();
  }
}
