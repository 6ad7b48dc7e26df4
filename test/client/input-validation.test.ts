// Bad job input is refused before anything happens: the error names the field, no job row is written
// and no workflow is started. A sampling start reads its table only after every other check, and briefly.
// Input that turns invalid after the start (its data source unregistered before the job runs) fails the job
// at once inside its first activity, as `InvalidJobInput`, never retried.

import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../common/failures';
import type { StartJobRequest } from '../../client/job-definitions';
import type { SamplingStartRequest } from '../../client/sampling/sampling-definition';
import { InvalidJobRequestError } from '../../client/job-requests';
import { DEMO_DATA_SOURCE_ID, DEMO_TABLE } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/waiting';

let harness: Harness;
beforeAll(async () => {
  // A short count timeout, so the sampling start below gives up counting its locked table quickly.
  harness = await createHarness({ config: { JOB_MAX_ATTRIBUTES: 500, JOB_START_COUNT_TIMEOUT_MS: 500 } });
});
afterAll(() => harness.close());

const owner = `validation-${Date.now()}`;
const valid: StartJobRequest = {
  jobType: 'data_profiling',
  owner,
  dataSourceId: DEMO_DATA_SOURCE_ID,
  attributeIds: ['credit_score', 'apr_rate'],
};

const cases: [string, unknown, string][] = [
  ['a missing job type', { ...valid, jobType: undefined }, 'jobType'],
  ['an unknown job type', { ...valid, jobType: 'data_profilng' }, 'jobType'],
  ['a missing owner', { ...valid, owner: undefined }, 'owner'],
  ['a blank owner', { ...valid, owner: '   ' }, 'owner'],
  ['an unknown data source', { ...valid, dataSourceId: 'no_such_table' }, 'dataSourceId'],
  ['an unknown attribute', { ...valid, attributeIds: ['credit_score', 'credit_scor'] }, 'attributeIds.1'],
  ['an attribute listed twice', { ...valid, attributeIds: ['apr_rate', 'credit_score', 'apr_rate'] }, 'attributeIds.2'],
  ['a hostile attribute name', { ...valid, attributeIds: ['credit_score"; drop table jobs; --'] }, 'attributeIds.0'],
  ['attribute ids of the wrong type', { ...valid, attributeIds: 'credit_score' }, 'attributeIds'],
  ['an empty attribute list', { ...valid, attributeIds: [] }, 'attributeIds'],
  [
    'an oversized attribute list',
    { ...valid, attributeIds: Array.from({ length: 501 }, (_, i) => `a${i}`) },
    'attributeIds',
  ],
  ['a concurrency of zero', { ...valid, llmConcurrency: 0 }, 'llmConcurrency'],
  ['a fractional concurrency', { ...valid, llmConcurrency: 2.5 }, 'llmConcurrency'],
  [
    'a rule-execution job without its rules job',
    { ...valid, jobType: 'data_profiling_rule_execution' },
    'rulesFromJobId',
  ],
  [
    'a rule-execution job naming a missing job',
    { ...valid, jobType: 'data_profiling_rule_execution', rulesFromJobId: 'nope' },
    'rulesFromJobId',
  ],
  ['rules from a job on a generation job', { ...valid, rulesFromJobId: 'x' }, 'rulesFromJobId'],
  ['metadata that is not an object', { ...valid, metadata: [1, 2] }, 'metadata'],
  [
    'metadata nested deeper than JOB_MAX_METADATA_DEPTH',
    { ...valid, metadata: { a: { b: { c: { d: { e: { f: { g: { h: {} } } } } } } } } },
    'metadata',
  ],
  ['an owner with a lone surrogate', { ...valid, owner: `${owner}\ud800` }, 'owner'],
  ['a NUL in a metadata key', { ...valid, metadata: { 'cycle\u0000': 1 } }, 'metadata'],
  ['an idempotency key with a lone surrogate', { ...valid, idempotencyKey: 'key-\udc00' }, 'idempotencyKey'],
  ['a field the job type does not have', { ...valid, llmConcurency: 4 }, 'llmConcurency'],
  ['a field in snake_case', { ...valid, data_source_id: DEMO_DATA_SOURCE_ID }, 'data_source_id'],
  [
    'an unknown field inside a list item',
    {
      jobType: 'test_execution',
      owner,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      checks: [{ attribute: 'credit_score', rule: { kind: 'not_null' }, severity: 'high' }],
    },
    'checks.0',
  ],
];

describe('starting a job with bad input', () => {
  it.each(cases)('rejects %s, naming the field', async (_name, body, field) => {
    const attempt = harness.jobs.startJobFromJson(body);
    await expect(attempt).rejects.toBeInstanceOf(InvalidJobRequestError);
    await expect(attempt).rejects.toMatchObject({ field });
  });

  it('names every offending field in one refusal, the camelCase one suggested for a snake_case key', async () => {
    const attempt = harness.jobs.startJobFromJson({
      jobType: 'data_profiling',
      owner,
      data_source_id: DEMO_DATA_SOURCE_ID,
      llmConcurrency: 0,
    });
    await expect(attempt).rejects.toMatchObject({
      problems: [
        { field: 'dataSourceId', problem: 'is required' },
        { field: 'llmConcurrency', problem: expect.stringContaining('>=1') },
        { field: 'data_source_id', problem: 'unknown field; did you mean dataSourceId?' },
      ],
    });
  });

  it('writes no job row and starts no workflow for any of them', async () => {
    const rows = await harness.db.selectFrom('jobs').select('id').where('owner', '=', owner).execute();
    expect(rows).toEqual([]);
    const { count } = await harness.temporal.workflow.count(`JobOwner = '${owner}'`);
    expect(count).toBe(0);
  });

  it('accepts the valid request the cases were made from', async () => {
    const { jobId } = await harness.jobs.startJob({ ...valid, jobType: 'data_profiling_llm_generation' });
    await harness.jobs.handle(jobId).cancel();
    const row = await harness.jobs.job(jobId);
    expect(row?.owner).toBe(owner);
  });
});

describe('an intelligent_sampling start', () => {
  /** A 300-record copy of the demo table as its own data source, so a test may lock it. */
  const FIXTURE = 'sampling_start_fixture';
  const busyOwner = `sampling-busy-${Date.now()}`;
  const sampling = (extra: Partial<SamplingStartRequest> = {}): SamplingStartRequest => ({
    jobType: 'intelligent_sampling',
    owner: `sampler-${Date.now()}`,
    dataSourceId: FIXTURE,
    confidenceLevel: 0.95,
    marginOfError: 0.05,
    seed: 3,
    ...extra,
  });

  beforeAll(async () => {
    await sql`create table ${sql.table(FIXTURE)} as select * from ${sql.table(DEMO_TABLE)} where row_id <= 300`.execute(
      harness.db,
    );
    await sql`analyze ${sql.table(FIXTURE)}`.execute(harness.db);
    await harness.db
      .insertInto('data_sources')
      .values({ id: FIXTURE, table_name: FIXTURE, description: 'locked by tests', record_id_column: 'row_id' })
      .execute();
    await sql`insert into data_source_attributes (data_source_id, name, data_type, description, position)
      select ${FIXTURE}, name, data_type, description, position from data_source_attributes where data_source_id = ${DEMO_DATA_SOURCE_ID}`.execute(
      harness.db,
    );
    // An owner at the quota, written directly: nothing needs to run for the quota to count these.
    const active = Array.from({ length: harness.config.JOB_MAX_ACTIVE_PER_OWNER }, () => randomUUID());
    await harness.db
      .insertInto('jobs')
      .values(
        active.map((id) => ({
          id,
          type: 'intelligent_sampling',
          owner: busyOwner,
          status: 'running',
          workflow_id: id,
          metadata: '{}',
          updated_at: new Date(),
        })),
      )
      .execute();
  });
  afterAll(() => harness.db.deleteFrom('jobs').where('owner', '=', busyOwner).execute());

  /** Holds an ACCESS EXCLUSIVE lock on the fixture in a session of its own: any read of the table waits for it. */
  async function lockFixture(): Promise<{ release(): Promise<void> }> {
    const session = new pg.Client({ connectionString: harness.config.DATABASE_URL });
    await session.connect();
    await session.query('begin');
    await session.query(`lock table ${FIXTURE} in access exclusive mode`);
    return {
      async release() {
        await session.query('rollback');
        await session.end();
      },
    };
  }

  const readWaitingForTheLock = async () =>
    Number(
      (
        await sql<{
          n: string;
        }>`select count(*) as n from pg_locks where relation = ${FIXTURE}::regclass and not granted`.execute(harness.db)
      ).rows[0]!.n,
    ) > 0;

  /** The start's answer (or error); or `read the table` if, before answering, it waited to read the locked table. */
  async function answerOrTableRead(start: Promise<unknown>): Promise<unknown> {
    let answer: { value: unknown } | undefined;
    start.then(
      (value) => (answer = { value }),
      (error: unknown) => (answer = { value: error }),
    );
    const seen = await waitFor(
      async () => answer ?? ((await readWaitingForTheLock()) ? { value: 'read the table' } : undefined),
      (v) => v !== undefined,
      30_000,
      'the start to answer, or to wait for its locked table',
    );
    return seen!.value;
  }

  it('refuses a bad column, and an owner over the quota, without reading the table', async () => {
    const lock = await lockFixture();
    try {
      expect(
        await answerOrTableRead(harness.jobs.startJob(sampling({ edgeCaseColumns: ['no_such_column'] }))),
      ).toMatchObject({ field: 'edgeCaseColumns.0' });
      expect(await answerOrTableRead(harness.jobs.startJob(sampling({ owner: busyOwner })))).toMatchObject({
        httpStatus: 429,
      });
    } finally {
      await lock.release();
    }
  });

  it('counts the records under JOB_START_COUNT_TIMEOUT_MS, then takes PostgreSQL’s estimate instead of waiting', async () => {
    const lock = await lockFixture();
    let started: { jobId: string } | undefined;
    try {
      let answer: { value: unknown } | undefined;
      harness.jobs.startJob(sampling()).then(
        (value) => (answer = { value }),
        (error: unknown) => (answer = { value: error }),
      );
      const settled = await waitFor(
        async () => answer,
        (v) => v !== undefined,
        30_000,
        'the sampling start to answer while its table stays locked',
      );
      expect(settled!.value).toMatchObject({ jobId: expect.any(String), created: true });
      started = settled!.value as { jobId: string };
    } finally {
      await lock.release();
    }
    const row = await harness.jobs.job(started.jobId);
    expect(row?.metadata.rows_at_start).toBe(300);
    await harness.jobs.handle(started.jobId).cancel();
  });
});

describe('input found invalid inside an activity', () => {
  /** A data source of its own (a 50-row copy of the demo table), which the test unregisters under a started job. */
  const VANISHING = `vanishing_source_${process.pid}`;
  beforeAll(async () => {
    await sql`create table ${sql.table(VANISHING)} as select * from ${sql.table(DEMO_TABLE)} where row_id <= 50`.execute(
      harness.db,
    );
    await harness.db
      .insertInto('data_sources')
      .values({
        id: VANISHING,
        table_name: VANISHING,
        description: 'unregistered by a test',
        record_id_column: 'row_id',
      })
      .execute();
    await sql`insert into data_source_attributes (data_source_id, name, data_type, description, position)
      select ${VANISHING}, name, data_type, description, position from data_source_attributes where data_source_id = ${DEMO_DATA_SOURCE_ID}`.execute(
      harness.db,
    );
  });
  afterAll(async () => {
    await harness.db.deleteFrom('data_sources').where('id', '=', VANISHING).execute();
    await sql`drop table if exists ${sql.table(VANISHING)}`.execute(harness.db);
  });

  it('fails a job whose data source was unregistered between start and run with InvalidJobInput, on the first attempt', async () => {
    // No worker yet: the start's checks pass, and the job waits, pending, while its data source goes away.
    const { jobId } = await harness.jobs.startJob({
      jobType: 'intelligent_sampling',
      owner: `vanishing-${Date.now()}`,
      dataSourceId: VANISHING,
      confidenceLevel: 0.95,
      marginOfError: 0.05,
      seed: 1,
    });
    await harness.db.deleteFrom('data_sources').where('id', '=', VANISHING).execute();
    const worker = await harness.startWorker();
    try {
      // It should end within a second or two; 60 s bounds it even on a busy machine (a retried failure never ends it).
      await waitFor(
        async () => (await harness.jobs.job(jobId))?.status,
        (status) => status === 'failed' || status === 'completed' || status === 'cancelled',
        60_000,
        `job ${jobId} to end`,
      );
      const ended = await harness.jobs
        .handle(jobId)
        .result()
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      // The workflow fails with the activity's own failure as its cause: type, non-retryable, and the reason.
      expect(ended).toBeInstanceOf(WorkflowFailedError);
      const activityFailure = (ended as WorkflowFailedError).cause;
      expect(activityFailure).toBeInstanceOf(ActivityFailure);
      expect((activityFailure as ActivityFailure).activityType).toBe('planSamplingScan');
      expect(activityFailure?.cause).toBeInstanceOf(ApplicationFailure);
      expect(activityFailure?.cause).toMatchObject({
        type: FailureType.InvalidJobInput,
        nonRetryable: true,
        message: `unknown data source ${VANISHING}`,
      });

      const row = await harness.jobs.job(jobId);
      expect(row).toMatchObject({ status: 'failed', error: `unknown data source ${VANISHING}` });

      // From the history: the activity was scheduled once, ran once (attempt 1), failed as InvalidJobInput, and
      // nothing else was scheduled after it (no retry, no further step).
      const events = (await harness.jobs.handle(jobId).fetchHistory()).events ?? [];
      const scheduled = events
        .filter((e) => e.activityTaskScheduledEventAttributes)
        .map((e) => e.activityTaskScheduledEventAttributes!.activityType?.name);
      expect(scheduled).toEqual(['planSamplingScan']);
      const started = events
        .filter((e) => e.activityTaskStartedEventAttributes)
        .map((e) => e.activityTaskStartedEventAttributes!.attempt);
      expect(started).toEqual([1]);
      const failed = events
        .filter((e) => e.activityTaskFailedEventAttributes)
        .map(
          (e) =>
            e.activityTaskFailedEventAttributes!.failure?.cause?.applicationFailureInfo ??
            e.activityTaskFailedEventAttributes!.failure?.applicationFailureInfo,
        );
      expect(failed).toEqual([expect.objectContaining({ type: FailureType.InvalidJobInput, nonRetryable: true })]);
    } finally {
      await worker.stop();
    }
  });
});
