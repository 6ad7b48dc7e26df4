// A data source whose scans a test can hold: a copy of demo rows read through a view that, for a connection a
// scanning activity labelled (rule execution, test execution, sampling scans), first takes a shared advisory
// lock. While the test holds that lock exclusively, every such scan waits on it, visibly in pg_stat_activity;
// the catalogue reads, the sampling plan and the column profiles are never held. The SQL twin of a stand-in gate.

import { sql } from 'kysely';
import pg from 'pg';
import { DEMO_DATA_SOURCE_ID, DEMO_TABLE } from '../../db/demo-data';
import type { Hold } from './control-checks';
import type { Harness } from './harness';
import { trackUntilClosed } from './leftovers';
import { waitFor } from './waiting';

/**
 * The application_name prefixes of the scans held (activities/data-sources/data-source-sql.ts callers label their
 * connections so).
 */
const HELD_SCANS = '^(rule_execution|test_execution|sampling_scan):';
/** A two-key advisory lock (its own key space, apart from one-key locks such as the reconciler's). */
const LOCK = [15, 4_242] as const;

export interface ScanHold extends Hold {
  /** The data source id to give jobs whose scans the hold should catch. */
  dataSourceId: string;
  /** Closes the hold: scans started from now on wait until release() or open(). */
  close(): Promise<void>;
  /** Scans of `jobId` running or waiting now. */
  scansOf(jobId: string): Promise<{ running: number; held: number }>;
  /** Ends the lock holder's session. */
  end(): Promise<void>;
}

/** Creates the held data source `name` (`rows` demo rows) and a session to hold it with; starts open. */
export async function createScanHold(harness: Harness, name: string, rows: number): Promise<ScanHold> {
  const copy = `${name}_rows`;
  const hold = `${name}_hold`;
  await sql`create table ${sql.table(copy)} as select * from ${sql.table(DEMO_TABLE)} where row_id <= ${rows}`.execute(
    harness.db,
  );
  await sql
    .raw(
      `create function ${hold}() returns boolean language plpgsql volatile as $$
      begin
        if current_setting('application_name') ~ '${HELD_SCANS}' then perform pg_advisory_xact_lock_shared(${LOCK[0]}, ${LOCK[1]}); end if;
        return true;
      end $$`,
    )
    .execute(harness.db);
  // An uncorrelated subquery: evaluated once per statement, before the first row.
  await sql.raw(`create view ${name} as select * from ${copy} where (select ${hold}())`).execute(harness.db);
  await harness.db
    .insertInto('data_sources')
    .values({
      id: name,
      table_name: name,
      description: 'demo rows whose scans a test can hold',
      record_id_column: 'row_id',
    })
    .execute();
  await sql`insert into data_source_attributes (data_source_id, name, data_type, description, position)
    select ${name}, name, data_type, description, position from data_source_attributes where data_source_id = ${DEMO_DATA_SOURCE_ID}`.execute(
    harness.db,
  );

  const holder = new pg.Client({ connectionString: harness.config.DATABASE_URL, application_name: `${name}_holder` });
  await holder.connect();
  // Its session keeps Jest alive until ended: listed, so a file whose afterAll never ends it still exits.
  const untrack = trackUntilClosed(`the ${name} scan hold's session`, () => holder.end());
  let closed = false;
  const unlock = async () => {
    if (!closed) return;
    closed = false;
    await holder.query('select pg_advisory_unlock($1, $2)', [...LOCK]);
  };

  const scansOf = async (jobId: string) => {
    const { rows: found } = await sql<{ running: number; held: number }>`
      select count(*)::int as running, (count(*) filter (where wait_event_type = 'Lock' and wait_event = 'advisory'))::int as held
      from pg_stat_activity where state = 'active' and application_name ~ ${HELD_SCANS} and application_name like ${`%:${jobId}:%`}`.execute(
      harness.db,
    );
    return found[0]!;
  };

  return {
    dataSourceId: name,
    async close() {
      if (closed) return;
      await holder.query('select pg_advisory_lock($1, $2)', [...LOCK]);
      closed = true;
    },
    scansOf,
    waitUntilHeld: async (jobId, count) => {
      await waitFor(
        () => scansOf(jobId),
        (s) => s.held >= count,
        30_000,
        `${count} scans of ${jobId} waiting on the hold`,
      );
    },
    release: unlock,
    open: unlock,
    // The hold stays closed: a scan gone from pg_stat_activity was cancelled, not let through.
    waitUntilInterrupted: async (jobId) => {
      await waitFor(
        () => scansOf(jobId),
        (s) => s.running === 0,
        30_000,
        `the held scans of ${jobId} cancelled`,
      );
    },
    async end() {
      untrack();
      await unlock().catch(() => undefined);
      await holder.end();
    },
  };
}
