// Seeds the demo data source (catalogue rows and 10 000 generated accounts). Schema lives in the
// migrations; this only writes rows, and skips the work when the table already holds the full set.

import { sql, type Kysely } from 'kysely';
import type { Database } from './database';
import { DEMO_COLUMNS, type Random } from './demo-columns';

export const DEMO_DATA_SOURCE_ID = 'demo_credit_card_accounts';
export const DEMO_TABLE = 'demo_credit_card_accounts';
export const DEMO_ROW_COUNT = 10_000;
const SEED = 20250128;
const ROWS_PER_INSERT = 400; // 400 rows x 110 columns stays under PostgreSQL's 65 535 bind parameters

/** mulberry32: tiny, fast and reproducible, which is all a demo table needs. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generateDemoRows(count: number, seed = SEED): Record<string, unknown>[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, row) =>
    Object.fromEntries(DEMO_COLUMNS.map((column) => [column.name, column.generate(random, row)])),
  );
}

/**
 * The demo table is not in the typed Database: its columns are generated (db/demo-columns.ts), so a row is column →
 * value.
 */
type DemoTable = { [DEMO_TABLE]: Record<string, unknown> };

export async function seedDemoData(db: Kysely<Database>, rowCount = DEMO_ROW_COUNT): Promise<{ inserted: number }> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(DEMO_TABLE)}`.execute(db);
  if (rows[0]?.n === rowCount) return { inserted: 0 };

  const generated = generateDemoRows(rowCount);
  await db.transaction().execute(async (trx) => {
    await sql`truncate ${sql.table(DEMO_TABLE)}`.execute(trx);
    for (let start = 0; start < generated.length; start += ROWS_PER_INSERT) {
      await trx
        .withTables<DemoTable>()
        .insertInto(DEMO_TABLE)
        .values(generated.slice(start, start + ROWS_PER_INSERT))
        .execute();
    }
  });
  return { inserted: generated.length };
}

/** The demo data source's attributes (columns) in catalogue order: what tests and benchmarks pick from. */
export async function demoCatalogue(db: Kysely<Database>): Promise<{ name: string }[]> {
  return db
    .selectFrom('data_source_attributes')
    .select('name')
    .where('data_source_id', '=', DEMO_DATA_SOURCE_ID)
    .orderBy('position')
    .execute();
}
