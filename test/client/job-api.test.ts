// The HTTP API's guarantees around jobs rather than their control: bearer tokens, owner isolation and
// admin access, the active-jobs quota, idempotent starts, clear 4xx errors with nothing started, and a
// status endpoint that keeps answering when every worker is gone.

import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import { CycleIdKey } from '../../common/search-attributes';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, TEST_JWT_SECRET, type Harness, type RunningApi } from '../support/harness';
import { waitFor } from '../support/waiting';

let harness: Harness;
let api: RunningApi;

beforeAll(async () => {
  harness = await createHarness({ config: { JOB_MAX_ACTIVE_PER_OWNER: 2 } });
  api = await harness.startApi();
});
afterAll(() => harness.close());

const job = (extra: Record<string, unknown> = {}) => ({
  jobType: 'data_profiling_llm_generation',
  dataSourceId: DEMO_DATA_SOURCE_ID,
  attributeIds: ['credit_score', 'apr_rate', 'billing_zip', 'account_status'],
  llmConcurrency: 1,
  ...extra,
});
const workflowsOf = async (owner: string) => (await harness.temporal.workflow.count(`JobOwner = '${owner}'`)).count;
const rowsOf = async (owner: string) =>
  (await harness.db.selectFrom('jobs').select('id').where('owner', '=', owner).execute()).length;
/**
 * The owner's workflows once visibility (eventually consistent) shows at least `expected`: a start writes its row
 * first, so the row count is the exact check and this one says Temporal agrees; 10 s is far above visibility's lag.
 */
const workflowsShown = (owner: string, expected: number) =>
  waitFor(
    () => workflowsOf(owner),
    (n) => n >= expected,
    10_000,
    `${expected} workflows of ${owner} in visibility`,
  );

/** A request with a token made of exactly these claims, for the tokens the harness would never sign. */
async function requestWithClaims(
  claims: Record<string, unknown>,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}
const inAnHour = () => Math.floor(Date.now() / 1_000) + 3_600;

describe('authentication and ownership', () => {
  let jobId: string;
  beforeAll(async () => {
    const worker = await harness.startWorker();
    jobId = (await api.request('alice', 'POST', '/api/v1/jobs', job())).body.job_id;
    await harness.jobs.waitForJob(jobId);
    await worker.stop();
  });

  it('refuses requests without a valid bearer token with 401', async () => {
    const missing = await fetch(`${api.url}/api/v1/jobs/${jobId}/status`);
    expect(missing.status).toBe(401);
    const forged = await fetch(`${api.url}/api/v1/jobs/${jobId}/status`, {
      headers: { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.bad' },
    });
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { code: string }).code).toBe('unauthorized');
  });

  it("answers 404 for someone else's job, to reads and to control alike", async () => {
    expect((await api.request('mallory', 'GET', `/api/v1/jobs/${jobId}/status`)).status).toBe(404);
    expect((await api.request('mallory', 'POST', `/api/v1/jobs/${jobId}/cancel`)).status).toBe(404);
    expect((await api.request('mallory', 'GET', '/api/v1/jobs')).body.jobs).toEqual([]);
  });

  it('lets an admin see and list every owner’s jobs', async () => {
    expect((await api.request('root', 'GET', `/api/v1/jobs/${jobId}/status`, undefined, ['admin'])).body.owner).toBe(
      'alice',
    );
    const listed = await api.request('root', 'GET', '/api/v1/jobs?owner=alice', undefined, ['admin']);
    expect(listed.body.jobs.map((j: { job_id: string }) => j.job_id)).toContain(jobId);
  });

  it('returns the legacy status shape, field for field', async () => {
    const { status, body } = await api.request('alice', 'GET', `/api/v1/jobs/${jobId}/status`);
    expect(status).toBe(200);
    for (const field of [
      'job_id',
      'job_type',
      'status',
      'progress_percentage',
      'current_step',
      'total_steps',
      'completed_steps',
      'message',
      'result',
      'error',
      'created_at',
      'started_at',
      'completed_at',
      'metadata',
    ]) {
      expect(body).toHaveProperty(field);
    }
    expect(body).toMatchObject({
      job_id: jobId,
      job_type: 'data_profiling_llm_generation',
      status: 'completed',
      progress_percentage: 100,
      total_steps: 4,
      completed_steps: 4,
      error: null,
    });
  });
});

describe('one identity rule', () => {
  it("refuses a subject with surrounding whitespace, so it can neither create jobs in the trimmed owner's name nor fill their quota", async () => {
    const refused = await requestWithClaims({ sub: 'victim ', exp: inAnHour() }, 'POST', '/api/v1/jobs', job());
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toMatch(/surrounding whitespace/);
    expect(await rowsOf('victim')).toBe(0);
    expect(await workflowsOf('victim')).toBe(0);
  });

  it('answers a numeric subject with 401, not a 500 from the job list', async () => {
    const listed = await requestWithClaims({ sub: 12345, exp: inAnHour() }, 'GET', '/api/v1/jobs');
    expect(listed).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
  });

  it('refuses a token without an expiry, and one that lives longer than JWT_MAX_LIFETIME_S', async () => {
    expect((await requestWithClaims({ sub: 'alice' }, 'GET', '/api/v1/jobs')).status).toBe(401);
    const now = Math.floor(Date.now() / 1_000);
    expect(
      (
        await requestWithClaims(
          { sub: 'alice', iat: now, exp: now + harness.config.JWT_MAX_LIFETIME_S + 60 },
          'GET',
          '/api/v1/jobs',
        )
      ).status,
    ).toBe(401);
  });

  it("grants no admin for a singular `role` claim: someone else's job stays 404", async () => {
    const started = await api.request('role-owner', 'POST', '/api/v1/jobs', job());
    expect(started.status).toBe(201);
    const asRole = await requestWithClaims(
      { sub: 'role-claimer', role: 'admin', exp: inAnHour() },
      'GET',
      `/api/v1/jobs/${started.body.job_id}/status`,
    );
    expect(asRole.status).toBe(404);
    await api.request('role-owner', 'POST', `/api/v1/jobs/${started.body.job_id}/cancel`);
  });
});

describe('bounded and storable input', () => {
  it.each([
    ['metadata over JOB_MAX_METADATA_BYTES', { metadata: { notes: 'x'.repeat(20_000) } }, 'metadata'],
    // As text: JSON.stringify itself runs out of stack on 5 000 levels.
    [
      'metadata nested 5 000 deep',
      JSON.stringify(job({ metadata: { deep: 'DEEP' } })).replace('"DEEP"', '['.repeat(5_000) + ']'.repeat(5_000)),
      'metadata',
    ],
    [
      'a cycle_id over Temporal’s 2 KB search-attribute limit',
      { metadata: { cycle_id: 'c'.repeat(3_000) } },
      'metadata.cycle_id',
    ],
    ['a report_id that is an object', { metadata: { report_id: { nested: true } } }, 'metadata.report_id'],
    ['a NUL in the job type', { jobType: 'data_profiling\u0000' }, 'jobType'],
    ['a NUL in a metadata key', { metadata: { 'a\u0000b': 1 } }, 'metadata'],
    ['a lone surrogate deep in metadata', { metadata: { a: { b: ['ok', 'x\ud800'] } } }, 'metadata.a.b.1'],
  ])('answers %s with 400 naming the field, starting nothing', async (_name, extra, field) => {
    const response = await api.request(
      'bounded',
      'POST',
      '/api/v1/jobs',
      typeof extra === 'string' ? extra : job(extra),
    );
    expect(response).toMatchObject({ status: 400, body: { code: 'invalid_request', field } });
    expect(await rowsOf('bounded')).toBe(0);
    expect(await workflowsOf('bounded')).toBe(0);
  });

  it('accepts a cycle_id right at the search-attribute limit, and Temporal stores it', async () => {
    const cycleId = 'c'.repeat(2_046); // 2 048 bytes as the JSON payload Temporal measures
    const started = await api.request('long-cycle', 'POST', '/api/v1/jobs', job({ metadata: { cycle_id: cycleId } }));
    expect(started.status).toBe(201);
    const described = await harness.jobs.handle(started.body.job_id).describe();
    expect(described.typedSearchAttributes.get(CycleIdKey)).toBe(cycleId);
    await api.request('long-cycle', 'POST', `/api/v1/jobs/${started.body.job_id}/cancel`);
  });

  it('refuses idempotency keys with lone surrogates, which would be stored alike and return another key’s job', async () => {
    const first = await api.request('surrogates', 'POST', '/api/v1/jobs', job({ idempotencyKey: 'key-\ud800' }));
    const second = await api.request('surrogates', 'POST', '/api/v1/jobs', job({ idempotencyKey: 'key-\udc00' }));
    for (const response of [first, second])
      expect(response).toMatchObject({ status: 400, body: { field: 'idempotencyKey' } });
    expect(await rowsOf('surrogates')).toBe(0);
  });

  it('answers a NUL in a list filter with 400 naming it', async () => {
    const listed = await api.request('root', 'GET', '/api/v1/jobs?owner=alice%00', undefined, ['admin']);
    expect(listed).toMatchObject({ status: 400, body: { field: 'owner' } });
  });

  it('audits every refused start, a NUL in its job type included, keeping a bounded excerpt and the sha256 of what was sent', async () => {
    const hugeType = 'data_profiling'.repeat(60_000); // 840 000 characters, inside the 1 MB body limit
    const before = new Date();
    expect((await api.request('auditee', 'POST', '/api/v1/jobs', job({ jobType: hugeType }))).status).toBe(400);
    expect(
      (await api.request('auditee', 'POST', '/api/v1/jobs', job({ jobType: 'data_profiling\u0000' }))).status,
    ).toBe(400);
    const rows = await harness.db
      .selectFrom('audit_log')
      .select(['outcome', 'detail'])
      .where('actor', '=', 'auditee')
      .where('action', '=', 'start')
      .where('at', '>=', before)
      .orderBy('id')
      .execute();
    expect(rows).toHaveLength(2);
    expect(rows.every((row) => row.outcome.startsWith('refused: jobType'))).toBe(true);
    expect(rows[0]!.detail.jobType).toEqual({
      truncated: hugeType.slice(0, 256),
      length: hugeType.length,
      sha256: createHash('sha256').update(JSON.stringify(hugeType)).digest('hex'),
    });
    expect(JSON.stringify(rows[0]!.detail).length).toBeLessThan(1_000);
    expect(rows[1]!.detail.jobType).toMatchObject({
      truncated: 'data_profiling\\0',
      sha256: createHash('sha256').update(JSON.stringify('data_profiling\u0000')).digest('hex'),
    });
  });
});

describe('job lists', () => {
  let completedId: string;
  let largeId: string;
  const notes = 'n'.repeat(10_000);
  beforeAll(async () => {
    const worker = await harness.startWorker();
    completedId = (
      await api.request(
        'lister',
        'POST',
        '/api/v1/jobs',
        job({ attributeIds: ['credit_score'], metadata: { cycle_id: 4 } }),
      )
    ).body.job_id;
    await harness.jobs.waitForJob(completedId);
    await worker.stop();
    largeId = (
      await api.request('lister', 'POST', '/api/v1/jobs', job({ metadata: { cycle_id: 5, report_id: 'r-9', notes } }))
    ).body.job_id;
  });
  afterAll(() => api.request('lister', 'POST', `/api/v1/jobs/${largeId}/cancel`));

  const entry = (body: { jobs: { job_id: string }[] }, id: string) =>
    body.jobs.find((j) => j.job_id === id) as Record<string, any>;

  it('answers without results by default, and with them on include=result', async () => {
    const { body: status } = await api.request('lister', 'GET', `/api/v1/jobs/${completedId}/status`);
    expect(status.result).toEqual(expect.objectContaining({}));
    const plain = entry((await api.request('lister', 'GET', '/api/v1/jobs')).body, completedId);
    expect(plain).not.toHaveProperty('result');
    expect(plain).toMatchObject({
      job_id: completedId,
      status: 'completed',
      progress_percentage: 100,
      metadata: { cycle_id: 4 },
    });
    const withResult = entry((await api.request('lister', 'GET', '/api/v1/jobs?include=result')).body, completedId);
    expect(withResult.result).toEqual(status.result);
  });

  it('summarises metadata over a few KB to its short entries, and gives it whole on include=metadata', async () => {
    const summarised = entry((await api.request('lister', 'GET', '/api/v1/jobs')).body, largeId);
    expect(summarised.metadata).toEqual({
      cycle_id: 5,
      report_id: 'r-9',
      data_source_id: DEMO_DATA_SOURCE_ID,
      total_attributes: 4,
    });
    expect(summarised.metadata_summary.bytes).toBeGreaterThan(10_000);
    const whole = entry((await api.request('lister', 'GET', '/api/v1/jobs?include=metadata,result')).body, largeId);
    expect(whole.metadata.notes).toBe(notes);
    expect(whole).not.toHaveProperty('metadata_summary');
    expect((await api.request('lister', 'GET', `/api/v1/jobs/${largeId}/status`)).body.metadata.notes).toBe(notes);
  });

  it('refuses an unknown include with 400 naming it', async () => {
    expect(await api.request('lister', 'GET', '/api/v1/jobs?include=everything')).toMatchObject({
      status: 400,
      body: { field: 'include.0' },
    });
  });
});

describe('starting jobs', () => {
  it('returns the same job for the same idempotency key instead of starting a second', async () => {
    const first = await api.request('idem', 'POST', '/api/v1/jobs', job({ idempotencyKey: 'report-12-cycle-3' }));
    const again = await api.request('idem', 'POST', '/api/v1/jobs', job({ idempotencyKey: 'report-12-cycle-3' }));
    expect(first.status).toBe(201);
    expect(again).toMatchObject({ status: 200, body: { job_id: first.body.job_id, created: false } });
    expect(await rowsOf('idem')).toBe(1);
    expect(await workflowsShown('idem', 1)).toBe(1);
    await api.request('idem', 'POST', `/api/v1/jobs/${first.body.job_id}/cancel`);
  });

  it('refuses a start over the active-jobs quota with 429 and starts nothing', async () => {
    const a = await api.request('busy', 'POST', '/api/v1/jobs', job());
    const b = await api.request('busy', 'POST', '/api/v1/jobs', job());
    expect([a.status, b.status]).toEqual([201, 201]);
    const refused = await api.request('busy', 'POST', '/api/v1/jobs', job());
    expect(refused.status).toBe(429);
    expect(refused.body.detail).toMatch(/already has 2 active jobs \(limit 2\)/);
    expect(await rowsOf('busy')).toBe(2);
    expect(await workflowsShown('busy', 2)).toBe(2);
    for (const started of [a, b]) await api.request('busy', 'POST', `/api/v1/jobs/${started.body.job_id}/cancel`);
  });

  it.each([
    ['an unknown job type', 400, job({ jobType: 'data_profilng' }), 'jobType'],
    ['an unknown attribute', 400, job({ attributeIds: ['credit_score', 'nope'] }), 'attributeIds.1'],
    ['a wrong type', 400, job({ llmConcurrency: 'many' }), 'llmConcurrency'],
    ['malformed JSON', 400, '{"jobType": ', undefined],
    ['a JSON array', 400, '[1,2]', undefined],
    ['an oversized body', 413, job({ metadata: { blob: 'x'.repeat(1_100_000) } }), undefined],
  ])('answers %s with %i and a clear message, starting nothing', async (_name, status, body, field) => {
    const response = await api.request('careless', 'POST', '/api/v1/jobs', body);
    expect(response.status).toBe(status);
    expect(response.body.detail).toEqual(expect.any(String));
    if (field) expect(response.body.field).toBe(field);
    expect(await workflowsOf('careless')).toBe(0);
  });

  it('answers unknown endpoints with 404 and wrong methods with 405', async () => {
    expect((await api.request('alice', 'GET', '/api/v1/nothing')).status).toBe(404);
    expect((await api.request('alice', 'DELETE', '/api/v1/jobs')).status).toBe(405);
  });
});

describe('the start answer', () => {
  it('answers a new job from its row, without asking its workflow, which may not have run its first task yet', async () => {
    const worker = await harness.startWorker();
    try {
      const started = await api.request('starter', 'POST', '/api/v1/jobs', job());
      expect(started.status).toBe(201);
      // A worker polls, so a query would have been answered ('live') once the workflow's first task ran.
      expect(started.body).toMatchObject({ created: true, status: 'pending', progress_source: 'snapshot' });
      expect((await harness.jobs.waitForJob(started.body.job_id))?.status).toBe('completed');
    } finally {
      await worker.stop();
    }
  });
});

describe('status without workers', () => {
  it('keeps answering with the last stored progress when every worker is stopped', async () => {
    const attributeIds = ['credit_score', 'apr_rate', 'billing_zip', 'account_status', 'email_address', 'phone_number'];
    // The first two attributes go through; the third waits at the gate, so the job stops mid-work at 2 steps.
    const gate = harness.standin.gate({ items: attributeIds.slice(2).map((a) => `${DEMO_DATA_SOURCE_ID}.${a}`) });
    try {
      const worker = await harness.startWorker();
      const started = await api.request('poller', 'POST', '/api/v1/jobs', job({ attributeIds }));
      const jobId = started.body.job_id;
      await gate.waitUntilHeld(1, 30_000);
      await waitFor(
        async () => (await harness.jobs.job(jobId))?.progress as { completedSteps?: number } | null,
        (p) => (p?.completedSteps ?? 0) >= 2,
        30_000,
        'the stored snapshot to show 2 steps done',
      );
      await worker.stop();
      // A live answer from just before the stop may still be shared with pollers while one query refreshes it; the
      // next answers come from the snapshot. Bounded by the two settings that decide it, with a second to spare.
      const bound = harness.config.STATUS_LIVE_CACHE_MS + harness.config.STATUS_QUERY_TIMEOUT_MS + 1_000;
      await waitFor(
        () => api.request('poller', 'GET', `/api/v1/jobs/${jobId}/status`),
        (r) => r.body.progress_source === 'snapshot',
        bound,
        'status answered from the snapshot',
      );

      const { status, body } = await api.request('poller', 'GET', `/api/v1/jobs/${jobId}/status`);
      expect(status).toBe(200);
      expect(body).toMatchObject({ job_id: jobId, status: 'running', progress_source: 'snapshot', completed_steps: 2 });

      gate.open();
      await harness.startWorker();
      expect((await harness.jobs.waitForJob(jobId))?.status).toBe('completed');
    } finally {
      gate.open();
    }
  });

  it('answers at once, from the stored state, when no worker polls the queue at all', async () => {
    const idle = await createHarness();
    try {
      const idleApi = await idle.startApi();
      const started = await idleApi.request('idle', 'POST', '/api/v1/jobs', job());
      expect(started.status).toBe(201);
      const before = Date.now();
      const { body } = await idleApi.request('idle', 'GET', `/api/v1/jobs/${started.body.job_id}/status`);
      expect(body).toMatchObject({ status: 'pending', progress_source: 'snapshot' });
      expect(Date.now() - before).toBeLessThan(idle.config.STATUS_QUERY_TIMEOUT_MS);
    } finally {
      await idle.close();
    }
  });
});

describe('status shows what is going on', () => {
  it('shows an item being retried, its attempt and the last error class', async () => {
    const flaky = await createHarness({
      faults: {
        rules: [
          { kind: 'server_error', items: [`${DEMO_DATA_SOURCE_ID}.credit_score`], firstCallsPerItem: 1, status: 503 },
        ],
      },
    });
    // The retry (the stand-in's second call) waits at the gate, so the job is caught mid-retry whatever the machine's
    // speed.
    const gate = flaky.standin.gate({ items: [`${DEMO_DATA_SOURCE_ID}.credit_score`], fromCall: 2 });
    try {
      await flaky.startWorker();
      const flakyApi = await flaky.startApi();
      const jobId = (await flakyApi.request('retrier', 'POST', '/api/v1/jobs', job({ attributeIds: ['credit_score'] })))
        .body.job_id;
      await gate.waitUntilHeld(1);
      // Heartbeats are throttled: the one saying the retry is out at the provider may follow the one that said it was
      // waiting to retry.
      const { body } = await waitFor(
        () => flakyApi.request('retrier', 'GET', `/api/v1/jobs/${jobId}/status`),
        (r) => r.body.trouble?.items?.[0]?.waiting_for === 'llm',
        10_000,
        'status to show the retry at the provider',
      );
      expect(body).toMatchObject({
        status: 'running',
        trouble: { items_retrying: 1, last_error_type: 'LlmUnavailable', last_error: expect.stringMatching(/503/) },
      });
      // The LLM activity waits out a 503 inside its first attempt (retries by time), so the retry shows in its
      // heartbeat, not as attempt 2.
      expect(body.trouble.items).toEqual([
        expect.objectContaining({
          item: 'credit_score',
          attempt: 1,
          retries: 1,
          waiting_for: 'llm',
          last_error_type: 'LlmUnavailable',
        }),
      ]);
      gate.open();
      expect((await flaky.jobs.waitForJob(jobId))?.status).toBe('completed');
      expect((await flakyApi.request('retrier', 'GET', `/api/v1/jobs/${jobId}/status`)).body.trouble).toBeNull();
    } finally {
      gate.open();
      await flaky.close();
    }
  });

  it('accepts a pause while no worker runs as a request it shows, accepts resume after it, and applies both once a worker is back', async () => {
    const lonely = await createHarness();
    const gate = lonely.standin.gate({ items: [`${DEMO_DATA_SOURCE_ID}.credit_score`] });
    try {
      const worker = await lonely.startWorker();
      const lonelyApi = await lonely.startApi();
      const jobId = (
        await lonelyApi.request('lonely', 'POST', '/api/v1/jobs', job({ attributeIds: ['credit_score', 'apr_rate'] }))
      ).body.job_id;
      await gate.waitUntilHeld(1);
      await worker.stop();

      const paused = await lonelyApi.request('lonely', 'POST', `/api/v1/jobs/${jobId}/pause`);
      expect(paused).toMatchObject({
        status: 202,
        body: { status: 'running', requested_action: 'pause', requested_at: expect.any(String) },
      });
      expect((await lonelyApi.request('lonely', 'GET', `/api/v1/jobs/${jobId}/status`)).body).toMatchObject({
        status: 'running',
        requested_action: 'pause',
      });
      expect((await lonelyApi.request('lonely', 'GET', '/api/v1/jobs')).body.jobs).toEqual([
        expect.objectContaining({ job_id: jobId, requested_action: 'pause' }),
      ]);
      const resumed = await lonelyApi.request('lonely', 'POST', `/api/v1/jobs/${jobId}/resume`);
      expect(resumed.status).toBe(202);

      gate.open();
      await lonely.startWorker();
      expect((await lonely.jobs.waitForJob(jobId))?.status).toBe('completed');
      expect((await lonelyApi.request('lonely', 'GET', `/api/v1/jobs/${jobId}/status`)).body).toMatchObject({
        status: 'completed',
        requested_action: null,
      });
    } finally {
      gate.open();
      await lonely.close();
    }
  });
});
