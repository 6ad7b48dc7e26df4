// Sampling's table scans: split the data source into row-id ranges (work units), and scan one unit chunk by
// chunk with keyset pagination, heartbeating a checkpoint ({ lastRowId, partialState }) after every chunk so
// that a retry after a crash resumes there. Identifiers come from the catalogue; values are parameters.

import { Context, log } from '@temporalio/activity';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/database';
import { onDataSource } from '../data-sources/data-source-sql';
import { sourceTable, type DataSourceTable } from '../data-sources/data-sources';
import { addRow, bottomK, emptyMoments, stratumKey, type UnitState } from './sampling-state';

export type ScanPass = 'count' | 'select';

/** A range of record ids scanned as one activity: rows with firstRowId ≤ row_id ≤ lastRowId. */
export interface ScanUnit {
  index: number;
  firstRowId: number;
  lastRowId: number;
  /** Rows in the range when the scan was planned (progress weight). */
  rows: number;
}

export interface ScanSpec {
  jobId: string;
  dataSourceId: string;
  strataColumns: string[];
  neymanColumn?: string;
  seed: number;
  chunkSize: number;
  scanRowsPerSecond?: number;
}

/** The heartbeat details of a scan: the last row id folded into `partialState`. */
export interface ScanCheckpoint {
  lastRowId: number;
  partialState: UnitState;
}

const sleepSliceMs = 500;

export function createSamplingScanActivities(db: Kysely<Database>) {
  /** Row-id ranges of about `rowsPerUnit` ids each, with the rows each holds now; empty ranges are left out. */
  async function planSamplingScan(input: { dataSourceId: string; rowsPerUnit: number }): Promise<ScanUnit[]> {
    const { table, recordId } = await sourceTable(db, input.dataSourceId);
    const id = sql.id(recordId);
    // A whole-table read: heartbeats carry a cancel to it, and a record-id column the table lacks fails at once.
    const { rows } = await onDataSource(db, { table, label: `sampling_plan:${input.dataSourceId}` }, (conn) =>
      sql<{ unit: number; first: number; last: number; n: number }>`
        with bounds as (select min(${id}) as low from ${sql.table(table)})
        select ((${id} - bounds.low) / ${input.rowsPerUnit})::int as unit, min(${id}) as first, max(${id}) as last, count(*)::int as n
        from ${sql.table(table)}, bounds group by 1 order by 1`.execute(conn),
    );
    return rows.map((r, index) => ({ index, firstRowId: Number(r.first), lastRowId: Number(r.last), rows: r.n }));
  }

  async function allocationOf(jobId: string): Promise<Map<string, number>> {
    const strata = await db
      .selectFrom('sampling_strata')
      .select(['stratum', 'allocated'])
      .where('job_id', '=', jobId)
      .execute();
    return new Map(strata.map((s) => [s.stratum, s.allocated]));
  }

  /**
   * Scans one unit for one pass: `count` gathers per-stratum rows and Neyman moments, `select` keeps each
   * stratum's bottom-k record ids by seeded priority. Idempotent: a unit already stored is not scanned again.
   */
  async function scanSamplingUnit(
    input: ScanSpec & { pass: ScanPass; unit: ScanUnit },
  ): Promise<{ rowsScanned: number; resumedAfter: number | null }> {
    const { jobId, pass, unit } = input;
    const stored = await db
      .selectFrom('sampling_unit_results')
      .select('rows_scanned')
      .where('job_id', '=', jobId)
      .where('pass', '=', pass)
      .where('unit_index', '=', unit.index)
      .executeTakeFirst();
    if (stored) return { rowsScanned: 0, resumedAfter: null };

    const ctx = Context.current();
    const columns = [...input.strataColumns, ...(input.neymanColumn ? [input.neymanColumn] : [])];
    const source = await sourceTable(db, input.dataSourceId, columns);
    const checkpoint = ctx.info.heartbeatDetails as ScanCheckpoint | undefined;
    const state: UnitState =
      checkpoint?.partialState ?? (pass === 'count' ? { rows: 0, moments: {} } : { rows: 0, picks: {} });
    let after = checkpoint?.lastRowId ?? unit.firstRowId - 1;
    const allocation = pass === 'select' ? await allocationOf(jobId) : undefined;
    const progress = await db
      .insertInto('sampling_scan_progress')
      .values({
        job_id: jobId,
        pass,
        unit_index: unit.index,
        attempt: ctx.info.attempt,
        unit_first_row_id: unit.firstRowId,
        started_after_row_id: after,
        resumed: checkpoint !== undefined,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (checkpoint)
      log.info('sampling scan resumes from its checkpoint', { jobId, pass, unit: unit.index, lastRowId: after });

    const startedAt = Date.now();
    let scanned = 0;
    // Each chunk on its own lent connection (a throttled unit must not hold one for its whole length); a slow
    // chunk heartbeats the last checkpoint, and a cancel stops the chunk's statement.
    const chunkWork = {
      table: source.table,
      label: `sampling_scan:${jobId}:${pass}:${unit.index}`,
      details: (): ScanCheckpoint => ({ lastRowId: after, partialState: state }),
    };
    for (;;) {
      if (ctx.cancellationSignal.aborted) await ctx.cancelled;
      const rows = await onDataSource(db, chunkWork, (conn) => readChunk(conn, source, input, after, unit.lastRowId));
      if (rows.length === 0) break;
      foldChunk(state, rows, input, allocation);
      after = rows[rows.length - 1]!.row_id;
      scanned += rows.length;
      ctx.heartbeat({ lastRowId: after, partialState: state } satisfies ScanCheckpoint);
      await db
        .updateTable('sampling_scan_progress')
        .set({ last_row_id: after, rows_scanned: scanned, updated_at: sql`now()` })
        .where('id', '=', progress.id)
        .execute();
      if (input.scanRowsPerSecond)
        await throttle(ctx, startedAt, scanned, input.scanRowsPerSecond, { lastRowId: after, partialState: state });
    }
    await db
      .insertInto('sampling_unit_results')
      .values({ job_id: jobId, pass, unit_index: unit.index, rows_scanned: state.rows, state: JSON.stringify(state) })
      .onConflict((oc) => oc.columns(['job_id', 'pass', 'unit_index']).doNothing())
      .execute();
    return { rowsScanned: scanned, resumedAfter: checkpoint ? checkpoint.lastRowId : null };
  }

  interface ChunkRow {
    row_id: number;
    v: number | null;
    [stratum: `s${number}`]: string | null;
  }

  async function readChunk(
    conn: Kysely<Database>,
    { table, recordId }: DataSourceTable,
    spec: ScanSpec,
    after: number,
    last: number,
  ): Promise<ChunkRow[]> {
    const id = sql.id(recordId);
    const strata = spec.strataColumns.map((c, i) => sql`, ${sql.id(c)}::text as ${sql.id(`s${i}`)}`);
    const value = spec.neymanColumn ? sql`${sql.id(spec.neymanColumn)}::float8` : sql`null::float8`;
    const { rows } = await sql<ChunkRow>`
      select ${id} as row_id, ${value} as v ${sql.join(strata, sql``)}
      from ${sql.table(table)} where ${id} > ${after} and ${id} <= ${last} order by ${id} limit ${spec.chunkSize}`.execute(
      conn,
    );
    return rows.map((r) => ({ ...r, row_id: Number(r.row_id) }));
  }

  function foldChunk(
    state: UnitState,
    rows: ChunkRow[],
    spec: ScanSpec,
    allocation: Map<string, number> | undefined,
  ): void {
    const keyOf = (row: ChunkRow) => stratumKey(spec.strataColumns.map((_, i) => row[`s${i}`] ?? null));
    state.rows += rows.length;
    if (state.moments) {
      for (const row of rows) addRow((state.moments[keyOf(row)] ??= emptyMoments()), row.v);
      return;
    }
    const candidates = new Map<string, number[]>();
    for (const row of rows) {
      const key = keyOf(row);
      if ((allocation?.get(key) ?? 0) > 0) (candidates.get(key) ?? candidates.set(key, []).get(key)!).push(row.row_id);
    }
    for (const [key, ids] of candidates)
      state.picks![key] = bottomK(state.picks![key] ?? [], ids, allocation!.get(key)!, spec.seed);
  }

  return { planSamplingScan, scanSamplingUnit };
}

/** Holds the scan to `rowsPerSecond`, heartbeating while it waits so the heartbeat timeout never fires. */
async function throttle(
  ctx: Context,
  startedAt: number,
  scanned: number,
  rowsPerSecond: number,
  checkpoint: ScanCheckpoint,
): Promise<void> {
  for (;;) {
    const wait = startedAt + (scanned * 1000) / rowsPerSecond - Date.now();
    if (wait <= 0) return;
    await ctx.sleep(Math.min(wait, sleepSliceMs)); // rejects with CancelledFailure when the activity is cancelled
    ctx.heartbeat(checkpoint);
  }
}
