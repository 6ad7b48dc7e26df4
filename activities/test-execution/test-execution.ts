// test_execution side effects: evaluate a batch of test cases (rules) over the records under test in one
// scan and store each result once, record a batch that failed for good, and carry a re-run's passing
// results over. Transient database errors are thrown for Temporal to retry; a rule the database refuses for
// good (activities/data-sources/sql-errors.ts) is its test case's `error`, never the batch's.

import { Context, log } from '@temporalio/activity';
import type { Insertable, Kysely } from 'kysely';
import type { AttributeDescriptor, ValidationRule } from '../../common/rules';
import type { Database } from '../../db/database';
import type { TestCaseResultsTable } from './test-execution-tables';
import { onDataSource } from '../data-sources/data-source-sql';
import { sourceTable } from '../data-sources/data-sources';
import {
  findViolationsInOneScan,
  invalidPatterns,
  isolatingRefusals,
  isRefused,
  type RecordScope,
  type RuleFindings,
  type RuleToRun,
} from '../rules/rule-sql';

/** One rule checked against the records under test. */
export interface TestCase {
  /** `<attribute>#<ruleIndex>` for a profiling job's rule, `<attribute>#check<n>` for the request's n-th check. */
  id: string;
  attribute: string;
  description: string;
  rule: ValidationRule;
}

export interface TestBatchRequest {
  jobId: string;
  dataSourceId: string;
  /** The sampling job whose records are under test; the whole data source when absent. */
  samplingJobId?: string;
  testCases: TestCase[];
  maxFailingIds: number;
}

export interface TestBatchOutcome {
  /** Test cases evaluated by this attempt. */
  executed: number;
  /** Test cases an earlier attempt had already stored, not evaluated again. */
  reused: number;
}

type ResultRow = Insertable<TestCaseResultsTable>;

type Evaluation = (RuleFindings & { checkedRecords: number }) | { error: string };

export function createTestExecutionActivities(db: Kysely<Database>, statementTimeoutMs: number) {
  async function recordScopeOf(
    input: TestBatchRequest,
  ): Promise<{ scope: RecordScope; catalogue: Map<string, AttributeDescriptor> }> {
    const { table, recordId } = await sourceTable(db, input.dataSourceId);
    const attributes = await db
      .selectFrom('data_source_attributes')
      .select(['name', 'data_type', 'description'])
      .where('data_source_id', '=', input.dataSourceId)
      .execute();
    const catalogue = new Map(
      attributes.map((a) => [
        a.name,
        { name: a.name, dataType: a.data_type as AttributeDescriptor['dataType'], description: a.description },
      ]),
    );
    return { scope: { table, recordIdColumn: recordId, sampleJobId: input.samplingJobId }, catalogue };
  }

  /** Evaluates `rules` in one scan; when the database refuses it for good, isolates the rules it refuses. */
  async function evaluate(
    conn: Kysely<Database>,
    scope: RecordScope,
    rules: RuleToRun[],
    maxFailingIds: number,
  ): Promise<Evaluation[]> {
    const results = await isolatingRefusals(
      rules,
      async (part) => {
        const scan = await findViolationsInOneScan(conn, scope, part, { statementTimeoutMs, maxFailingIds });
        return scan.findings.map((f) => ({ ...f, checkedRecords: scan.checkedRecords }));
      },
      scope.table,
    );
    return results.map((r) => (isRefused(r) ? { error: `cannot run: ${r.refused.reason}` } : r));
  }

  /** Evaluates the batch's test cases not stored yet and stores their results (first write wins). */
  async function executeTestBatch(input: TestBatchRequest): Promise<TestBatchOutcome> {
    const ctx = Context.current();
    const ids = input.testCases.map((t) => t.id);
    const stored = new Set(
      (
        await db
          .selectFrom('test_case_results')
          .select('test_case_id')
          .where('job_id', '=', input.jobId)
          .where('test_case_id', 'in', ids)
          .execute()
      ).map((r) => r.test_case_id),
    );
    const todo = input.testCases.filter((t) => !stored.has(t.id));
    if (todo.length === 0) return { executed: 0, reused: stored.size };

    const { scope, catalogue } = await recordScopeOf(input);
    const attempt = ctx.info.attempt;
    const rows: ResultRow[] = [];
    // Identifiers reach SQL only from the catalogue: a test case naming anything else cannot run.
    const known = todo.filter((t) => catalogue.has(t.attribute));
    for (const t of todo)
      if (!catalogue.has(t.attribute))
        rows.push(
          errorRow(
            input.jobId,
            t,
            `attribute ${t.attribute} is not in the catalogue of ${input.dataSourceId}`,
            attempt,
          ),
        );
    const candidates: RuleToRun[] = known.map((t, i) => ({
      attribute: catalogue.get(t.attribute)!,
      ruleIndex: i,
      rule: t.rule,
    }));
    const badPatterns = await invalidPatterns(db, candidates);
    const problemOf = (r: RuleToRun) => (r.rule.kind === 'pattern' ? badPatterns.get(r.rule.regex) : undefined);
    const runnable = candidates.filter((r) => !problemOf(r));
    for (const r of candidates)
      if (problemOf(r)) rows.push(errorRow(input.jobId, known[r.ruleIndex]!, problemOf(r)!.reason, attempt));

    log.info('executing test cases', { jobId: input.jobId, testCases: runnable.length, attempt });
    // The label lets pg_stat_activity show which job's attempt is scanning.
    const label = `test_execution:${input.jobId}:${attempt}`;
    const evaluations = await onDataSource(
      db,
      { table: scope.table, label, details: () => ({ scanning: runnable.length }) },
      (conn) => evaluate(conn, scope, runnable, input.maxFailingIds),
    );
    runnable.forEach((r, i) => rows.push(resultRow(input.jobId, known[r.ruleIndex]!, evaluations[i]!, attempt)));
    await db
      .insertInto('test_case_results')
      .values(rows)
      .onConflict((oc) => oc.columns(['job_id', 'test_case_id']).doNothing())
      .execute();
    return { executed: todo.length, reused: stored.size };
  }

  /** Records the test cases of a batch whose activity failed for good (retries exhausted or bad input). */
  async function recordTestBatchFailure(input: {
    jobId: string;
    testCases: TestCase[];
    reason: string;
    attempts: number;
  }): Promise<void> {
    const rows = input.testCases.map((t) => errorRow(input.jobId, t, input.reason, input.attempts));
    if (rows.length)
      await db
        .insertInto('test_case_results')
        .values(rows)
        .onConflict((oc) => oc.columns(['job_id', 'test_case_id']).doNothing())
        .execute();
  }

  /** A re-run keeps the earlier job's passing results as they were (not executed again); returns how many. */
  async function carryOverPassedTests(input: { jobId: string; fromJobId: string }): Promise<number> {
    await db
      .insertInto('test_case_results')
      .columns([
        'job_id',
        'test_case_id',
        'attribute',
        'description',
        'rule',
        'status',
        'checked_records',
        'failed_records',
        'failing_record_ids',
        'error',
        'attempts',
        'executed_at',
        'carried_over_from',
      ])
      .expression((eb) =>
        eb
          .selectFrom('test_case_results')
          .select((s) => [
            s.val(input.jobId).as('job_id'),
            'test_case_id',
            'attribute',
            'description',
            'rule',
            'status',
            'checked_records',
            'failed_records',
            'failing_record_ids',
            'error',
            s.lit(0).as('attempts'),
            'executed_at',
            // A result carried over twice still names the job that executed it.
            s.fn.coalesce('carried_over_from', s.val(input.fromJobId)).as('carried_over_from'),
          ])
          .where('job_id', '=', input.fromJobId)
          .where('status', '=', 'pass'),
      )
      .onConflict((oc) => oc.columns(['job_id', 'test_case_id']).doNothing())
      .execute();
    const { n } = await db
      .selectFrom('test_case_results')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('job_id', '=', input.jobId)
      .where('carried_over_from', 'is not', null)
      .executeTakeFirstOrThrow();
    return Number(n);
  }

  return { executeTestBatch, recordTestBatchFailure, carryOverPassedTests };
}

function errorRow(jobId: string, t: TestCase, reason: string, attempts: number): ResultRow {
  return {
    job_id: jobId,
    test_case_id: t.id,
    attribute: t.attribute,
    description: t.description,
    rule: JSON.stringify(t.rule),
    status: 'error',
    checked_records: 0,
    failed_records: 0,
    failing_record_ids: [],
    error: reason,
    attempts,
    carried_over_from: null,
  };
}

function resultRow(jobId: string, t: TestCase, evaluation: Evaluation, attempts: number): ResultRow {
  if ('error' in evaluation) return errorRow(jobId, t, evaluation.error, attempts);
  const { checkedRecords, failedRecords, failingRecordIds } = evaluation;
  return {
    ...errorRow(jobId, t, '', attempts),
    status: failedRecords === 0 ? 'pass' : 'fail',
    checked_records: checkedRecords,
    failed_records: failedRecords,
    failing_record_ids: failingRecordIds,
    error: null,
  };
}
