// The few lines `watch` ends with: the job's final state and how long it took, its family's key figures read from
// the result the workflow returned (profiling's attributes, rules and pass rate; sampling's sample size; test
// execution's pass/fail; scoping's risk; planning's counts), and the error of a job that failed.

import { JobType } from '../../common/jobs';
import type { LegacyJobStatus } from '../job-status';

type Fields = Record<string, unknown>;

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
/** A figure as printed: `?` where the result lacks it. */
const num = (value: unknown) => (isNumber(value) ? String(value) : '?');
const obj = (value: unknown): Fields => (value && typeof value === 'object' ? (value as Fields) : {});
const percent = (rate: unknown) => (isNumber(rate) ? `${(Math.round(rate * 1_000) / 10).toString()}%` : 'n/a');

/** `12.3 s`, `4 min 5 s`, `2 h 3 min`. */
export function formatDuration(ms: number): string {
  const s = ms / 1_000;
  if (s < 60) return `${(Math.round(s * 10) / 10).toString()} s`;
  if (s < 3_600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3_600)} h ${Math.round((s % 3_600) / 60)} min`;
}

/** From start (or creation, for a job that never started) to completion (or the last update). */
export function durationMs(status: LegacyJobStatus): number | undefined {
  const from = Date.parse(status.started_at ?? status.created_at);
  const to = Date.parse(status.completed_at ?? status.updated_at);
  return Number.isNaN(from) || Number.isNaN(to) ? undefined : Math.max(0, to - from);
}

/** The family's key figures, one line each; empty when the result is not one this CLI knows (e.g. a legacy job's). */
export function resultFigures(jobType: string, result: unknown): string[] {
  const r = obj(result);
  if (Object.keys(r).length === 0) return [];
  switch (jobType) {
    case JobType.DataProfiling:
    case JobType.DataProfilingLlmGeneration:
    case JobType.DataProfilingRuleExecution:
      return [
        `attributes: ${num(r.attributesProfiled)} of ${num(r.attributesTotal)} profiled, ${num(r.attributesFailed)} failed`,
        `rules: ${num(r.rulesGenerated)} generated, ${num(r.rulesExecuted)} of ${num(r.rulesTotal)} run over ${num(r.rowsChecked)} rows`,
        `pass rate: ${percent(r.overallPassRate)}${typeof r.passRateScope === 'string' ? ` (${r.passRateScope})` : ''}`,
      ];
    case JobType.IntelligentSampling: {
      const size = obj(r.sampleSize);
      return [
        `sample: ${num(r.sampleTotal)} records (n = ${num(size.n)} of population ${num(r.population)}, ${num(r.edgeCasesAdded)} edge cases added)`,
        `confidence ${num(size.confidenceLevel)}, margin of error ${num(size.marginOfError)}, ${String(r.allocation)} allocation, seed ${num(r.seed)}`,
      ];
    }
    case JobType.TestExecution: {
      const cases = obj(r.testCases);
      return [
        `test cases: ${num(cases.tests)} (${num(cases.pass)} passed, ${num(cases.fail)} failed, ${num(cases.error)} errored)`,
        `pass rate: ${percent(r.passRate)} over ${num(r.recordsUnderTest)} records`,
      ];
    }
    case JobType.ScopingRecommendations:
    case JobType.GenerateScopingRecommendations: {
      const risk = Object.entries(obj(r.byRisk))
        .map(([level, n]) => `${String(n)} ${level}`)
        .join(', ');
      return [
        `attributes: ${num(r.attributesAssessed)} of ${num(r.attributesTotal)} assessed, ${num(r.attributesFailed)} failed`,
        `in scope: ${num(r.inScope)}${risk ? ` · risk: ${risk}` : ''}`,
      ];
    }
    case JobType.LlmAttributeGeneration:
      return [
        `chunks: ${num(r.chunks)} (${num(r.chunksFailed)} failed) · ${num(r.candidates)} candidates → ${num(r.attributes)} attributes (${num(r.duplicatesMerged)} duplicates merged)`,
      ];
    case JobType.PdeAutoMapping:
    case JobType.PdeRegeneration:
      return [
        `PDEs: ${num(r.mapped)} of ${num(r.pdesTotal)} mapped, ${num(r.failed)} failed, ${num(r.skippedAccepted)} already accepted`,
      ];
    default:
      return [];
  }
}

/** What `watch` prints once the job has ended. */
export function outcomeSummary(status: LegacyJobStatus): string {
  const took = durationMs(status);
  const lines = [`${status.status}${took === undefined ? '' : ` in ${formatDuration(took)}`} · job ${status.job_id}`];
  lines.push(...resultFigures(status.job_type, status.result).map((line) => `  ${line}`));
  if (status.error) lines.push(`  error: ${status.error}`);
  return lines.join('\n');
}
