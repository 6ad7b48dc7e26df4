// A job's results as its family's tables hold them, for the job page (`GET /api/v1/jobs/{id}/results`): pass rate per
// attribute with its rules (profiling), pass/fail per test case, strata against the sample, risk scores and the tests
// chosen, PDEs mapped / failed / accepted. The queries read the tables; the pure functions below shape their rows.

import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import { JobType } from '../common/jobs';
import type { Database } from '../db/database';
import type { JobRow } from './job-status';

/**
 * The most rows one list of an answer holds (attributes, test cases, strata, assessments, PDEs): a job may have up to
 * JOB_MAX_ATTRIBUTES (20 000) items, and the page draws one bar each, so past this the answer says how many there are
 * (`total`) and lists the first ones (`truncated`) instead of sending megabytes no chart can show.
 */
export const RESULTS_MAX_ROWS = 500;

export type ResultFamily = 'profiling' | 'planning' | 'scoping' | 'sampling' | 'test_execution';

const FAMILY_OF: Record<JobType, ResultFamily> = {
  [JobType.DataProfiling]: 'profiling',
  [JobType.DataProfilingLlmGeneration]: 'profiling',
  [JobType.DataProfilingRuleExecution]: 'profiling',
  [JobType.LlmAttributeGeneration]: 'planning',
  [JobType.PdeAutoMapping]: 'planning',
  [JobType.PdeRegeneration]: 'planning',
  [JobType.ScopingRecommendations]: 'scoping',
  [JobType.GenerateScopingRecommendations]: 'scoping',
  [JobType.IntelligentSampling]: 'sampling',
  [JobType.TestExecution]: 'test_execution',
};

/** The family whose tables hold a job type's results; undefined for a type no family runs (an imported legacy one). */
export function resultFamilyOf(jobType: string): ResultFamily | undefined {
  return FAMILY_OF[jobType as JobType];
}

/** A list capped at RESULTS_MAX_ROWS: how many there are in all, and whether `items` stops short of that. */
export interface Listed<T> {
  total: number;
  truncated: boolean;
  items: T[];
}

export interface RuleOutcome {
  rule_index: number;
  /** The rule DSL's kind (`not_null`, `range`, …). */
  kind: string | null;
  description: string;
  severity: string;
  /** Null until the rule ran (a generation-only job, or a rule execution still going). */
  checked_rows: number | null;
  failed_rows: number | null;
  pass_rate: number | null;
  /** Why the rule could not run. */
  error: string | null;
}

export interface AttributePassRate {
  attribute: string;
  /** Rule generation's outcome for the attribute. */
  status: 'completed' | 'failed';
  failure_reason: string | null;
  rules_count: number;
  /** Over the rules that ran: rows checked, rows failing, and 1 − failed / checked (null when none ran). */
  checked_rows: number;
  failed_rows: number;
  pass_rate: number | null;
  rules: RuleOutcome[];
}

export interface ProfilingResults {
  family: 'profiling';
  /** The job whose rules ran: this job, or the generation job a rule execution took them from. */
  rules_job_id: string;
  /** 1 − failed / checked over every rule that ran, the job result's `overallPassRate`. */
  overall_pass_rate: number | null;
  attributes: Listed<AttributePassRate>;
}

export interface TestCaseOutcome {
  test_case_id: string;
  attribute: string;
  description: string;
  status: 'pass' | 'fail' | 'error';
  checked_records: number;
  failed_records: number;
  error: string | null;
  /** The earlier job a passing result was carried over from, not executed again; null when it ran here. */
  carried_over_from: string | null;
}

export interface TestExecutionResults {
  family: 'test_execution';
  counts: { pass: number; fail: number; error: number };
  test_cases: Listed<TestCaseOutcome>;
}

export interface SamplingResults {
  family: 'sampling';
  /** Cochran's sample size over the counted population; null until the count pass made the plan. */
  plan: {
    population: number;
    sample_size: number;
    confidence_level: number;
    margin_of_error: number;
    expected_rate: number;
    allocation: string;
  } | null;
  /** Records chosen: at random within the strata, and added as edge cases. */
  sampled: { random: number; edge_cases: number };
  strata: Listed<{ stratum: string; population: number; allocated: number; selected: number }>;
}

export interface ScopingResults {
  family: 'scoping';
  counts: { assessed: number; failed: number; in_scope: number; high: number; medium: number; low: number };
  /** Highest risk score first. */
  assessments: Listed<{
    attribute: string;
    status: 'completed' | 'failed';
    risk: 'low' | 'medium' | 'high' | null;
    score: number | null;
    in_scope: boolean | null;
    recommended_tests: string[];
    failure_reason: string | null;
  }>;
  /** The test set scope optimisation chose: each test's cost, the high-risk attributes it covers, how many it fits. */
  chosen_tests: { test_kind: string; cost: number; covers: string[]; applies_to: number }[];
}

export interface PlanningResults {
  family: 'planning';
  /** Attribute generation: the document chunks read and the candidates found; null for a mapping job. */
  chunks: { completed: number; failed: number; candidates: number } | null;
  /** The plan data elements this job wrote (attribute generation). */
  elements: Listed<{ pde_id: number; name: string; data_type: string }>;
  /** PDE mapping and regeneration: mapped, failed, and skipped because a person had accepted the mapping. */
  counts: { mapped: number; failed: number; skipped_accepted: number };
  mappings: Listed<{
    pde_id: number;
    name: string;
    outcome: 'mapped' | 'failed' | 'skipped_accepted';
    classification: string | null;
    failure_reason: string | null;
  }>;
}

export type FamilyResults =
  ProfilingResults | TestExecutionResults | SamplingResults | ScopingResults | PlanningResults;

export interface JobResults {
  job_id: string;
  job_type: string;
  status: string;
  /** The job's workflow (its Temporal Web UI page). */
  workflow_id: string;
  /** Null for a job type no family runs. */
  results: FamilyResults | null;
}

/** The results of `row`'s job (whose owner the caller has been checked against) from its family's tables. */
export async function jobResultsOf(db: Kysely<Database>, row: JobRow): Promise<JobResults> {
  const family = resultFamilyOf(row.type);
  const answer = { job_id: row.id, job_type: row.type, status: row.status, workflow_id: row.workflow_id };
  switch (family) {
    case undefined:
      return { ...answer, results: null };
    case 'profiling':
      return { ...answer, results: await profilingResults(db, row) };
    case 'test_execution':
      return { ...answer, results: await testExecutionResults(db, row.id) };
    case 'sampling':
      return { ...answer, results: await samplingResults(db, row.id) };
    case 'scoping':
      return { ...answer, results: await scopingResults(db, row.id) };
    case 'planning':
      return { ...answer, results: await planningResults(db, row) };
  }
}

/** A list read with one row more than it keeps, so that whether more exist needs no count when none do. */
export function listed<T>(rows: T[], count: () => Promise<number>): Promise<Listed<T>> {
  if (rows.length <= RESULTS_MAX_ROWS) return Promise.resolve({ total: rows.length, truncated: false, items: rows });
  return count().then((total) => ({ total, truncated: true, items: rows.slice(0, RESULTS_MAX_ROWS) }));
}

const countOf = async (query: { executeTakeFirstOrThrow(): Promise<{ n: unknown }> }) =>
  Number((await query.executeTakeFirstOrThrow()).n);

async function profilingResults(db: Kysely<Database>, row: JobRow): Promise<ProfilingResults> {
  // The input names the generation job a rule execution took its rules from; a row from before inputs were kept
  // has it in its rule results.
  const fromInput = (row.input as { rulesFromJobId?: unknown } | null)?.rulesFromJobId;
  const rulesJobId =
    typeof fromInput === 'string'
      ? fromInput
      : ((
          await db
            .selectFrom('rule_results')
            .select('rules_job_id')
            .where('job_id', '=', row.id)
            .limit(1)
            .executeTakeFirst()
        )?.rules_job_id ?? row.id);
  // A rule execution lists the attributes whose rules it ran, not every one the generation job had.
  const own = (query: SelectQueryBuilder<Database, 'attribute_results', object>) =>
    query
      .where('job_id', '=', rulesJobId)
      .$if(rulesJobId !== row.id, (q) =>
        q.where('attribute', 'in', db.selectFrom('rule_results').select('attribute').where('job_id', '=', row.id)),
      );
  const attributeRows = await own(db.selectFrom('attribute_results'))
    .select(['attribute', 'status', 'rules_count', 'failure_reason'])
    .orderBy('attribute')
    .limit(RESULTS_MAX_ROWS + 1)
    .execute();
  const attributes = await listed(attributeRows, () =>
    countOf(own(db.selectFrom('attribute_results')).select((eb) => eb.fn.countAll().as('n'))),
  );
  const names = attributes.items.map((a) => a.attribute);
  const rules =
    names.length === 0
      ? []
      : await db
          .selectFrom('profiling_rules as pr')
          .leftJoin('rule_results as rr', (join) =>
            join
              .onRef('rr.rules_job_id', '=', 'pr.job_id')
              .onRef('rr.attribute', '=', 'pr.attribute')
              .onRef('rr.rule_index', '=', 'pr.rule_index')
              .on('rr.job_id', '=', row.id),
          )
          .select([
            'pr.attribute',
            'pr.rule_index',
            'pr.rule',
            'pr.description',
            'pr.severity',
            'rr.checked_rows',
            'rr.failed_rows',
            'rr.pass_rate',
            'rr.error',
          ])
          .where('pr.job_id', '=', rulesJobId)
          .where('pr.attribute', 'in', names)
          .orderBy('pr.attribute')
          .orderBy('pr.rule_index')
          .execute();
  const overall = await db
    .selectFrom('rule_results')
    .select((eb) => [
      eb.fn.coalesce(eb.fn.sum<string>('checked_rows'), sql<string>`0`).as('checked'),
      eb.fn.coalesce(eb.fn.sum<string>('failed_rows'), sql<string>`0`).as('failed'),
    ])
    .where('job_id', '=', row.id)
    .where('error', 'is', null)
    .executeTakeFirstOrThrow();
  return {
    family: 'profiling',
    rules_job_id: rulesJobId,
    overall_pass_rate: passRate(Number(overall.checked), Number(overall.failed)),
    attributes: {
      ...attributes,
      items: attributePassRates(
        attributes.items,
        rules.map((r) => ({
          attribute: r.attribute,
          rule_index: r.rule_index,
          kind: typeof r.rule?.kind === 'string' ? r.rule.kind : null,
          description: r.description,
          severity: r.severity,
          checked_rows: r.checked_rows === null ? null : Number(r.checked_rows),
          failed_rows: r.failed_rows === null ? null : Number(r.failed_rows),
          pass_rate: r.pass_rate === null ? null : Number(r.pass_rate),
          error: r.error,
        })),
      ),
    },
  };
}

/** 1 − failed / checked, as the job result's pass rates are; null when nothing was checked. */
export function passRate(checked: number, failed: number): number | null {
  return checked > 0 ? 1 - failed / checked : null;
}

/**
 * Each attribute with its rules and its pass rate over the rules that ran (a rule that could not run, or has not run
 * yet, checked nothing), in the order `attributes` comes in.
 */
export function attributePassRates(
  attributes: readonly {
    attribute: string;
    status: 'completed' | 'failed';
    rules_count: number;
    failure_reason: string | null;
  }[],
  rules: readonly (RuleOutcome & { attribute: string })[],
): AttributePassRate[] {
  const byAttribute = new Map<string, RuleOutcome[]>();
  for (const { attribute, ...rule } of rules) byAttribute.set(attribute, [...(byAttribute.get(attribute) ?? []), rule]);
  return attributes.map((a) => {
    const own = byAttribute.get(a.attribute) ?? [];
    const ran = own.filter((r) => r.error === null && r.checked_rows !== null);
    const checked = ran.reduce((sum, r) => sum + (r.checked_rows ?? 0), 0);
    const failed = ran.reduce((sum, r) => sum + (r.failed_rows ?? 0), 0);
    return {
      attribute: a.attribute,
      status: a.status,
      failure_reason: a.failure_reason,
      rules_count: a.rules_count,
      checked_rows: checked,
      failed_rows: failed,
      pass_rate: passRate(checked, failed),
      rules: own,
    };
  });
}

async function testExecutionResults(db: Kysely<Database>, jobId: string): Promise<TestExecutionResults> {
  const rows = await db
    .selectFrom('test_case_results')
    .select([
      'test_case_id',
      'attribute',
      'description',
      'status',
      'checked_records',
      'failed_records',
      'error',
      'carried_over_from',
    ])
    .where('job_id', '=', jobId)
    .orderBy('attribute')
    .orderBy('test_case_id')
    .limit(RESULTS_MAX_ROWS + 1)
    .execute();
  const byStatus = await db
    .selectFrom('test_case_results')
    .select(['status', (eb) => eb.fn.countAll().as('n')])
    .where('job_id', '=', jobId)
    .groupBy('status')
    .execute();
  const counts = countsBy(
    byStatus.map((r) => ({ key: r.status, n: Number(r.n) })),
    ['pass', 'fail', 'error'],
  );
  const total = counts.pass + counts.fail + counts.error;
  return {
    family: 'test_execution',
    counts,
    test_cases: {
      total,
      truncated: rows.length > RESULTS_MAX_ROWS,
      items: rows.slice(0, RESULTS_MAX_ROWS).map((r) => ({
        ...r,
        checked_records: Number(r.checked_records),
        failed_records: Number(r.failed_records),
      })),
    },
  };
}

/** Counts per key, every key in `keys` present (0 when no row names it), keys outside them left out. */
export function countsBy<K extends string>(
  rows: readonly { key: string; n: number }[],
  keys: readonly K[],
): Record<K, number> {
  const counts = Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  for (const { key, n } of rows) if ((keys as readonly string[]).includes(key)) counts[key as K] += n;
  return counts;
}

async function samplingResults(db: Kysely<Database>, jobId: string): Promise<SamplingResults> {
  const plan = await db
    .selectFrom('sampling_plans')
    .select(['population', 'sample_size', 'confidence_level', 'margin_of_error', 'expected_rate', 'allocation'])
    .where('job_id', '=', jobId)
    .executeTakeFirst();
  const strataRows = await db
    .selectFrom('sampling_strata')
    .select(['stratum', 'population', 'allocated', 'selected'])
    .where('job_id', '=', jobId)
    .orderBy('stratum')
    .limit(RESULTS_MAX_ROWS + 1)
    .execute();
  const strata = await listed(
    strataRows.map((s) => ({
      stratum: s.stratum,
      population: Number(s.population),
      allocated: Number(s.allocated),
      selected: Number(s.selected),
    })),
    () =>
      countOf(
        db
          .selectFrom('sampling_strata')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('job_id', '=', jobId),
      ),
  );
  const reasons = await db
    .selectFrom('sample_records')
    .select([
      sql<string>`case when reason like 'edge:%' then 'edge_cases' else 'random' end`.as('key'),
      (eb) => eb.fn.countAll().as('n'),
    ])
    .where('job_id', '=', jobId)
    .groupBy('key')
    .execute();
  return {
    family: 'sampling',
    plan: plan
      ? {
          population: Number(plan.population),
          sample_size: Number(plan.sample_size),
          confidence_level: Number(plan.confidence_level),
          margin_of_error: Number(plan.margin_of_error),
          expected_rate: Number(plan.expected_rate),
          allocation: plan.allocation,
        }
      : null,
    sampled: countsBy(
      reasons.map((r) => ({ key: r.key, n: Number(r.n) })),
      ['random', 'edge_cases'],
    ),
    strata,
  };
}

async function scopingResults(db: Kysely<Database>, jobId: string): Promise<ScopingResults> {
  const rows = await db
    .selectFrom('scoping_assessments')
    .select(['attribute', 'status', 'risk', 'score', 'in_scope', 'recommended_tests', 'failure_reason'])
    .where('job_id', '=', jobId)
    .orderBy(sql`score desc nulls last`)
    .orderBy('attribute')
    .limit(RESULTS_MAX_ROWS + 1)
    .execute();
  const tally = await db
    .selectFrom('scoping_assessments')
    .select((eb) => [
      eb.fn.countAll().filterWhere('status', '=', 'completed').as('assessed'),
      eb.fn.countAll().filterWhere('status', '=', 'failed').as('failed'),
      eb.fn.countAll().filterWhere('in_scope', '=', true).as('in_scope'),
      eb.fn.countAll().filterWhere('risk', '=', 'high').as('high'),
      eb.fn.countAll().filterWhere('risk', '=', 'medium').as('medium'),
      eb.fn.countAll().filterWhere('risk', '=', 'low').as('low'),
    ])
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  const counts = {
    assessed: Number(tally.assessed),
    failed: Number(tally.failed),
    in_scope: Number(tally.in_scope),
    high: Number(tally.high),
    medium: Number(tally.medium),
    low: Number(tally.low),
  };
  const chosen = await db
    .selectFrom('scoping_selection')
    .select(['test_kind', 'cost', 'covers', 'applies_to'])
    .where('job_id', '=', jobId)
    .orderBy('test_kind')
    .execute();
  return {
    family: 'scoping',
    counts,
    assessments: {
      total: counts.assessed + counts.failed,
      truncated: rows.length > RESULTS_MAX_ROWS,
      items: rows.slice(0, RESULTS_MAX_ROWS).map((r) => ({
        ...r,
        score: r.score === null ? null : Number(r.score),
        recommended_tests: r.recommended_tests.map((t) => t.test),
      })),
    },
    chosen_tests: chosen.map((c) => ({
      test_kind: c.test_kind,
      cost: Number(c.cost),
      covers: c.covers.slice(0, RESULTS_MAX_ROWS),
      applies_to: c.applies_to.length,
    })),
  };
}

async function planningResults(db: Kysely<Database>, row: JobRow): Promise<PlanningResults> {
  const jobId = row.id;
  const chunks =
    row.type === JobType.LlmAttributeGeneration
      ? await db
          .selectFrom('attribute_candidates')
          .select((eb) => [
            eb.fn.countAll().filterWhere('status', '=', 'completed').as('completed'),
            eb.fn.countAll().filterWhere('status', '=', 'failed').as('failed'),
            eb.fn.coalesce(eb.fn.sum<string>(sql`jsonb_array_length(candidates)`), sql<string>`0`).as('candidates'),
          ])
          .where('job_id', '=', jobId)
          .executeTakeFirstOrThrow()
      : null;
  const elementRows = await db
    .selectFrom('plan_data_elements')
    .select(['pde_id', 'name', 'data_type'])
    .where('source_job_id', '=', jobId)
    .orderBy('pde_id')
    .limit(RESULTS_MAX_ROWS + 1)
    .execute();
  const elements = await listed(
    elementRows.map((e) => ({ ...e, pde_id: Number(e.pde_id) })),
    () =>
      countOf(
        db
          .selectFrom('plan_data_elements')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('source_job_id', '=', jobId),
      ),
  );
  const mappingRows = await db
    .selectFrom('pde_mapping_outcomes as o')
    .innerJoin('plan_data_elements as p', 'p.pde_id', 'o.pde_id')
    .select(['o.pde_id', 'p.name', 'o.outcome', 'o.classification', 'o.failure_reason'])
    .where('o.job_id', '=', jobId)
    .orderBy('o.pde_id')
    .limit(RESULTS_MAX_ROWS + 1)
    .execute();
  const byOutcome = await db
    .selectFrom('pde_mapping_outcomes')
    .select(['outcome', (eb) => eb.fn.countAll().as('n')])
    .where('job_id', '=', jobId)
    .groupBy('outcome')
    .execute();
  const counts = countsBy(
    byOutcome.map((r) => ({ key: r.outcome, n: Number(r.n) })),
    ['mapped', 'failed', 'skipped_accepted'],
  );
  return {
    family: 'planning',
    chunks: chunks
      ? { completed: Number(chunks.completed), failed: Number(chunks.failed), candidates: Number(chunks.candidates) }
      : null,
    elements,
    counts,
    mappings: {
      total: counts.mapped + counts.failed + counts.skipped_accepted,
      truncated: mappingRows.length > RESULTS_MAX_ROWS,
      items: mappingRows.slice(0, RESULTS_MAX_ROWS).map((m) => ({ ...m, pde_id: Number(m.pde_id) })),
    },
  };
}
