// The intelligent_sampling job: count strata in one chunked scan, size and allocate the sample (Cochran with
// finite-population correction; proportional, Neyman or per stratum), select records by seeded bottom-k in a
// second scan, then add edge cases. Scans run as row-id-range units, so progress moves and pause stops them.

import { continueAsNew } from '@temporalio/workflow';
import type { SamplingActivities } from '../../activities';
import type { Allocation } from '../../activities/sampling/sample-size';
import type { ScanPass, ScanUnit } from '../../activities/sampling/sampling';
import type { CoverageOutcome } from '../../activities/sampling/sampling-coverage';
import type { SamplingSummary } from '../../activities/sampling/sampling-plan';
import type { JobInputBase, JobStart } from '../../common/jobs';
import { DATABASE_ACTIVITY, RULE_EXECUTION_ACTIVITY, SAMPLING_SCAN_ACTIVITY } from '../control/activity-options';
import { JobControl } from '../control/control';

const scans = (control: JobControl) => control.activities<SamplingActivities>(SAMPLING_SCAN_ACTIVITY);
const queries = (control: JobControl) => control.activities<SamplingActivities>(RULE_EXECUTION_ACTIVITY);
const database = (control: JobControl) => control.activities<SamplingActivities>(DATABASE_ACTIVITY);

/** What the sampling workflow receives: everything resolved and validated by the client. */
export interface SamplingJobInput extends JobInputBase {
  dataSourceId: string;
  confidenceLevel: number;
  marginOfError: number;
  expectedRate: number;
  strataColumns: string[];
  allocation: Allocation;
  neymanColumn?: string;
  edgeCaseColumns: string[];
  rulesFromJobId?: string;
  seed: number;
  chunkSize: number;
  /** Chunks per scan unit (one activity); progress moves and pause takes hold at unit boundaries. */
  chunksPerUnit: number;
  scanRowsPerSecond?: number;
  /** Rows when the job was started: the progress total is two scans of them (plus three steps). */
  rowsAtStart: number;
  /** On a continued run: the scan plan, the pass it was in and the units that pass had left. */
  resumeAt?: { units: ScanUnit[]; pass: ScanPass; remaining: number[] };
}

/** A sampling job's result: the sample's summary and what covering edge cases found. */
export type SamplingJobResult = SamplingSummary & {
  coverage: Pick<CoverageOutcome, 'alreadyCovered' | 'absent' | 'skipped'>;
};

type SamplingWorkflow = (input: SamplingJobInput) => Promise<SamplingJobResult>;

/** Steps that are not rows: allocation, merging the selection, covering edge cases. */
const STEPS_AFTER_SCANS = 3;

/** `intelligent_sampling`: a stratified, seeded, reproducible sample with guaranteed edge cases. */
export async function intelligentSampling(start: JobStart<SamplingJobInput>): Promise<SamplingJobResult> {
  const [control, input] = await JobControl.begin(start, (i) => 2 * i.rowsAtStart + STEPS_AFTER_SCANS);
  return control.run(async () => {
    const units =
      input.resumeAt?.units ??
      (await database(control).planSamplingScan({
        dataSourceId: input.dataSourceId,
        rowsPerUnit: input.chunkSize * input.chunksPerUnit,
      }));
    const passes: ScanPass[] = input.resumeAt?.pass === 'select' ? ['select'] : ['count', 'select'];
    for (const pass of passes) {
      const remaining = input.resumeAt?.pass === pass ? new Set(input.resumeAt.remaining) : undefined;
      if (pass === 'select') await allocate(control, input);
      const left = await scan(control, input, pass, remaining ? units.filter((u) => remaining.has(u.index)) : units);
      if (left.length > 0)
        return continueAsNew<SamplingWorkflow>({
          ...input,
          carried: await control.carryOver(),
          resumeAt: { units, pass, remaining: left.map((u) => u.index) },
        });
    }
    control.beginPhase('Selecting records');
    await database(control).selectSample({ jobId: input.jobId, seed: input.seed });
    control.skipSteps(1);
    control.beginPhase('Covering edge cases');
    const { jobId, dataSourceId, strataColumns, edgeCaseColumns, rulesFromJobId } = input;
    const coverage = await queries(control).coverEdgeCases({
      jobId,
      dataSourceId,
      strataColumns,
      edgeCaseColumns,
      rulesFromJobId,
    });
    control.skipSteps(1);
    const summary = await database(control).summarizeSampling({ jobId });
    return {
      status: 'completed',
      error: null,
      result: {
        ...summary,
        coverage: { alreadyCovered: coverage.alreadyCovered, absent: coverage.absent, skipped: coverage.skipped },
      },
    };
  });
}

/** Sizes and allocates the sample from the count pass; idempotent, so a continued run may ask again. */
async function allocate(control: JobControl, input: SamplingJobInput): Promise<void> {
  control.beginPhase('Allocating sample');
  const { jobId, allocation, confidenceLevel, marginOfError, expectedRate, seed } = input;
  await database(control).allocateSample({ jobId, allocation, confidenceLevel, marginOfError, expectedRate, seed });
  // A continued run re-enters here: count the step once, in the run that first reached this phase.
  if (input.resumeAt?.pass !== 'select') control.skipSteps(1);
}

/** Runs one pass over `units`, one at a time (the throttle is per job); returns the units left for a continued run. */
async function scan(
  control: JobControl,
  input: SamplingJobInput,
  pass: ScanPass,
  units: ScanUnit[],
): Promise<ScanUnit[]> {
  control.beginPhase(pass === 'count' ? 'Counting strata' : 'Selecting by seeded priority');
  const { jobId, dataSourceId, strataColumns, neymanColumn, seed, chunkSize, scanRowsPerSecond } = input;
  return control.forEach(units, {
    concurrency: 1,
    label: (unit) => `rows ${unit.firstRowId}–${unit.lastRowId}`,
    weight: (unit) => unit.rows,
    work: async (unit) => {
      await scans(control).scanSamplingUnit({
        jobId,
        dataSourceId,
        strataColumns,
        neymanColumn,
        seed,
        chunkSize,
        scanRowsPerSecond,
        pass,
        unit,
      });
      return true;
    },
  });
}
