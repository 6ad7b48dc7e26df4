// Data-profiling side effects: ask the LLM for one attribute's validation rules and store them, run
// stored rules against the data source, and summarise a job from what the database holds.
// Writes are upserts keyed by job and item, and work already stored is never sent to the LLM again.

import { setMaxListeners } from 'node:events';
import { CancelledFailure, Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../common/failures';
import type { Insertable, Kysely, QueryCreator } from 'kysely';
import type { ProfilingJobResult } from '../../common/jobs';
import type { LlmCallContext } from '../../common/llm';
import type { AttributeDescriptor } from '../../common/rules';
import type { Database } from '../../db/database';
import type { RuleResultsTable } from './profiling-tables';
import { profileColumn, profileColumns, sampleableRowEstimate, type ColumnProfile } from './column-profile';
import { onDataSource } from '../data-sources/data-source-sql';
import { ScanQueue } from '../data-sources/scan-queue';
import { asDataSourceFailure } from '../data-sources/sql-errors';
import { sourceTable } from '../data-sources/data-sources';
import { completeStructured, type LlmDeps } from '../llm/llm';
import { VALIDATION_RULES_TASK, validationRulesPrompt } from './profiling-prompts';
import {
  countViolationsPerRule,
  invalidPatterns,
  isolatingRefusals,
  isRefused,
  type RuleToRun,
} from '../rules/rule-sql';
import { proposedRulesSchema, ruleProblem } from '../rules/rule-schema';

export interface ProfilingDeps {
  db: Kysely<Database>;
  llm: LlmDeps;
  ruleStatementTimeoutMs: number;
  profileSampleRows: number;
  /** Column-profile scans at once on this worker (PROFILE_CONCURRENCY); the others wait their turn (ScanQueue). */
  profileConcurrency: number;
}

export interface AttributeOutcome {
  attribute: string;
  status: 'completed' | 'failed';
  rulesCount: number;
  reason?: string;
  /** True when the result was already stored by an earlier attempt and the LLM was not asked again. */
  reused: boolean;
}

export interface RuleBatchOutcome {
  rulesExecuted: number;
  /** Rules the database refused for good (recorded with their reason and SQLSTATE); the rest of the batch still ran. */
  rulesNotRun: number;
}

/**
 * How long a data source's table and its row estimate are reused by the attributes profiled after the first: a job's
 * attributes share both, and two round trips fewer per attribute matter when 50 are in flight on a 2-core worker. The
 * estimate is PostgreSQL's own (ANALYZE's), itself only as fresh as the last analyse.
 */
const TABLE_FACTS_TTL_MS = 10_000;

export function createProfilingActivities({
  db,
  llm,
  ruleStatementTimeoutMs,
  profileSampleRows,
  profileConcurrency,
}: ProfilingDeps) {
  const profileScans = new ScanQueue(profileConcurrency);
  const tables = reusedFor(TABLE_FACTS_TTL_MS, (dataSourceId: string) => sourceTable(db, dataSourceId));
  const estimates = reusedFor(
    TABLE_FACTS_TTL_MS,
    async (table: string) => (await sampleableRowEstimate(db, table)) ?? null,
  );

  async function generateValidationRules(input: {
    jobId: string;
    dataSourceId: string;
    attribute: AttributeDescriptor;
    llm?: LlmCallContext;
  }): Promise<AttributeOutcome> {
    const { jobId, dataSourceId, attribute } = input;
    const stored = (await storedOutcomes(jobId, [attribute.name])).get(attribute.name);
    if (stored) return stored;
    logGenerating(jobId, [attribute.name]);
    const { table } = await tables(dataSourceId);
    const estimatedRows = await estimates(table);
    // The LLM activity's heartbeat timeout is 10 s; a profile of a large table or on a busy database can take longer.
    // A column the table lacks, or a type it cannot be read as, fails the attribute at once (DataSourceError).
    const profile = await onDataSource(
      db,
      {
        table,
        label: `column_profile:${jobId}:${attribute.name}`,
        details: () => ({ profiling: attribute.name }),
        queue: profileScans,
      },
      (conn) => profileColumn(conn, table, attribute, { sampleRows: profileSampleRows, estimatedRows }),
    );
    return askAndStore(input, attribute, profile);
  }

  /**
   * generateValidationRules for several attributes in one activity, their LLM calls concurrent (each still waits for
   * one of the job's slots): one activity, one stored-result check and one profiling connection for the lot, which is
   * most of an attribute's cost besides its call when 50 are in flight. An attribute that fails for good (a column the
   * table lacks, a request the provider refuses, the retry span spent) is recorded failed and the others go on; when
   * one can still succeed (the provider unavailable, the database gone) the activity fails after the rest are stored,
   * and its retry redoes that one alone. A pause before a call was sent (LlmCallDeferred) and a cancel also end it once
   * the calls under way are answered and stored, or aborted.
   */
  async function generateValidationRulesBatch(input: {
    jobId: string;
    dataSourceId: string;
    attributes: AttributeDescriptor[];
    llm: LlmCallContext;
  }): Promise<AttributeOutcome[]> {
    const { jobId, dataSourceId, attributes } = input;
    // Each call listens for the activity's cancel while it waits and while it is out: up to two listeners an attribute.
    setMaxListeners(10 + 2 * attributes.length, Context.current().cancellationSignal);
    const stored = await storedOutcomes(
      jobId,
      attributes.map((a) => a.name),
    );
    const todo = attributes.filter((a) => !stored.has(a.name));
    const outcomes = new Map(stored);
    if (todo.length > 0) {
      logGenerating(
        jobId,
        todo.map((a) => a.name),
      );
      const { table } = await tables(dataSourceId);
      const estimatedRows = await estimates(table);
      const failures: { attribute: string; reason: string }[] = [];
      const asked: AttributeDescriptor[] = [];
      const asking: Promise<AttributeOutcome>[] = [];
      // One connection profiles them all in one scan of the table, then their calls go out. When that scan fails for
      // good (a column the table lacks), the columns are profiled one after the other, each attribute's call going out
      // as soon as its profile is in, and such a column fails that attribute alone.
      await onDataSource(
        db,
        {
          table,
          label: `column_profile:${jobId}:${todo.length} attributes`,
          details: () => ({ profiling: todo.length }),
          queue: profileScans,
        },
        async (conn) => {
          const options = { sampleRows: profileSampleRows, estimatedRows };
          const together =
            todo.length > 1
              ? await profileColumns(conn, table, todo, options).catch((error: unknown) => {
                  const failure = asDataSourceFailure(error, table);
                  if (!isForGood(failure)) throw failure;
                  return undefined;
                })
              : undefined;
          for (const [i, attribute] of todo.entries()) {
            let profile: ColumnProfile;
            try {
              profile = together?.[i] ?? (await profileColumn(conn, table, attribute, options));
            } catch (error) {
              const failure = asDataSourceFailure(error, table);
              if (!isForGood(failure)) throw failure;
              failures.push({ attribute: attribute.name, reason: errorMessage(failure) });
              continue;
            }
            asked.push(attribute);
            // Settled below with the others; never left unobserved meanwhile.
            const answer = askAndStore(input, attribute, profile);
            answer.catch(() => undefined);
            asking.push(answer);
          }
        },
      ).catch(async (error: unknown) => {
        // The profiling connection failed: the calls already out finish (and store) before the activity fails.
        await Promise.allSettled(asking);
        throw error;
      });
      const settled = await Promise.allSettled(asking);
      let stop: unknown;
      settled.forEach((result, i) => {
        if (result.status === 'fulfilled') return outcomes.set(result.value.attribute, result.value);
        if (isForGood(result.reason) && !isDeferral(result.reason))
          return failures.push({ attribute: asked[i]!.name, reason: errorMessage(result.reason) });
        // A cancel first, then a pause, then whatever can still succeed on a retry.
        if (stop === undefined || rank(result.reason) < rank(stop)) stop = result.reason;
      });
      for (const failure of await recordFailures(jobId, failures)) outcomes.set(failure.attribute, failure);
      // Rethrown as it came (a CancelledFailure, LlmCallDeferred or a retryable failure), which Temporal knows how to read.
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- it is whatever one attribute's call threw
      if (stop !== undefined) throw stop;
    }
    return attributes.map((a) => outcomes.get(a.name)!);
  }

  /** Outcomes already stored for `names` (by an earlier attempt or run): those are never sent to the LLM again. */
  async function storedOutcomes(jobId: string, names: string[]): Promise<Map<string, AttributeOutcome>> {
    const rows = await db
      .selectFrom('attribute_results')
      .select(['attribute', 'status', 'rules_count', 'failure_reason'])
      .where('job_id', '=', jobId)
      .where('attribute', 'in', names)
      .execute();
    return new Map(
      rows.map((stored) => [
        stored.attribute,
        {
          attribute: stored.attribute,
          status: stored.status,
          rulesCount: stored.rules_count,
          reason: stored.failure_reason ?? undefined,
          reused: true,
        },
      ]),
    );
  }

  function logGenerating(jobId: string, attributes: string[]): void {
    log.info('generating validation rules', {
      jobId,
      ...(attributes.length === 1 ? { attribute: attributes[0] } : { attributes }),
      attempt: Context.current().info.attempt,
    });
  }

  /** Asks the LLM for one attribute's rules and stores them with its result. */
  async function askAndStore(
    input: { jobId: string; dataSourceId: string; llm?: LlmCallContext },
    attribute: AttributeDescriptor,
    profile: ColumnProfile,
  ): Promise<AttributeOutcome> {
    const { jobId, dataSourceId } = input;
    // Histories recorded before the call context existed carry none: such a job asks without the cache.
    const call = { ...(input.llm ?? { jobId, owner: 'unknown', priority: 3, useCache: false }), item: attribute.name };
    const answer = await completeStructured(
      llm,
      {
        ...validationRulesPrompt(dataSourceId, attribute, profile, llm.settings.maxPromptTokens),
        name: VALIDATION_RULES_TASK,
        schema: proposedRulesSchema,
      },
      call,
    );
    const usable = answer.ok ? answer.value.rules.filter((r) => ruleProblem(attribute, r.rule) === undefined) : [];
    const reason = answer.ok ? undefined : answer.reason;

    // The rules and the attribute's result in one statement (a data-modifying CTE is one atomic statement): one round
    // trip where a transaction took four, and the worker's CPU goes mostly to such round trips at 50 calls in flight.
    const resultRow = {
      job_id: jobId,
      attribute: attribute.name,
      status: answer.ok ? ('completed' as const) : ('failed' as const),
      rules_count: usable.length,
      failure_reason: reason ?? null,
      llm_attempts: answer.calls,
      prompt_tokens: answer.promptTokens,
      completion_tokens: answer.completionTokens,
    };
    const ruleRows = usable.map((r, ruleIndex) => ({
      job_id: jobId,
      attribute: attribute.name,
      rule_index: ruleIndex,
      rule: JSON.stringify(r.rule),
      description: r.description,
      severity: r.severity,
    }));
    // The CTE adds a `rules` table to the statement's scope; the insert below never reads it.
    const withRules =
      ruleRows.length === 0
        ? db
        : (db.with('rules', (w) =>
            w
              .insertInto('profiling_rules')
              .values(ruleRows)
              .onConflict((oc) =>
                oc.columns(['job_id', 'attribute', 'rule_index']).doUpdateSet((eb) => ({
                  rule: eb.ref('excluded.rule'),
                  description: eb.ref('excluded.description'),
                  severity: eb.ref('excluded.severity'),
                })),
              ),
          ) as unknown as QueryCreator<Database>);
    await withRules
      .insertInto('attribute_results')
      .values(resultRow)
      .onConflict((oc) => oc.columns(['job_id', 'attribute']).doNothing())
      .execute();
    return {
      attribute: attribute.name,
      status: answer.ok ? 'completed' : 'failed',
      rulesCount: usable.length,
      reason,
      reused: false,
    };
  }

  /** Records attributes failed for good inside a batch; returns their outcomes as stored (an earlier one stands). */
  async function recordFailures(
    jobId: string,
    failures: { attribute: string; reason: string }[],
  ): Promise<AttributeOutcome[]> {
    if (failures.length === 0) return [];
    await db
      .insertInto('attribute_results')
      .values(
        failures.map((f) => ({
          job_id: jobId,
          attribute: f.attribute,
          status: 'failed' as const,
          rules_count: 0,
          failure_reason: f.reason,
          llm_attempts: 0,
          prompt_tokens: 0,
          completion_tokens: 0,
        })),
      )
      .onConflict((oc) => oc.columns(['job_id', 'attribute']).doNothing())
      .execute();
    return [
      ...(
        await storedOutcomes(
          jobId,
          failures.map((f) => f.attribute),
        )
      ).values(),
    ].map((o) => ({ ...o, reused: false }));
  }

  /**
   * Records a batch whose activity failed for good (its retries spent): each attribute without a stored result is
   * recorded failed with `reason`. Returns the attributes that stand failed (those the batch stored as completed stay so).
   */
  async function recordAttributeFailures(input: {
    jobId: string;
    attributes: string[];
    reason: string;
  }): Promise<string[]> {
    const recorded = await recordFailures(
      input.jobId,
      input.attributes.map((attribute) => ({ attribute, reason: input.reason })),
    );
    return recorded.filter((o) => o.status === 'failed').map((o) => o.attribute);
  }

  /** Records an attribute whose activity failed for good (retries exhausted or a non-retryable error). */
  async function recordAttributeFailure(input: { jobId: string; attribute: string; reason: string }): Promise<void> {
    await db
      .insertInto('attribute_results')
      .values({
        job_id: input.jobId,
        attribute: input.attribute,
        status: 'failed',
        rules_count: 0,
        failure_reason: input.reason,
        llm_attempts: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
      })
      .onConflict((oc) => oc.columns(['job_id', 'attribute']).doNothing())
      .execute();
  }

  /**
   * Runs a batch's stored rules in one scan (and one grouping per `unique` rule). A rule the database refuses for good (a
   * column whose stored type has no such operator, a date that does not exist, a regex PostgreSQL rejects)
   * is isolated and stored as not run with its reason and SQLSTATE, and the batch's other rules still run.
   * Results are written once at the end, so a batch interrupted by cancel or pause-now leaves nothing behind.
   */
  async function executeRules(input: {
    jobId: string;
    rulesJobId: string;
    dataSourceId: string;
    attributes: AttributeDescriptor[];
  }): Promise<RuleBatchOutcome> {
    const rules = await storedRulesOf(input.rulesJobId, input.attributes);
    if (rules.length === 0) return { rulesExecuted: 0, rulesNotRun: 0 };

    const { table } = await sourceTable(db, input.dataSourceId);
    const patternProblems = await invalidPatterns(db, rules);
    const runnable = rules.filter((r) => r.rule.kind !== 'pattern' || !patternProblems.has(r.rule.regex));
    const label = `rule_execution:${input.jobId}:${Context.current().info.attempt}`;
    const results = await onDataSource(db, { table, label, details: () => ({ scanning: runnable.length }) }, (conn) =>
      isolatingRefusals(
        runnable,
        async (part) => {
          const scan = await countViolationsPerRule(conn, table, part, ruleStatementTimeoutMs);
          return scan.counts.map((c) => ({ checkedRows: scan.checkedRows, failedRows: c.failedRows }));
        },
        table,
      ),
    );
    const resultOf = new Map(runnable.map((r, i) => [r, results[i]!]));
    const rows = rules.map((r) => {
      const key = {
        job_id: input.jobId,
        rules_job_id: input.rulesJobId,
        attribute: r.attribute.name,
        rule_index: r.ruleIndex,
      };
      // A rule not scanned is one whose regex PostgreSQL refused up front.
      const outcome = resultOf.get(r) ?? { refused: patternProblems.get((r.rule as { regex: string }).regex)! };
      if (isRefused(outcome))
        return {
          ...key,
          checked_rows: 0,
          failed_rows: 0,
          pass_rate: null,
          error: outcome.refused.reason,
          sqlstate: outcome.refused.sqlstate,
        };
      const { checkedRows, failedRows } = outcome;
      return {
        ...key,
        checked_rows: checkedRows,
        failed_rows: failedRows,
        pass_rate: checkedRows === 0 ? null : 1 - failedRows / checkedRows,
        error: null,
        sqlstate: null,
      };
    });
    await storeRuleResults(rows);
    const notRun = rows.filter((r) => r.error !== null).length;
    return { rulesExecuted: rows.length - notRun, rulesNotRun: notRun };
  }

  async function storedRulesOf(rulesJobId: string, attributes: AttributeDescriptor[]): Promise<RuleToRun[]> {
    const byName = new Map(attributes.map((a) => [a.name, a]));
    if (byName.size === 0) return [];
    const stored = await db
      .selectFrom('profiling_rules')
      .select(['attribute', 'rule_index', 'rule'])
      .where('job_id', '=', rulesJobId)
      .where('attribute', 'in', [...byName.keys()])
      .execute();
    return stored.map((r) => ({ attribute: byName.get(r.attribute)!, ruleIndex: r.rule_index, rule: r.rule }));
  }

  async function storeRuleResults(rows: Insertable<RuleResultsTable>[], overwrite = true): Promise<void> {
    if (rows.length === 0) return;
    await db
      .insertInto('rule_results')
      .values(rows)
      .onConflict((oc) => {
        const key = oc.columns(['job_id', 'attribute', 'rule_index']);
        if (!overwrite) return key.doNothing();
        return key.doUpdateSet((eb) => ({
          checked_rows: eb.ref('excluded.checked_rows'),
          failed_rows: eb.ref('excluded.failed_rows'),
          pass_rate: eb.ref('excluded.pass_rate'),
          error: eb.ref('excluded.error'),
          sqlstate: eb.ref('excluded.sqlstate'),
          executed_at: new Date(),
        }));
      })
      .execute();
  }

  /**
   * Records the rules of a batch whose activity failed for good (retries exhausted, or it could never run) as
   * rules that did not run, with the reason, so the job's result counts them instead of forgetting them.
   */
  async function recordRuleBatchFailure(input: {
    jobId: string;
    rulesJobId: string;
    attributes: AttributeDescriptor[];
    reason: string;
    sqlstate: string | null;
  }): Promise<void> {
    const rules = await storedRulesOf(input.rulesJobId, input.attributes);
    const row = (r: RuleToRun) => ({
      job_id: input.jobId,
      rules_job_id: input.rulesJobId,
      attribute: r.attribute.name,
      rule_index: r.ruleIndex,
      checked_rows: 0,
      failed_rows: 0,
      pass_rate: null,
      error: input.reason,
      sqlstate: input.sqlstate,
    });
    await storeRuleResults(rules.map(row), false);
  }

  async function summarizeProfiling(input: {
    jobId: string;
    rulesJobId: string;
    attributesTotal: number;
  }): Promise<ProfilingJobResult> {
    const attributes = await db
      .selectFrom('attribute_results')
      .select(['attribute', 'status', 'rules_count', 'failure_reason'])
      .where('job_id', '=', input.rulesJobId)
      .orderBy('attribute')
      .execute();
    const rules = await db
      .selectFrom('rule_results as rr')
      .leftJoin('profiling_rules as pr', (join) =>
        join
          .onRef('pr.job_id', '=', 'rr.rules_job_id')
          .onRef('pr.attribute', '=', 'rr.attribute')
          .onRef('pr.rule_index', '=', 'rr.rule_index'),
      )
      .select([
        'rr.attribute',
        'rr.rule_index',
        'rr.checked_rows',
        'rr.failed_rows',
        'rr.error',
        'rr.sqlstate',
        'pr.rule',
      ])
      .where('rr.job_id', '=', input.jobId)
      .orderBy('rr.attribute')
      .orderBy('rr.rule_index')
      .execute();
    const ran = rules.filter((r) => r.error === null);
    const notRun = rules.filter((r) => r.error !== null);
    const checked = ran.reduce((sum, r) => sum + Number(r.checked_rows), 0);
    const failedRows = ran.reduce((sum, r) => sum + Number(r.failed_rows), 0);
    const generationFailures = attributes
      .filter((a) => a.status === 'failed')
      .map((a) => ({ attribute: a.attribute, reason: a.failure_reason ?? 'unknown' }));
    const executionFailures = [...new Set(notRun.map((r) => r.attribute))].map((attribute) => {
      const own = rules.filter((r) => r.attribute === attribute);
      const missed = own.filter((r) => r.error !== null);
      const first = missed[0]!;
      const kind = (first.rule as { kind?: string } | null)?.kind ?? 'unknown';
      const which = `rule ${first.rule_index} (${kind})`;
      if (missed.length === 1) return { attribute, reason: `${which} could not run: ${first.error}` };
      return {
        attribute,
        reason:
          missed.length === own.length
            ? `none of its ${own.length} rules could run, ${which}: ${first.error}`
            : `${missed.length} of ${own.length} rules could not run, first ${which}: ${first.error}`,
      };
    });
    const failedAttributes = [...generationFailures, ...executionFailures].sort((a, b) =>
      a.attribute < b.attribute ? -1 : a.attribute > b.attribute ? 1 : 0,
    );
    return {
      attributesTotal: input.attributesTotal,
      attributesProfiled: attributes.length - failedAttributes.length,
      attributesFailed: failedAttributes.length,
      rulesGenerated: attributes.reduce((sum, a) => sum + a.rules_count, 0),
      rulesTotal: rules.length,
      rulesExecuted: ran.length,
      rulesNotRun: notRun.map((r) => ({
        attribute: r.attribute,
        ruleIndex: r.rule_index,
        reason: r.error!,
        sqlstate: r.sqlstate,
      })),
      rowsChecked: checked,
      overallPassRate: checked > 0 ? 1 - failedRows / checked : null,
      passRateScope:
        rules.length === 0
          ? 'no rules run'
          : `${ran.length} of ${rules.length} rules${notRun.length > 0 ? ` (${notRun.length} could not run)` : ''}`,
      failedAttributes,
    };
  }

  return {
    generateValidationRules,
    generateValidationRulesBatch,
    recordAttributeFailure,
    recordAttributeFailures,
    executeRules,
    recordRuleBatchFailure,
    summarizeProfiling,
  };
}

/**
 * `look` memoised per key for `ttlMs`: callers within that time share one lookup (a failed one is not kept, so the
 * next caller asks again).
 */
function reusedFor<K, V>(ttlMs: number, look: (key: K) => Promise<V>): (key: K) => Promise<V> {
  const kept = new Map<K, { value: Promise<V>; until: number }>();
  return (key) => {
    const now = Date.now();
    const hit = kept.get(key);
    if (hit && hit.until > now) return hit.value;
    const value = look(key);
    kept.set(key, { value, until: now + ttlMs });
    value.catch(() => kept.delete(key));
    return value;
  };
}

/** Failure types LLM_ACTIVITY never retries (workflows/control/activity-options.ts), besides non-retryable failures. */
const NEVER_RETRIED: readonly string[] = [
  FailureType.LlmRejectedRequest,
  FailureType.InvalidJobInput,
  FailureType.DataSourceError,
];

/** True when retrying the activity could not make this attribute succeed. */
function isForGood(error: unknown): boolean {
  return error instanceof ApplicationFailure && (error.nonRetryable || NEVER_RETRIED.includes(error.type ?? ''));
}

function isDeferral(error: unknown): boolean {
  return error instanceof ApplicationFailure && error.type === FailureType.LlmCallDeferred;
}

/** Which of a batch's failures ends its activity: a cancel before a pause before what a retry may cure. */
function rank(error: unknown): number {
  if (error instanceof CancelledFailure || Context.current().cancellationSignal.aborted) return 0;
  return isDeferral(error) ? 1 : 2;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
