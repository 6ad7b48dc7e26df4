// The legacy import against the shared, deliberately damaged jobs_storage.json: exact counts, readable
// rejections, the rows it stores, a second run that changes nothing, and resubmitting interrupted jobs;
// through the HTTP API, imported jobs listed with their statuses and every control on them refused (409).

import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { profilingParamsSchema } from '../../client/profiling/profiling-definition';
import { parseCommonRequest } from '../../client/job-requests';
import { toLegacyStatus } from '../../client/job-status';
import {
  formatImportReport,
  importLegacyJobs,
  legacyResubmitRequest,
  type LegacyImportReport,
} from '../../client/legacy-import/legacy-import';
import { openDatabase } from '../../db/connection';
import { createHarness, type Harness, type RunningApi } from '../support/harness';

// A copy of the shared /work/shared/legacy/jobs_storage.json, so the suite reads nothing outside the repository.
const SAMPLE = path.resolve(__dirname, '../fixtures/legacy/jobs_storage.json');

// Counted by hand from the sample: 65 entries, of which these 5 are damaged.
const REJECTED_KEYS = [
  'not-a-uuid', // job_id "not-a-uuid" is no UUID; created_at missing
  '3437ccaa-0b4e-4f7c-a430-ca6d570b534d', // status "exploded"; created_at "2025-02-30T25:61:00Z" is no real date or time
  '9973cf5c-09c9-4592-8142-05c6fff7ba0d', // job_type 17 (a number); progress_percentage "half"; created_at missing
  '3414c2dc-e9f8-471f-a6d2-1040bb7352c1', // progress_percentage 250; total_steps -3; completed_steps 9 > total_steps; metadata "cycle 3"
  '53c69b0a-d19f-4be9-82e9-c9fbd0930b64', // the record is null
];
const RECORDS = 65;
const VALID = 60;
// The valid records left `running` (6) or `pending` (1) when the legacy process stopped; the running 9973cf5c is
// damaged.
const INTERRUPTED = 7;

const COMPLETED_JOB = '6513270e-269e-4d37-b2a7-4de452e6b438'; // data_profiling_llm_generation, user 2
const RUNNING_JOB = 'e2257159-4720-471f-8ca8-181166d22876'; // data_profiling, user 1, 91 of 145 steps
const OWNERLESS_RUNNING_JOB = '43c71b9a-bd87-4865-97b6-fb7ebfeaa155'; // generate_scoping_recommendations, no user_id
const PENDING_JOB = '11f2d44d-cc35-4834-b4fa-941200d93534'; // current_step and message null in the file

const db = openDatabase(process.env.DATABASE_URL!, 2);
afterAll(() => db.destroy());

/** Rows of the sample's jobs only: other suites may import legacy files of their own into this database. */
async function legacyRowCount(): Promise<number> {
  const sampleIds = Object.keys(JSON.parse(readFileSync(SAMPLE, 'utf8')) as object);
  const { count } = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('source', '=', 'legacy')
    .where('id', 'in', sampleIds)
    .executeTakeFirstOrThrow();
  return Number(count);
}

function storedJob(id: string) {
  return db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

describe('a legacy file that cannot be read as a whole', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'legacy-import-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('throws for a file that is not JSON, and writes nothing', async () => {
    const file = path.join(dir, 'jobs_storage.json');
    writeFileSync(file, '{"6513270e-269e-4d37-b2a7-4de452e6b438": {"job_id": ');
    const before = await legacyRowCount();
    await expect(importLegacyJobs(db, file)).rejects.toThrow(/is not valid JSON.*nothing was imported/);
    expect(await legacyRowCount()).toBe(before);
  });

  it('throws for JSON that is not an object keyed by job id', async () => {
    const file = path.join(dir, 'array.json');
    writeFileSync(file, '[{"job_id": "6513270e-269e-4d37-b2a7-4de452e6b438"}]');
    await expect(importLegacyJobs(db, file)).rejects.toThrow(
      /must hold a JSON object keyed by job id, but holds an array/,
    );
  });

  it('throws for a file that does not exist', async () => {
    await expect(importLegacyJobs(db, path.join(dir, 'missing.json'))).rejects.toThrow(
      /cannot read the legacy jobs file/,
    );
  });
});

describe('importing the shared damaged jobs_storage.json', () => {
  let first: LegacyImportReport;
  let second: LegacyImportReport;
  let rowsAfterFirst: number;

  beforeAll(async () => {
    first = await importLegacyJobs(db, SAMPLE);
    rowsAfterFirst = await legacyRowCount();
    second = await importLegacyJobs(db, SAMPLE);
  });

  it('imports every valid record and rejects exactly the damaged ones', () => {
    expect(first.records).toBe(RECORDS);
    expect(first.imported).toHaveLength(VALID);
    expect(first.alreadyPresent).toEqual([]);
    expect(first.rejected.map((r) => r.key).sort()).toEqual([...REJECTED_KEYS].sort());
    expect(first.interrupted).toHaveLength(INTERRUPTED);
    expect(rowsAfterFirst).toBe(VALID);
  });

  it('gives each rejection a reason naming the damaged field and the value found', () => {
    const reasonOf = (key: string) => first.rejected.find((r) => r.key === key)?.reason;
    expect(reasonOf('not-a-uuid')).toBe('job_id: must be a UUID, got "not-a-uuid"; created_at: is missing');
    expect(reasonOf('3437ccaa-0b4e-4f7c-a430-ca6d570b534d')).toBe(
      'status: must be one of pending, running, completed, failed, cancelled; got "exploded"; ' +
        'created_at: must be an ISO-8601 timestamp of a real date and time, got "2025-02-30T25:61:00Z"',
    );
    expect(reasonOf('9973cf5c-09c9-4592-8142-05c6fff7ba0d')).toMatch(
      /^job_type: must be one of data_profiling_llm_generation, .*; got 17; progress_percentage: must be a number, got "half"; created_at: is missing$/,
    );
    expect(reasonOf('3414c2dc-e9f8-471f-a6d2-1040bb7352c1')).toBe(
      'progress_percentage: must be at most 100, got 250; total_steps: must be at least 0, got -3; ' +
        'metadata: must be an object, got "cycle 3"; completed_steps: 9 is more than total_steps -3',
    );
    expect(reasonOf('53c69b0a-d19f-4be9-82e9-c9fbd0930b64')).toBe('record: must be an object, got null');
  });

  it('stores a completed job as it was, owned by its legacy user id as a token subject', async () => {
    const row = await storedJob(COMPLETED_JOB);
    expect(row).toMatchObject({
      type: 'data_profiling_llm_generation',
      owner: '2',
      status: 'completed',
      workflow_id: COMPLETED_JOB,
      source: 'legacy',
      result: { rules_generated: 852 },
      error: null,
      metadata: {
        cycle_id: 7,
        report_id: 27,
        version_id: '8d116ece-1738-47d9-bd9c-172411e20b8f',
        total_attributes: 142,
        user_id: 2,
      },
      priority: 3,
    });
    expect(row.created_at.toISOString()).toBe('2025-01-10T14:48:00.000Z');
    expect(row.started_at?.toISOString()).toBe('2025-01-10T14:48:12.000Z');
    expect(row.completed_at?.toISOString()).toBe('2025-01-10T15:07:50.595Z');
    expect(row.updated_at.toISOString()).toBe('2025-01-10T15:07:50.595Z');
    expect(row.progress).toEqual({
      jobId: COMPLETED_JOB,
      jobType: 'data_profiling_llm_generation',
      status: 'completed',
      progressPercentage: 100,
      completedSteps: 142,
      totalSteps: 142,
      failedSteps: 0,
      inFlight: 0,
      currentStep: 'Processing item 142 of 142',
      message: 'Analyzing apr_rate',
      startedAt: '2025-01-10T14:48:12.000Z',
      updatedAt: '2025-01-10T15:07:50.595Z',
      etaSeconds: null,
      priority: 3,
    });
  });

  it('answers the legacy status JSON for an imported job from its stored row', async () => {
    const row = await storedJob(COMPLETED_JOB);
    const status = toLegacyStatus(row, row.progress ?? undefined, 'snapshot');
    expect(status).toMatchObject({
      job_id: COMPLETED_JOB,
      status: 'completed',
      progress_percentage: 100,
      completed_steps: 142,
      total_steps: 142,
      owner: '2',
      source: 'legacy',
    });
  });

  it('stores a job the legacy process left running as failed, with the interruption as its error', async () => {
    const row = await storedJob(RUNNING_JOB);
    expect(row).toMatchObject({
      type: 'data_profiling',
      owner: '1',
      status: 'failed',
      error: 'Interrupted: the legacy job manager stopped while this job was running (imported from jobs_storage.json)',
      result: null,
      completed_at: null,
      source: 'legacy',
    });
    expect(row.updated_at.toISOString()).toBe('2025-01-19T00:06:23.000Z');
    expect(row.progress).toMatchObject({
      status: 'failed',
      progressPercentage: 62,
      completedSteps: 91,
      totalSteps: 145,
      currentStep: 'Processing item 91 of 145',
      updatedAt: '2025-01-19T00:06:23.000Z',
    });
  });

  it('keeps the file’s null current step and message of a pending job as null, not as empty text', async () => {
    const row = await storedJob(PENDING_JOB);
    expect(row.progress).toMatchObject({ status: 'failed', currentStep: null, message: null });
    expect(toLegacyStatus(row, row.progress ?? undefined, 'snapshot')).toMatchObject({
      current_step: null,
      message: null,
    });
  });

  it('lists interrupted jobs with their original status, and owns a job without user id as legacy-unknown', () => {
    expect(first.interrupted.map((job) => job.status).sort()).toEqual([
      'pending',
      'running',
      'running',
      'running',
      'running',
      'running',
      'running',
    ]);
    expect(first.interrupted).toContainEqual({
      jobId: RUNNING_JOB,
      jobType: 'data_profiling',
      owner: '1',
      status: 'running',
      completedSteps: 91,
      totalSteps: 145,
    });
    expect(first.interrupted).toContainEqual({
      jobId: OWNERLESS_RUNNING_JOB,
      jobType: 'generate_scoping_recommendations',
      owner: 'legacy-unknown',
      status: 'running',
      completedSteps: 33,
      totalSteps: 46,
    });
  });

  it('imports nothing the second time, reporting every valid record as already present and the same rejections', async () => {
    expect(second.records).toBe(RECORDS);
    expect(second.imported).toEqual([]);
    expect(second.alreadyPresent.sort()).toEqual([...first.imported].sort());
    expect(second.rejected).toEqual(first.rejected);
    expect(second.interrupted).toEqual(first.interrupted);
    expect(await legacyRowCount()).toBe(rowsAfterFirst);
  });

  it('summarises the import for the CLI with counts, rejections and interrupted jobs', () => {
    const text = formatImportReport(first);
    expect(text).toContain(`${RECORDS} records`);
    expect(text).toMatch(/imported\s+60\n/);
    expect(text).toMatch(/rejected\s+5\n/);
    expect(text).toContain('  not-a-uuid: job_id: must be a UUID, got "not-a-uuid"; created_at: is missing');
    expect(text).toContain(`${RUNNING_JOB}  data_profiling  was running, 91/145 steps, owner 1`);
  });
});

describe('imported jobs through the HTTP API', () => {
  const CANCELLED_JOB = '5b06258e-7e26-436a-8483-f8b8332dd331'; // data_profiling_llm_generation, user 4, "Cancelled by user"
  const FAILED_JOB = '34b9b5df-9e77-49b1-8f42-05b4907a70c3'; // generate_scoping_recommendations, user 4, "connection to database lost"
  let harness: Harness;
  let api: RunningApi;
  beforeAll(async () => {
    harness = await createHarness();
    api = await harness.startApi();
    // Already imported by the suite above when run with it; importing again changes nothing.
    await importLegacyJobs(db, SAMPLE);
  });
  afterAll(() => harness.close());

  const listedAs = async (subject: string, query: string, roles: string[] = []) => {
    const response = await api.request(subject, 'GET', `/api/v1/jobs?${query}&limit=500`, undefined, roles);
    expect(response.status).toBe(200);
    return response.body.jobs as Record<string, any>[];
  };

  it('lists imported jobs, to their owner and to an admin, with the status the file gave them (interrupted ones failed)', async () => {
    const ownJobs = await listedAs('4', 'type=data_profiling_llm_generation');
    expect(ownJobs.find((j) => j.job_id === CANCELLED_JOB)).toMatchObject({
      status: 'cancelled',
      source: 'legacy',
      owner: '4',
      error: 'Cancelled by user',
    });
    const byStatus = await listedAs('root', 'owner=4&status=failed', ['admin']);
    expect(byStatus.find((j) => j.job_id === FAILED_JOB)).toMatchObject({
      status: 'failed',
      source: 'legacy',
      job_type: 'generate_scoping_recommendations',
      error: 'connection to database lost',
    });
    const completed = await listedAs('root', 'owner=2&status=completed', ['admin']);
    expect(completed.find((j) => j.job_id === COMPLETED_JOB)).toMatchObject({
      status: 'completed',
      source: 'legacy',
      progress_percentage: 100,
      completed_steps: 142,
      created_at: '2025-01-10T14:48:00.000Z',
    });
    const interrupted = await listedAs('1', 'status=failed');
    expect(interrupted.find((j) => j.job_id === RUNNING_JOB)).toMatchObject({
      status: 'failed',
      source: 'legacy',
      completed_steps: 91,
      error: expect.stringMatching(/^Interrupted: the legacy job manager stopped while this job was running/),
    });
    // Another owner's imported job is not theirs to see.
    expect((await listedAs('1', 'owner=2')).some((j) => j.job_id === COMPLETED_JOB)).toBe(false);
  });

  it.each([
    ['pause', 'pause', undefined],
    ['pause now', 'pause', { now: true }],
    ['resume', 'resume', undefined],
    ['cancel', 'cancel', undefined],
    ['a priority change', 'priority', { priority: 'high' }],
  ])('refuses %s of an imported job with 409, changing nothing and starting nothing', async (_name, action, body) => {
    for (const [jobId, owner] of [
      [COMPLETED_JOB, '2'],
      [RUNNING_JOB, '1'],
      [CANCELLED_JOB, '4'],
    ] as const) {
      const before = await storedJob(jobId);
      const refused = await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/${action}`, body);
      expect(refused).toMatchObject({
        status: 409,
        body: {
          code: 'wrong_state',
          detail: `job ${jobId} was imported from the legacy job manager; nothing of it is running`,
        },
      });
      expect(await storedJob(jobId)).toEqual(before);
      // Nothing of it runs in Temporal, before or after.
      await expect(harness.jobs.handle(jobId).describe()).rejects.toThrow(/not found/i);
    }
  });
});

describe('records whose text PostgreSQL cannot store', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'legacy-unstorable-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const record = (jobId: string, extra: Record<string, unknown> = {}) => ({
    job_id: jobId,
    job_type: 'data_profiling',
    status: 'completed',
    progress_percentage: 100,
    total_steps: 2,
    completed_steps: 2,
    current_step: 'Done',
    message: 'Finished',
    created_at: '2025-03-01T10:00:00Z',
    metadata: { user_id: 3 },
    ...extra,
  });

  it('rejects each by its job id and field, and imports the rest in one transaction', async () => {
    const [good, nul, surrogate, key] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const file = path.join(dir, 'jobs_storage.json');
    // JSON.stringify writes the NUL and the lone surrogates as \u escapes, as Python's json.dump would.
    writeFileSync(
      file,
      JSON.stringify({
        [good]: record(good),
        [nul]: record(nul, { current_step: 'Processing item 3\u0000 of 9' }),
        [surrogate]: record(surrogate, { metadata: { user_id: 3, notes: ['fine', 'broken \ud83d'] } }),
        [key]: record(key, { metadata: { user_id: 3, ['cycle\udc00']: 1 } }),
      }),
    );
    const report = await importLegacyJobs(db, file);
    expect(report.imported).toEqual([good]);
    expect(report.rejected).toEqual([
      { key: nul, reason: 'current_step: contains a NUL character (U+0000), which PostgreSQL cannot store' },
      {
        key: surrogate,
        reason: 'metadata.notes.1: contains a lone UTF-16 surrogate (not a character), which cannot be stored as given',
      },
      {
        key,
        reason:
          'metadata: key "cycle\\udc00" contains a lone UTF-16 surrogate (not a character), which cannot be stored as given',
      },
    ]);
    expect(formatImportReport(report)).toContain(`  ${nul}: current_step: contains a NUL character`);
    const stored = await db.selectFrom('jobs').select('id').where('id', 'in', [good, nul, surrogate, key]).execute();
    expect(stored.map((row) => row.id)).toEqual([good]);
  });
});

describe('resubmitting an interrupted legacy job', () => {
  const defaults = { dataSourceId: 'demo_credit_card_accounts', owner: '1' };
  const limits = {
    JOB_DEFAULT_LLM_CONCURRENCY: 10,
    JOB_MAX_LLM_CONCURRENCY: 200,
    JOB_MAX_ATTRIBUTES: 20_000,
    JOB_START_COUNT_TIMEOUT_MS: 10_000,
  };

  it('turns a data_profiling job into a valid start request keeping its metadata and legacy job id', () => {
    const metadata = { cycle_id: 4, report_id: 10, user_id: 1 };
    const request = legacyResubmitRequest({ jobId: RUNNING_JOB, jobType: 'data_profiling', metadata }, defaults);
    expect(request).toEqual({
      jobType: 'data_profiling',
      owner: '1',
      dataSourceId: 'demo_credit_card_accounts',
      metadata: { ...metadata, legacy_job_id: RUNNING_JOB },
      idempotencyKey: `legacy-resubmit:${RUNNING_JOB}`,
    });
    expect(() =>
      parseCommonRequest(request, {
        JOB_DEFAULT_USE_LLM_CACHE: true,
        JOB_MAX_METADATA_BYTES: 16_384,
        JOB_MAX_METADATA_DEPTH: 8,
        CALLBACK_ALLOWED_HOSTS: [],
        CALLBACK_SECRET: undefined,
      }),
    ).not.toThrow();
    expect(profilingParamsSchema(limits).safeParse(request).success).toBe(true);
  });

  it('skips a job type whose parameters the legacy record does not hold, saying so', () => {
    expect(legacyResubmitRequest({ jobType: 'intelligent_sampling', metadata: {} }, defaults)).toEqual({
      skipped: expect.stringContaining('job type intelligent_sampling needs parameters'),
    });
  });

  it('skips a rule-execution job, which needs the rules job it would run', () => {
    const outcome = legacyResubmitRequest({ jobType: 'data_profiling_rule_execution', metadata: {} }, defaults);
    expect(outcome).toEqual({ skipped: expect.stringContaining('rulesFromJobId') });
  });
});
