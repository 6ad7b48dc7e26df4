// The aggregate of a test_execution job, computed from what test_case_results holds: totals and pass rate,
// per attribute and per test pass/fail/error with the lowest failing record ids, errors with their reasons.

import type { Kysely } from 'kysely';
import type { Database } from '../../db/database';

export interface TestOutcomeCounts {
  tests: number;
  pass: number;
  fail: number;
  error: number;
}

export interface TestExecutionSummary {
  testCases: TestOutcomeCounts & { executed: number; carriedOver: number };
  /** Passing test cases over all of them (an errored test case has not passed); null without test cases. */
  passRate: number | null;
  /** Records each executed test case was checked against (the sample, or the whole data source). */
  recordsUnderTest: number;
  /** For a re-run: whose passing results were carried over, not executed again. */
  carriedOver: { fromJobId: string; testCases: number; note: string } | null;
  byAttribute: (TestOutcomeCounts & { attribute: string; failingRecordIds: number[] })[];
  byTest: {
    testCaseId: string;
    attribute: string;
    description: string;
    status: 'pass' | 'fail' | 'error';
    checkedRecords: number;
    failedRecords: number;
    failingRecordIds: number[];
    attempts: number;
    /** False for a result carried over from an earlier job. */
    executed: boolean;
  }[];
  errors: { testCaseId: string; attribute: string; reason: string }[];
}

export function createTestExecutionSummaryActivities(db: Kysely<Database>) {
  /** `maxFailingIds` bounds each attribute's ids: the lowest records failing any of its tests. */
  async function summarizeTestExecution(input: {
    jobId: string;
    rerunOfJobId?: string;
    maxFailingIds: number;
  }): Promise<TestExecutionSummary> {
    const rows = await db
      .selectFrom('test_case_results')
      .selectAll()
      .where('job_id', '=', input.jobId)
      .orderBy('attribute')
      .orderBy('test_case_id')
      .execute();
    const byTest = rows.map((r) => ({
      testCaseId: r.test_case_id,
      attribute: r.attribute,
      description: r.description,
      status: r.status,
      checkedRecords: r.checked_records,
      failedRecords: r.failed_records,
      failingRecordIds: r.failing_record_ids.map(Number),
      attempts: r.attempts,
      executed: r.carried_over_from === null,
    }));
    const totals = countOutcomes(byTest);
    const carried = byTest.filter((t) => !t.executed).length;
    return {
      testCases: { ...totals, executed: byTest.length - carried, carriedOver: carried },
      passRate: totals.tests > 0 ? totals.pass / totals.tests : null,
      recordsUnderTest: Math.max(
        0,
        ...byTest.filter((t) => t.executed && t.status !== 'error').map((t) => t.checkedRecords),
      ),
      carriedOver: input.rerunOfJobId
        ? {
            fromJobId: input.rerunOfJobId,
            testCases: carried,
            note: `${carried} passing test cases of job ${input.rerunOfJobId} carried over as they were, not re-executed`,
          }
        : null,
      byAttribute: perAttribute(byTest, input.maxFailingIds),
      byTest,
      errors: rows
        .filter((r) => r.status === 'error')
        .map((r) => ({ testCaseId: r.test_case_id, attribute: r.attribute, reason: r.error ?? 'unknown' })),
    };
  }

  return { summarizeTestExecution };
}

function countOutcomes(tests: readonly { status: 'pass' | 'fail' | 'error' }[]): TestOutcomeCounts {
  const counts: TestOutcomeCounts = { tests: tests.length, pass: 0, fail: 0, error: 0 };
  for (const t of tests) counts[t.status]++;
  return counts;
}

/**
 * Each test stores its lowest failing ids, so the lowest ids of their union are exactly the attribute's
 * lowest records failing any of its tests.
 */
function perAttribute(
  tests: TestExecutionSummary['byTest'],
  maxFailingIds: number,
): TestExecutionSummary['byAttribute'] {
  const groups = new Map<string, TestExecutionSummary['byTest']>();
  for (const t of tests) groups.set(t.attribute, [...(groups.get(t.attribute) ?? []), t]);
  return [...groups].map(([attribute, group]) => ({
    attribute,
    ...countOutcomes(group),
    failingRecordIds: [...new Set(group.flatMap((t) => t.failingRecordIds))]
      .sort((a, b) => a - b)
      .slice(0, maxFailingIds),
  }));
}
