// Scoping side effects: assess one attribute (its profiling results, the LLM's risk judgement, the
// deterministic score) and store it; choose the job's test set from what is stored; summarise the job.
// Writes are keyed by job and attribute, and an attribute already stored is never sent to the LLM again.

import { log } from '@temporalio/activity';
import type { Insertable, Kysely } from 'kysely';
import type { LlmCallContext } from '../../common/llm';
import type { AttributeDescriptor } from '../../common/rules';
import type { Database } from '../../db/database';
import type { ScopingAssessmentsTable } from './scoping-tables';
import { completeStructured, type LlmDeps } from '../llm/llm';
import { jobLlmUsage, type JobLlmUsage } from '../llm/llm-usage';
import { byPriority, riskScore } from './risk-score';
import { chooseTests } from './scope-optimisation';
import { TEST_COSTS, TEST_KINDS, type RiskLevel } from './scoping-catalogue';
import { profiledRulesOf } from './scoping-profile';
import { SCOPING_TASK, scopingAnswerSchema, scopingItemKey, scopingPrompt } from './scoping-prompts';

export interface AssessAttributeInput {
  jobId: string;
  dataSourceId: string;
  attribute: AttributeDescriptor;
  profilingJobId?: string;
  llm: LlmCallContext;
}

export interface ScopingOutcome {
  attribute: string;
  status: 'completed' | 'failed';
  risk?: RiskLevel;
  score?: number;
  reason?: string;
  /** True when an earlier attempt had stored it and the LLM was not asked again. */
  reused: boolean;
}

export interface ScopeSelectionResult {
  /** Maximum total test cost the caller gave; null for none. */
  budget: number | null;
  budgetUsed: number;
  method: 'exact' | 'greedy';
  tests: { test: string; cost: number; covers: number; appliesTo: number }[];
  highRiskInScope: number;
  covered: number;
  uncoveredCount: number;
  /** The first LISTED of them, highest score first; scoping_assessments has them all. */
  uncoveredHighRisk: string[];
}

export interface ScopingSummary {
  dataSourceId: string;
  profilingJobId: string | null;
  attributesTotal: number;
  attributesAssessed: number;
  attributesFailed: number;
  byRisk: Record<RiskLevel, number>;
  inScope: number;
  topRecommendations: { attribute: string; score: number; risk: string; inScope: boolean; tests: string[] }[];
  failedAttributes: { attribute: string; reason: string }[];
  llm: JobLlmUsage;
}

/** How many names a job result lists; the tables hold every one. */
const LISTED = 50;
const TOP = 10;

export function createScopingActivities({ db, llm }: { db: Kysely<Database>; llm: LlmDeps }) {
  async function assessAttributeScope(input: AssessAttributeInput): Promise<ScopingOutcome> {
    const { jobId, dataSourceId, attribute, profilingJobId } = input;
    const stored = await db
      .selectFrom('scoping_assessments')
      .selectAll()
      .where('job_id', '=', jobId)
      .where('attribute', '=', attribute.name)
      .executeTakeFirst();
    if (stored)
      return {
        attribute: attribute.name,
        status: stored.status,
        risk: stored.risk ?? undefined,
        score: stored.score ?? undefined,
        reason: stored.failure_reason ?? undefined,
        reused: true,
      };

    const profilingRules = profilingJobId ? await profiledRulesOf(db, profilingJobId, attribute.name) : undefined;
    const profiling = profilingJobId ? { profilingJobId, rules: profilingRules! } : null;
    log.info('assessing attribute scope', {
      jobId,
      attribute: attribute.name,
      profilingRules: profilingRules?.length ?? null,
    });
    const answer = await completeStructured(
      llm,
      {
        ...scopingPrompt(dataSourceId, attribute, profiling, llm.settings.maxPromptTokens),
        name: SCOPING_TASK,
        schema: scopingAnswerSchema,
      },
      { ...input.llm, item: scopingItemKey(dataSourceId, attribute.name) },
    );
    const base = {
      job_id: jobId,
      attribute: attribute.name,
      llm_attempts: answer.calls,
      profiling: profiling ? JSON.stringify(profiling) : null,
      recommended_tests: '[]',
    };
    if (!answer.ok) {
      await insertAssessment({ ...base, status: 'failed', failure_reason: answer.reason });
      return { attribute: attribute.name, status: 'failed', reason: answer.reason, reused: false };
    }
    const { inScope, risk, recommendedTests, rationale } = answer.value;
    const { score, parts } = riskScore({
      name: attribute.name,
      description: attribute.description,
      risk,
      inScope,
      profilingRules,
    });
    await insertAssessment({
      ...base,
      status: 'completed',
      in_scope: inScope,
      risk,
      score,
      score_parts: JSON.stringify(parts),
      recommended_tests: JSON.stringify(recommendedTests),
      rationale,
    });
    return { attribute: attribute.name, status: 'completed', risk, score, reused: false };
  }

  async function insertAssessment(row: Insertable<ScopingAssessmentsTable>): Promise<void> {
    await db
      .insertInto('scoping_assessments')
      .values(row)
      .onConflict((oc) => oc.columns(['job_id', 'attribute']).doNothing())
      .execute();
  }

  /** Records an attribute whose activity failed for good (retries exhausted or a non-retryable error). */
  async function recordScopingFailure(input: { jobId: string; attribute: string; reason: string }): Promise<void> {
    await insertAssessment({
      job_id: input.jobId,
      attribute: input.attribute,
      status: 'failed',
      failure_reason: input.reason,
      recommended_tests: '[]',
    });
  }

  /**
   * Scope optimisation over the stored assessments: each test kind is one candidate, run over every in-scope
   * attribute it was recommended for, at its fixed cost; the targets are the high-risk in-scope attributes.
   * Replaces the job's stored selection in one transaction, so a retry writes the same rows.
   */
  async function chooseScopingTests(input: {
    jobId: string;
    testBudget: number | null;
  }): Promise<ScopeSelectionResult> {
    const rows = await db
      .selectFrom('scoping_assessments')
      .select(['attribute', 'risk', 'score', 'recommended_tests'])
      .where('job_id', '=', input.jobId)
      .where('status', '=', 'completed')
      .where('in_scope', '=', true)
      .execute();
    const inScope = rows
      .map((r) => ({
        attribute: r.attribute,
        risk: r.risk,
        score: r.score ?? 0,
        tests: new Set(r.recommended_tests.map((t) => t.test)),
      }))
      .sort(byPriority);
    const targets = inScope.filter((a) => a.risk === 'high').map((a) => a.attribute);
    const appliesTo = new Map(
      TEST_KINDS.map((kind) => [kind, inScope.filter((a) => a.tests.has(kind)).map((a) => a.attribute)]),
    );
    const highRisk = new Set(targets);
    const candidates = TEST_KINDS.map((kind) => ({
      id: kind,
      cost: TEST_COSTS[kind],
      covers: appliesTo.get(kind)!.filter((a) => highRisk.has(a)),
    }));
    const selection = chooseTests({ candidates, targets, budget: input.testBudget });
    const chosen = candidates.filter((c) => selection.selected.includes(c.id));
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('scoping_selection').where('job_id', '=', input.jobId).execute();
      if (chosen.length === 0) return;
      await trx
        .insertInto('scoping_selection')
        .values(
          chosen.map((c) => ({
            job_id: input.jobId,
            test_kind: c.id,
            cost: c.cost,
            covers: [...c.covers],
            applies_to: appliesTo.get(c.id)!,
          })),
        )
        .execute();
    });
    log.info('chose scoping tests', {
      jobId: input.jobId,
      selected: selection.selected,
      uncovered: selection.uncovered.length,
    });
    return {
      budget: input.testBudget,
      budgetUsed: selection.cost,
      method: selection.method,
      tests: chosen.map((c) => ({
        test: c.id,
        cost: c.cost,
        covers: c.covers.length,
        appliesTo: appliesTo.get(c.id)!.length,
      })),
      highRiskInScope: targets.length,
      covered: selection.covered.length,
      uncoveredCount: selection.uncovered.length,
      uncoveredHighRisk: selection.uncovered.slice(0, LISTED),
    };
  }

  async function summarizeScoping(input: {
    jobId: string;
    dataSourceId: string;
    profilingJobId: string | null;
    attributesTotal: number;
  }): Promise<ScopingSummary> {
    const rows = await db
      .selectFrom('scoping_assessments')
      .select(['attribute', 'status', 'in_scope', 'risk', 'score', 'recommended_tests', 'failure_reason'])
      .where('job_id', '=', input.jobId)
      .execute();
    const assessed = rows
      .filter((r) => r.status === 'completed')
      .map((r) => ({ ...r, score: r.score ?? 0 }))
      .sort(byPriority);
    const failed = rows.filter((r) => r.status === 'failed').sort((a, b) => (a.attribute < b.attribute ? -1 : 1));
    const byRisk: Record<RiskLevel, number> = { low: 0, medium: 0, high: 0 };
    for (const r of assessed) if (r.risk) byRisk[r.risk]++;
    return {
      dataSourceId: input.dataSourceId,
      profilingJobId: input.profilingJobId,
      attributesTotal: input.attributesTotal,
      attributesAssessed: assessed.length,
      attributesFailed: failed.length,
      byRisk,
      inScope: assessed.filter((r) => r.in_scope).length,
      topRecommendations: assessed.slice(0, TOP).map((r) => ({
        attribute: r.attribute,
        score: r.score,
        risk: r.risk ?? 'low',
        inScope: r.in_scope ?? false,
        tests: r.recommended_tests.map((t) => t.test),
      })),
      failedAttributes: failed
        .slice(0, LISTED)
        .map((r) => ({ attribute: r.attribute, reason: r.failure_reason ?? 'unknown' })),
      llm: await jobLlmUsage(db, input.jobId),
    };
  }

  return { assessAttributeScope, recordScopingFailure, chooseScopingTests, summarizeScoping };
}
