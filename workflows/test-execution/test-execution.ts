// The test_execution job: test cases (rules) run in batches, each batch one scan of the records under test,
// results stored per test case; then the aggregate. A re-run executes only the test cases that failed or
// errored before and carries the passing ones over. Failing tests are findings: the job still completes.

import { ActivityFailure, continueAsNew, isCancellation } from '@temporalio/workflow';
import { RetryState } from '@temporalio/common';
import type { TestExecutionActivities } from '../../activities';
import type { TestCase } from '../../activities/test-execution/test-execution';
import type { TestExecutionSummary } from '../../activities/test-execution/test-execution-summary';
import type { JobInputBase, JobStart } from '../../common/jobs';
import { DATABASE_ACTIVITY, RULE_EXECUTION_ACTIVITY } from '../control/activity-options';
import { describeError, failureSummary, JobControl, type JobOutcome } from '../control/control';

const scans = (control: JobControl) => control.activities<TestExecutionActivities>(RULE_EXECUTION_ACTIVITY);
const database = (control: JobControl) => control.activities<TestExecutionActivities>(DATABASE_ACTIVITY);

/** What the test-execution workflow receives: everything resolved and validated by the client. */
export interface TestExecutionJobInput extends JobInputBase {
  dataSourceId: string;
  /** The sampling job whose records are under test; the whole data source when absent. */
  samplingJobId?: string;
  /** The test cases to execute (for a re-run: those that failed or errored in `rerunOfJobId`). */
  testCases: TestCase[];
  /** Test cases per activity, i.e. per scan. */
  batchSize: number;
  maxFailingIdsPerTest: number;
  rerunOfJobId?: string;
  /** On a continued run: the ids of the test cases not yet executed. */
  resumeAt?: { remaining: string[] };
}

type TestExecutionWorkflow = (input: TestExecutionJobInput) => Promise<TestExecutionSummary>;

/** Two scans at once keep a core busy while the other waits on I/O, without crowding the database. */
const CONCURRENT_BATCHES = 2;

/** `test_execution`: run every test case against the records under test and aggregate the outcome. */
export async function testExecution(start: JobStart<TestExecutionJobInput>): Promise<TestExecutionSummary> {
  const [control, input] = await JobControl.begin(start, (i) => i.testCases.length);
  return control.run(async () => {
    const { jobId, rerunOfJobId } = input;
    if (rerunOfJobId && !input.resumeAt) {
      control.beginPhase('Carrying over passing test cases');
      await database(control).carryOverPassedTests({ jobId, fromJobId: rerunOfJobId });
    }
    const remaining = input.resumeAt ? new Set(input.resumeAt.remaining) : undefined;
    const todo = remaining ? input.testCases.filter((t) => remaining.has(t.id)) : input.testCases;
    const left = await executeBatches(control, input, todo);
    if (left.length > 0) {
      return continueAsNew<TestExecutionWorkflow>({
        ...input,
        carried: await control.carryOver(),
        resumeAt: { remaining: left.map((t) => t.id) },
      });
    }
    control.beginPhase('Aggregating results');
    return outcomeOf(
      await database(control).summarizeTestExecution({
        jobId,
        rerunOfJobId,
        maxFailingIds: input.maxFailingIdsPerTest,
      }),
    );
  });
}

/** Runs `testCases` in batches; returns the test cases left for a continued run because the history is full. */
async function executeBatches(
  control: JobControl,
  input: TestExecutionJobInput,
  testCases: TestCase[],
): Promise<TestCase[]> {
  control.beginPhase('Executing test cases');
  const batches: TestCase[][] = [];
  for (let i = 0; i < testCases.length; i += input.batchSize) batches.push(testCases.slice(i, i + input.batchSize));
  const { jobId, dataSourceId, samplingJobId, maxFailingIdsPerTest: maxFailingIds } = input;
  const left = await control.forEach(batches, {
    concurrency: CONCURRENT_BATCHES,
    label: (batch) => (batch.length > 1 ? `${batch[0]!.id} and ${batch.length - 1} more` : batch[0]!.id),
    weight: (batch) => batch.length,
    work: async (batch) => {
      try {
        await scans(control).executeTestBatch({ jobId, dataSourceId, samplingJobId, testCases: batch, maxFailingIds });
        return true;
      } catch (error) {
        if (isCancellation(error)) throw error;
        // Retries are exhausted or the batch can never run: its test cases are errors, and the job goes on.
        await database(control).recordTestBatchFailure({
          jobId,
          testCases: batch,
          reason: describeError(error),
          attempts: attemptsOf(error),
        });
        return false;
      }
    },
  });
  return left.flat();
}

/** How many attempts a batch that failed for good had: all the policy allows, or one for a non-retryable error. */
function attemptsOf(error: unknown): number {
  const exhausted = error instanceof ActivityFailure && error.retryState === RetryState.MAXIMUM_ATTEMPTS_REACHED;
  return exhausted ? (RULE_EXECUTION_ACTIVITY.retry?.maximumAttempts ?? 1) : 1;
}

/** Completed whatever the tests found; failed only when not one test case could run. */
function outcomeOf(summary: TestExecutionSummary): JobOutcome<TestExecutionSummary> {
  const { tests, error: errored } = summary.testCases;
  return {
    status: tests > 0 && errored === tests ? 'failed' : 'completed',
    error: failureSummary(
      errored,
      tests,
      'test cases could not run',
      summary.errors.map((e) => `${e.testCaseId} (${e.reason})`),
    ),
    result: summary,
  };
}
