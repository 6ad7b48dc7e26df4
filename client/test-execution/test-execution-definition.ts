// The test_execution family's start requests: the test cases (a profiling job's stored rules and/or
// explicit checks in the rule DSL), the records under test (a sampling job's sample, or a whole data source),
// or a re-run of an earlier job's failing and errored test cases. Every error names its field.

import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { TestCase } from '../../activities/test-execution/test-execution';
import { ruleProblem, validationRuleSchema } from '../../activities/rules/rule-schema';
import { JobType } from '../../common/jobs';
import type { AttributeDescriptor } from '../../common/rules';
import type { Database } from '../../db/database';
import { InvalidJobRequestError } from '../errors';
import { identifier, parseOrReject, type FamilyStartRequest } from '../job-requests';
import type { JobDefinition } from '../job-definition';
import { completedJob, JOBS_WITH_RULES } from '../earlier-jobs';

/**
 * Keeps the workflow input (which carries the test cases) and the job result well under Temporal's 2 MB payload limit.
 */
export const MAX_TEST_CASES = 2_000;

export const testExecutionParamsSchema = z.object({
  dataSourceId: identifier.optional(),
  samplingJobId: identifier.optional(),
  rulesFromJobId: identifier.optional(),
  checks: z
    .array(
      z.strictObject({
        attribute: identifier,
        rule: validationRuleSchema,
        description: z.string().max(1_000).optional(),
      }),
    )
    .max(MAX_TEST_CASES)
    .optional(),
  rerunOfJobId: identifier.optional(),
  /** Test cases per scan: larger batches read the records fewer times, smaller ones show progress sooner. */
  batchSize: z.number().int().min(1).max(500).default(50),
  /** A re-run keeps its original's bound unless given, so the two jobs' findings compare. */
  maxFailingIdsPerTest: z.number().int().min(0).max(50).optional(),
});

const DEFAULT_MAX_FAILING_IDS = 10;

type Params = z.output<typeof testExecutionParamsSchema>;

interface TestPlan {
  dataSourceId: string;
  samplingJobId?: string;
  testCases: TestCase[];
  maxFailingIdsPerTest: number;
}

export type TestExecutionStartRequest = FamilyStartRequest<
  typeof JobType.TestExecution,
  z.input<typeof testExecutionParamsSchema>
>;

export const testExecutionJobs: JobDefinition<typeof JobType.TestExecution> = {
  fields: () => testExecutionParamsSchema,
  async prepare(db, job, body) {
    const params = parseOrReject(testExecutionParamsSchema, body);
    const plan = params.rerunOfJobId ? await rerunPlan(db, params, params.rerunOfJobId) : await freshPlan(db, params);
    if (plan.testCases.length > MAX_TEST_CASES)
      throw new InvalidJobRequestError(
        params.rulesFromJobId ? 'rulesFromJobId' : 'checks',
        `${plan.testCases.length} test cases; at most ${MAX_TEST_CASES} per job`,
      );
    const { dataSourceId, samplingJobId, testCases, maxFailingIdsPerTest } = plan;
    const { batchSize, rerunOfJobId } = params;
    const records = samplingJobId ? `the sample of job ${samplingJobId}` : `all of ${dataSourceId}`;
    return {
      input: { dataSourceId, samplingJobId, testCases, batchSize, maxFailingIdsPerTest, rerunOfJobId, ...job },
      metadata: {
        data_source_id: dataSourceId,
        sampling_job_id: samplingJobId ?? null,
        rules_from_job_id: params.rulesFromJobId ?? null,
        rerun_of_job_id: rerunOfJobId ?? null,
        max_failing_ids_per_test: maxFailingIdsPerTest,
        total_test_cases: testCases.length,
      },
      summary:
        `${job.jobType} of ${testCases.length} test cases on ${records} for ${job.owner}` +
        (rerunOfJobId ? ` (re-run of ${rerunOfJobId})` : ''),
      details: `batches of ${batchSize}, up to ${maxFailingIdsPerTest} failing record ids per test`,
    };
  },
};

/** The data source every given field points at; each later field must agree with the first. */
async function resolveDataSource(db: Kysely<Database>, params: Params): Promise<string> {
  const claims: [string, string][] = [];
  if (params.dataSourceId) claims.push(['dataSourceId', params.dataSourceId]);
  if (params.samplingJobId) {
    const job = await completedJob(db, 'samplingJobId', params.samplingJobId, [JobType.IntelligentSampling]);
    const { n } = await db
      .selectFrom('sample_records')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('job_id', '=', params.samplingJobId)
      .executeTakeFirstOrThrow();
    if (Number(n) === 0)
      throw new InvalidJobRequestError('samplingJobId', `job "${params.samplingJobId}" selected no records`);
    claims.push(['samplingJobId', String(job.metadata.data_source_id)]);
  }
  if (params.rulesFromJobId) {
    const job = await completedJob(db, 'rulesFromJobId', params.rulesFromJobId, JOBS_WITH_RULES);
    claims.push(['rulesFromJobId', String(job.metadata.data_source_id)]);
  }
  const [first] = claims;
  if (!first)
    throw new InvalidJobRequestError(
      'dataSourceId',
      'is required unless samplingJobId or rulesFromJobId names the data source',
    );
  const disagreeing = claims.find(([, id]) => id !== first[1]);
  if (disagreeing)
    throw new InvalidJobRequestError(
      disagreeing[0],
      `is about data source "${disagreeing[1]}", but ${first[0]} is about "${first[1]}"`,
    );
  const source = await db.selectFrom('data_sources').select('id').where('id', '=', first[1]).executeTakeFirst();
  if (!source) throw new InvalidJobRequestError(first[0], `unknown data source "${first[1]}"`);
  return first[1];
}

async function freshPlan(db: Kysely<Database>, params: Params): Promise<TestPlan> {
  const dataSourceId = await resolveDataSource(db, params);
  const testCases = [
    ...(await storedRuleCases(db, params.rulesFromJobId)),
    ...(await checkCases(db, dataSourceId, params.checks ?? [])),
  ];
  if (testCases.length === 0) {
    throw new InvalidJobRequestError(
      params.rulesFromJobId ? 'rulesFromJobId' : 'checks',
      params.rulesFromJobId
        ? `job "${params.rulesFromJobId}" stored no rules, and no checks were given`
        : 'no test cases: give checks or rulesFromJobId',
    );
  }
  return {
    dataSourceId,
    samplingJobId: params.samplingJobId,
    testCases,
    maxFailingIdsPerTest: params.maxFailingIdsPerTest ?? DEFAULT_MAX_FAILING_IDS,
  };
}

async function storedRuleCases(db: Kysely<Database>, rulesFromJobId: string | undefined): Promise<TestCase[]> {
  if (!rulesFromJobId) return [];
  const rows = await db
    .selectFrom('profiling_rules')
    .select(['attribute', 'rule_index', 'rule', 'description'])
    .where('job_id', '=', rulesFromJobId)
    .orderBy('attribute')
    .orderBy('rule_index')
    .execute();
  return rows.map((r) => ({
    id: `${r.attribute}#${r.rule_index}`,
    attribute: r.attribute,
    description: r.description,
    rule: r.rule,
  }));
}

/** Checks are held to what generated rules are held to: the DSL's schema (parsed above) and the column's type. */
async function checkCases(
  db: Kysely<Database>,
  dataSourceId: string,
  checks: NonNullable<Params['checks']>,
): Promise<TestCase[]> {
  const catalogue = await db
    .selectFrom('data_source_attributes')
    .select(['name', 'data_type', 'description'])
    .where('data_source_id', '=', dataSourceId)
    .execute();
  const byName = new Map(
    catalogue.map((a) => [
      a.name,
      { name: a.name, dataType: a.data_type as AttributeDescriptor['dataType'], description: a.description },
    ]),
  );
  return checks.map((check, index) => {
    const attribute = byName.get(check.attribute);
    if (!attribute)
      throw new InvalidJobRequestError(
        `checks.${index}.attribute`,
        `unknown attribute "${check.attribute}" in data source "${dataSourceId}"`,
      );
    const problem = ruleProblem(attribute, check.rule);
    if (problem) throw new InvalidJobRequestError(`checks.${index}.rule`, problem);
    return {
      id: `${check.attribute}#check${index}`,
      attribute: check.attribute,
      description: check.description ?? '',
      rule: check.rule,
    };
  });
}

/** A re-run takes everything from the earlier job: its records, and its failing and errored test cases as stored. */
async function rerunPlan(db: Kysely<Database>, params: Params, rerunOfJobId: string): Promise<TestPlan> {
  for (const field of ['dataSourceId', 'samplingJobId', 'rulesFromJobId', 'checks'] as const) {
    if (params[field] !== undefined)
      throw new InvalidJobRequestError(
        field,
        'does not apply to a re-run, which uses the records and test cases of rerunOfJobId',
      );
  }
  const job = await completedJob(db, 'rerunOfJobId', rerunOfJobId, [JobType.TestExecution]);
  const rows = await db
    .selectFrom('test_case_results')
    .select(['test_case_id', 'attribute', 'description', 'rule'])
    .where('job_id', '=', rerunOfJobId)
    .where('status', 'in', ['fail', 'error'])
    .orderBy('test_case_id')
    .execute();
  if (rows.length === 0)
    throw new InvalidJobRequestError(
      'rerunOfJobId',
      `job "${rerunOfJobId}" has no failing or errored test cases to re-run`,
    );
  const { sampling_job_id: samplingJobId, max_failing_ids_per_test: bound } = job.metadata;
  return {
    maxFailingIdsPerTest: params.maxFailingIdsPerTest ?? (typeof bound === 'number' ? bound : DEFAULT_MAX_FAILING_IDS),
    dataSourceId: String(job.metadata.data_source_id),
    samplingJobId: typeof samplingJobId === 'string' ? samplingJobId : undefined,
    testCases: rows.map((r) => ({
      id: r.test_case_id,
      attribute: r.attribute,
      description: r.description,
      rule: r.rule,
    })),
  };
}
