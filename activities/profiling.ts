// Data-profiling side effects: ask the LLM for one attribute's validation rules and store them, run
// stored rules against the data source, and summarise a job from what the database holds.
// Writes are upserts keyed by job and item, and work already stored is never sent to the LLM again.

import { Context, log } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import type { ProfilingJobResult } from '../common/jobs';
import type { LlmCallContext } from '../common/llm';
import type { AttributeDescriptor, ValidationRule } from '../common/rules';
import type { Database } from '../db/database';
import { profileColumn } from './column-profile';
import { onDataSource } from './data-source-sql';
import { sourceTable } from './data-sources';
import { completeStructured, type LlmDeps } from './llm';
import { validationRulesPrompt } from './prompts';
import { countViolationsPerRule, invalidPatterns, type RuleToRun } from './rule-sql';
import { proposedRulesSchema, ruleProblem } from './rule-schema';

export interface ProfilingDeps {
  db: Kysely<Database>;
  llm: LlmDeps;
  ruleStatementTimeoutMs: number;
  profileSampleRows: number;
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
  rulesErrored: number;
  checkedRows: number;
}

export function createProfilingActivities({ db, llm, ruleStatementTimeoutMs, profileSampleRows }: ProfilingDeps) {
  async function generateValidationRules(input: { jobId: string; dataSourceId: string; attribute: AttributeDescriptor; llm?: LlmCallContext }): Promise<AttributeOutcome> {
    const { jobId, dataSourceId, attribute } = input;
    // Histories recorded before the call context existed carry none: such a job asks without the cache.
    const call = { ...(input.llm ?? { jobId, owner: 'unknown', priority: 3, useCache: false }), item: attribute.name };
    const stored = await db.selectFrom('attribute_results').selectAll().where('job_id', '=', jobId).where('attribute', '=', attribute.name).executeTakeFirst();
    if (stored) {
      return { attribute: attribute.name, status: stored.status, rulesCount: stored.rules_count, reason: stored.failure_reason ?? undefined, reused: true };
    }

    log.info('generating validation rules', { jobId, attribute: attribute.name, attempt: Context.current().info.attempt });
    const { table } = await sourceTable(db, dataSourceId);
    // The LLM activity's heartbeat timeout is 10 s; a profile of a large table or on a busy database can take longer.
    const profile = await onDataSource(db, { table, label: `column_profile:${jobId}:${attribute.name}`, details: () => ({ profiling: attribute.name }) }, (conn) =>
      profileColumn(conn, table, attribute, { sampleRows: profileSampleRows }),
    );
    const answer = await completeStructured(llm, { ...validationRulesPrompt(dataSourceId, attribute, profile), schema: proposedRulesSchema }, call);
    const usable = answer.ok ? answer.value.rules.filter((r) => ruleProblem(attribute, r.rule) === undefined) : [];
    const reason = answer.ok ? undefined : answer.reason;

    await db.transaction().execute(async (trx) => {
      if (usable.length > 0) {
        await trx
          .insertInto('profiling_rules')
          .values(usable.map((r, ruleIndex) => ({ job_id: jobId, attribute: attribute.name, rule_index: ruleIndex, rule: JSON.stringify(r.rule), description: r.description, severity: r.severity })))
          .onConflict((oc) => oc.columns(['job_id', 'attribute', 'rule_index']).doUpdateSet((eb) => ({ rule: eb.ref('excluded.rule'), description: eb.ref('excluded.description'), severity: eb.ref('excluded.severity') })))
          .execute();
      }
      await trx
        .insertInto('attribute_results')
        .values({ job_id: jobId, attribute: attribute.name, status: answer.ok ? 'completed' : 'failed', rules_count: usable.length, failure_reason: reason ?? null, llm_attempts: answer.calls, prompt_tokens: answer.promptTokens, completion_tokens: answer.completionTokens })
        .onConflict((oc) => oc.columns(['job_id', 'attribute']).doNothing())
        .execute();
    });
    return { attribute: attribute.name, status: answer.ok ? 'completed' : 'failed', rulesCount: usable.length, reason, reused: false };
  }

  /** Records an attribute whose activity failed for good (retries exhausted or a non-retryable error). */
  async function recordAttributeFailure(input: { jobId: string; attribute: string; reason: string }): Promise<void> {
    await db
      .insertInto('attribute_results')
      .values({ job_id: input.jobId, attribute: input.attribute, status: 'failed', rules_count: 0, failure_reason: input.reason, llm_attempts: 0, prompt_tokens: 0, completion_tokens: 0 })
      .onConflict((oc) => oc.columns(['job_id', 'attribute']).doNothing())
      .execute();
  }

  async function executeRules(input: { jobId: string; rulesJobId: string; dataSourceId: string; attributes: AttributeDescriptor[] }): Promise<RuleBatchOutcome> {
    const byName = new Map(input.attributes.map((a) => [a.name, a]));
    const storedRules = await db
      .selectFrom('profiling_rules')
      .select(['attribute', 'rule_index', 'rule'])
      .where('job_id', '=', input.rulesJobId)
      .where('attribute', 'in', [...byName.keys()])
      .execute();
    const rules: RuleToRun[] = storedRules.map((r) => ({ attribute: byName.get(r.attribute)!, ruleIndex: r.rule_index, rule: r.rule as unknown as ValidationRule }));
    if (rules.length === 0) return { rulesExecuted: 0, rulesErrored: 0, checkedRows: 0 };

    const patternProblems = await invalidPatterns(db, rules);
    const runnable = rules.filter((r) => r.rule.kind !== 'pattern' || !patternProblems.has(r.rule.regex));
    const { table } = await sourceTable(db, input.dataSourceId);
    const scan = await onDataSource(db, { table, label: `rule_execution:${input.jobId}:${Context.current().info.attempt}`, details: () => ({ scanning: runnable.length }) }, (conn) =>
      countViolationsPerRule(conn, table, runnable, ruleStatementTimeoutMs),
    );

    const failedByRule = new Map(scan.counts.map((c) => [`${c.attribute}#${c.ruleIndex}`, c.failedRows]));
    const rows = rules.map((r) => {
      const failed = failedByRule.get(`${r.attribute.name}#${r.ruleIndex}`);
      const problem = r.rule.kind === 'pattern' ? patternProblems.get(r.rule.regex)?.reason : undefined;
      return {
        job_id: input.jobId,
        rules_job_id: input.rulesJobId,
        attribute: r.attribute.name,
        rule_index: r.ruleIndex,
        checked_rows: scan.checkedRows,
        failed_rows: failed ?? 0,
        pass_rate: problem || scan.checkedRows === 0 ? null : 1 - (failed ?? 0) / scan.checkedRows,
        error: problem ?? null,
      };
    });
    await db
      .insertInto('rule_results')
      .values(rows)
      .onConflict((oc) => oc.columns(['job_id', 'attribute', 'rule_index']).doUpdateSet((eb) => ({ checked_rows: eb.ref('excluded.checked_rows'), failed_rows: eb.ref('excluded.failed_rows'), pass_rate: eb.ref('excluded.pass_rate'), error: eb.ref('excluded.error'), executed_at: new Date() })))
      .execute();
    return { rulesExecuted: runnable.length, rulesErrored: rules.length - runnable.length, checkedRows: scan.checkedRows };
  }

  async function summarizeProfiling(input: { jobId: string; rulesJobId: string; attributesTotal: number }): Promise<ProfilingJobResult> {
    const attributes = await db.selectFrom('attribute_results').select(['attribute', 'status', 'rules_count', 'failure_reason']).where('job_id', '=', input.rulesJobId).orderBy('attribute').execute();
    const results = await db
      .selectFrom('rule_results')
      .select((eb) => [eb.fn.count<number>('rule_index').as('rules'), eb.fn.sum<number>('checked_rows').as('checked'), eb.fn.sum<number>('failed_rows').as('failed')])
      .where('job_id', '=', input.jobId)
      .where('error', 'is', null)
      .executeTakeFirstOrThrow();
    const failed = attributes.filter((a) => a.status === 'failed');
    const checked = Number(results.checked ?? 0);
    return {
      attributesTotal: input.attributesTotal,
      attributesProfiled: attributes.length - failed.length,
      attributesFailed: failed.length,
      rulesGenerated: attributes.reduce((sum, a) => sum + a.rules_count, 0),
      rulesExecuted: Number(results.rules),
      rowsChecked: checked,
      overallPassRate: checked > 0 ? 1 - Number(results.failed ?? 0) / checked : null,
      failedAttributes: failed.map((a) => ({ attribute: a.attribute, reason: a.failure_reason ?? 'unknown' })),
    };
  }

  return { generateValidationRules, recordAttributeFailure, executeRules, summarizeProfiling };
}
