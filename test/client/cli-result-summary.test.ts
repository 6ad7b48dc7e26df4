// What `watch` ends with, on its own: each family's key figures read from its result, the duration, and the error
// of a failed job; a result the CLI does not know (a legacy job's) adds no figures rather than wrong ones.

import { formatDuration, outcomeSummary, resultFigures } from '../../client/cli/cli-result-summary';
import type { LegacyJobStatus } from '../../client/job-status';

const ended = (fields: Partial<LegacyJobStatus>): LegacyJobStatus =>
  ({
    job_id: 'job-1',
    job_type: 'data_profiling',
    status: 'completed',
    result: null,
    error: null,
    created_at: '2026-01-01T10:00:00.000Z',
    started_at: '2026-01-01T10:00:01.000Z',
    completed_at: '2026-01-01T10:02:06.000Z',
    updated_at: '2026-01-01T10:02:06.000Z',
    ...fields,
  }) as LegacyJobStatus;

it('gives profiling its attributes, rules and pass rate, with the duration', () => {
  const summary = outcomeSummary(
    ended({
      result: {
        attributesTotal: 3,
        attributesProfiled: 2,
        attributesFailed: 1,
        rulesGenerated: 9,
        rulesTotal: 9,
        rulesExecuted: 8,
        rowsChecked: 80_000,
        overallPassRate: 0.9731,
        passRateScope: '8 of 9 rules (1 could not run)',
      },
    }),
  );
  expect(summary).toBe(
    [
      'completed in 2 min 5 s · job job-1',
      '  attributes: 2 of 3 profiled, 1 failed',
      '  rules: 9 generated, 8 of 9 run over 80000 rows',
      '  pass rate: 97.3% (8 of 9 rules (1 could not run))',
    ].join('\n'),
  );
});

it('gives sampling its sample size, test execution its pass/fail, and the other families their counts', () => {
  expect(
    resultFigures('intelligent_sampling', {
      population: 10_000,
      sampleSize: { n: 370, confidenceLevel: 0.95, marginOfError: 0.05 },
      allocation: 'proportional',
      seed: 5,
      edgeCasesAdded: 4,
      sampleTotal: 374,
    }),
  ).toEqual([
    'sample: 374 records (n = 370 of population 10000, 4 edge cases added)',
    'confidence 0.95, margin of error 0.05, proportional allocation, seed 5',
  ]);
  expect(
    resultFigures('test_execution', {
      testCases: { tests: 10, pass: 7, fail: 2, error: 1 },
      passRate: 0.7,
      recordsUnderTest: 374,
    }),
  ).toEqual(['test cases: 10 (7 passed, 2 failed, 1 errored)', 'pass rate: 70% over 374 records']);
  expect(
    resultFigures('scoping_recommendations', {
      attributesTotal: 5,
      attributesAssessed: 5,
      attributesFailed: 0,
      inScope: 2,
      byRisk: { high: 2, medium: 1, low: 2 },
    }),
  ).toEqual(['attributes: 5 of 5 assessed, 0 failed', 'in scope: 2 · risk: 2 high, 1 medium, 2 low']);
  expect(resultFigures('pde_auto_mapping', { pdesTotal: 4, mapped: 3, failed: 1, skippedAccepted: 0 })).toEqual([
    'PDEs: 3 of 4 mapped, 1 failed, 0 already accepted',
  ]);
  // A figure the result lacks shows as `?`, not as a made-up number.
  expect(resultFigures('test_execution', { testCases: {} })).toEqual([
    'test cases: ? (? passed, ? failed, ? errored)',
    'pass rate: n/a over ? records',
  ]);
  expect(resultFigures('data_profiling', null)).toEqual([]);
  expect(resultFigures('some_legacy_type', { anything: 1 })).toEqual([]);
});

it('ends a failed job with its error, and a job that never started counts from its creation', () => {
  expect(
    outcomeSummary(
      ended({
        status: 'failed',
        started_at: null,
        completed_at: '2026-01-01T10:00:00.400Z',
        error: 'dataSourceId: the table was dropped',
      }),
    ),
  ).toBe('failed in 0.4 s · job job-1\n  error: dataSourceId: the table was dropped');
  expect(formatDuration(2 * 3_600_000 + 3 * 60_000)).toBe('2 h 3 min');
});
