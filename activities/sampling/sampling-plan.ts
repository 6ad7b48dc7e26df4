// Sampling between and after the scans: merge the count pass into strata and a sample size (Cochran, then
// proportional / Neyman / per-stratum allocation), merge the select pass's bottom-k into the stored sample,
// and summarise a job from what the database holds. Each step is idempotent (stored once, keyed by job).

import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/database';
import { planSample, type Allocation, type StratumStats } from './sample-size';
import { bottomK, mergeMomentMaps, stddevOf, type StratumMoments } from './sampling-state';
import type { UnitState } from './sampling-state';

export interface AllocationRequest {
  jobId: string;
  allocation: Allocation;
  confidenceLevel: number;
  marginOfError: number;
  expectedRate: number;
  seed: number;
}

const INSERT_BATCH = 5_000;

export function createSamplingPlanActivities(db: Kysely<Database>) {
  async function unitStates(jobId: string, pass: 'count' | 'select'): Promise<UnitState[]> {
    const rows = await db
      .selectFrom('sampling_unit_results')
      .select('state')
      .where('job_id', '=', jobId)
      .where('pass', '=', pass)
      .orderBy('unit_index')
      .execute();
    return rows.map((r) => r.state);
  }

  /** Strata from the count pass, the sample size over their population and each stratum's share of it. */
  async function allocateSample(
    input: AllocationRequest,
  ): Promise<{ population: number; sampleSize: number; strata: number }> {
    const existing = await db
      .selectFrom('sampling_plans')
      .select(['population', 'sample_size'])
      .where('job_id', '=', input.jobId)
      .executeTakeFirst();
    if (existing) {
      const strata = await db
        .selectFrom('sampling_strata')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('job_id', '=', input.jobId)
        .executeTakeFirstOrThrow();
      return { population: existing.population, sampleSize: existing.sample_size, strata: Number(strata.n) };
    }
    const moments = mergeMomentMaps((await unitStates(input.jobId, 'count')).map((s) => s.moments ?? {}));
    const keys = Object.keys(moments).sort();
    const stats: StratumStats[] = keys.map((stratum) => ({
      stratum,
      population: moments[stratum]!.rows,
      stddev: stddevOf(moments[stratum]!),
    }));
    const plan = planSample(stats, input.allocation, input);
    await db.transaction().execute(async (trx) => {
      const { overall } = plan;
      await trx
        .insertInto('sampling_plans')
        .values({
          job_id: input.jobId,
          population: overall.population,
          confidence_level: overall.confidenceLevel,
          z: overall.z,
          margin_of_error: overall.marginOfError,
          expected_rate: overall.expectedRate,
          n0: overall.n0,
          sample_size: overall.sampleSize,
          allocation: input.allocation,
          seed: input.seed,
        })
        .onConflict((oc) => oc.column('job_id').doNothing())
        .execute();
      if (keys.length > 0) {
        await trx
          .insertInto('sampling_strata')
          .values(
            keys.map((stratum) =>
              strataRow(
                input.jobId,
                stratum,
                moments[stratum]!,
                plan.allocated.get(stratum) ?? 0,
                input.allocation === 'neyman',
              ),
            ),
          )
          .onConflict((oc) => oc.columns(['job_id', 'stratum']).doNothing())
          .execute();
      }
    });
    return { population: plan.overall.population, sampleSize: plan.overall.sampleSize, strata: keys.length };
  }

  /** Merges the units' bottom-k per stratum into the sample (reason `random`) and records each stratum's count. */
  async function selectSample(input: { jobId: string; seed: number }): Promise<{ selected: number }> {
    const strata = await db
      .selectFrom('sampling_strata')
      .select(['stratum', 'allocated'])
      .where('job_id', '=', input.jobId)
      .orderBy('stratum')
      .execute();
    const states = await unitStates(input.jobId, 'select');
    const records: { job_id: string; row_id: number; stratum: string; reason: string }[] = [];
    const selected = new Map<string, number>();
    for (const { stratum, allocated } of strata) {
      let picks: number[] = [];
      for (const state of states) picks = bottomK(picks, state.picks?.[stratum] ?? [], allocated, input.seed);
      selected.set(stratum, picks.length);
      for (const rowId of picks) records.push({ job_id: input.jobId, row_id: rowId, stratum, reason: 'random' });
    }
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < records.length; i += INSERT_BATCH) {
        await trx
          .insertInto('sample_records')
          .values(records.slice(i, i + INSERT_BATCH))
          .onConflict((oc) => oc.columns(['job_id', 'row_id']).doNothing())
          .execute();
      }
      for (const [stratum, count] of selected)
        await trx
          .updateTable('sampling_strata')
          .set({ selected: count })
          .where('job_id', '=', input.jobId)
          .where('stratum', '=', stratum)
          .execute();
    });
    return { selected: records.length };
  }

  return {
    allocateSample,
    selectSample,
    summarizeSampling: (input: { jobId: string }) => summarizeSampling(db, input.jobId),
  };
}

function strataRow(jobId: string, stratum: string, m: StratumMoments, allocated: number, neyman: boolean) {
  return {
    job_id: jobId,
    stratum,
    population: m.rows,
    value_count: m.values,
    mean: neyman && m.values > 0 ? m.mean : null,
    stddev: neyman ? stddevOf(m) : null,
    allocated,
  };
}

export type SamplingSummary = Awaited<ReturnType<typeof summarizeSampling>>;

/** The job's result: the sample size inputs and outputs, strata, edge cases, and how the scans went. */
export async function summarizeSampling(db: Kysely<Database>, jobId: string) {
  const plan = await db.selectFrom('sampling_plans').selectAll().where('job_id', '=', jobId).executeTakeFirstOrThrow();
  const strata = await db
    .selectFrom('sampling_strata')
    .select(['stratum', 'population', 'allocated', 'selected', 'mean', 'stddev'])
    .where('job_id', '=', jobId)
    .orderBy('stratum')
    .execute();
  const edges = await db
    .selectFrom('sample_records')
    .select(['reason', 'row_id'])
    .where('job_id', '=', jobId)
    .where('reason', 'like', 'edge:%')
    .orderBy('reason')
    .execute();
  const total = await db
    .selectFrom('sample_records')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  const { rows } = await sql<{ rows: number; attempts: number; resumed: number; ms: number }>`
    select coalesce(sum(rows_scanned), 0)::float8 as rows, count(*)::int as attempts, count(*) filter (where resumed)::int as resumed,
           coalesce(sum(extract(epoch from updated_at - started_at) * 1000), 0)::float8 as ms
    from sampling_scan_progress where job_id = ${jobId}`.execute(db);
  const scans = rows[0]!;
  const rowsScanned = Number(scans.rows);
  const scanSeconds = Number(scans.ms) / 1000;
  return {
    population: plan.population,
    sampleSize: {
      confidenceLevel: plan.confidence_level,
      marginOfError: plan.margin_of_error,
      expectedRate: plan.expected_rate,
      population: plan.population,
      z: plan.z,
      n0: plan.n0,
      n: plan.sample_size,
      formula: 'n0 = z²·p(1−p)/e²; n = ceil(n0 / (1 + (n0 − 1)/N))',
    },
    allocation: plan.allocation,
    seed: plan.seed,
    strata: strata.map((s) => ({
      stratum: s.stratum,
      population: s.population,
      allocated: s.allocated,
      selected: s.selected,
      ...(s.stddev === null ? {} : { mean: s.mean, stddev: s.stddev }),
    })),
    edgeCasesAdded: edges.length,
    edgeCases: edges.map((e) => ({ reason: e.reason, rowId: e.row_id })),
    sampleTotal: Number(total.n),
    rowsScanned,
    scanAttempts: Number(scans.attempts),
    scansResumedFromCheckpoint: Number(scans.resumed),
    scanSeconds: Math.round(scanSeconds * 1000) / 1000,
    rowsPerSecond: scanSeconds > 0 ? Math.round(rowsScanned / scanSeconds) : null,
  };
}
