// Idempotent starts through the HTTP API: the `Idempotency-Key` header and the `idempotencyKey` body field
// name one key per owner; a start whose key matches an earlier job with the same request answers 200 with that job
// and starts no second workflow; with a different request it is refused (422); two different keys in one request are refused; a key is an
// identifier (trimmed, non-empty, at most 200 characters, no control characters). No worker runs: every job
// stays pending, which is all a start needs, and rows are the exact count (a start writes its row first).

import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness, type RunningApi } from '../support/harness';
import { waitFor } from '../support/waiting';

let harness: Harness;
let api: RunningApi;
beforeAll(async () => {
  harness = await createHarness();
  api = await harness.startApi();
});
afterAll(() => harness.close());

const job = (extra: Record<string, unknown> = {}) => ({
  jobType: 'data_profiling_llm_generation',
  dataSourceId: DEMO_DATA_SOURCE_ID,
  attributeIds: ['credit_score', 'apr_rate'],
  ...extra,
});

/** A start as `owner`, with the `Idempotency-Key` header when `key` is given. */
async function start(owner: string, body: unknown, key?: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${await api.tokenFor(owner)}`,
    'content-type': 'application/json',
  };
  if (key !== undefined) headers['idempotency-key'] = key;
  const response = await fetch(`${api.url}/api/v1/jobs`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

const rowsOf = (owner: string) =>
  harness.db
    .selectFrom('jobs')
    .select(['id', 'idempotency_key', 'metadata'])
    .where('owner', '=', owner)
    .orderBy('created_at')
    .execute();
/**
 * Visibility is eventually consistent: wait (10 s, far above its lag) until it shows `expected`, then report what it
 * shows.
 */
const workflowsShown = (owner: string, expected: number) =>
  waitFor(
    async () => (await harness.temporal.workflow.count(`JobOwner = '${owner}'`)).count,
    (n) => n >= expected,
    10_000,
    `${expected} workflows of ${owner} in visibility`,
  );
let owners = 0;
const freshOwner = () => `idem-${process.pid}-${++owners}`;

describe('the Idempotency-Key header', () => {
  it('returns the first job for a repeated header with the same body: 200, created false, one row and one workflow', async () => {
    const owner = freshOwner();
    const first = await start(owner, job(), 'nightly-2026-11-30');
    const again = await start(owner, job(), 'nightly-2026-11-30');
    expect(first).toMatchObject({ status: 201, body: { created: true } });
    expect(again).toMatchObject({ status: 200, body: { job_id: first.body.job_id, created: false } });
    expect(await rowsOf(owner)).toEqual([
      expect.objectContaining({ id: first.body.job_id, idempotency_key: 'nightly-2026-11-30' }),
    ]);
    expect(await workflowsShown(owner, 1)).toBe(1);
    expect((await harness.jobs.handle(first.body.job_id).describe()).status.name).toBe('RUNNING');
  });

  it('refuses the same key with a different body: 422 idempotency_key_reused, and starts nothing for it', async () => {
    const owner = freshOwner();
    const first = await start(owner, job({ metadata: { cycle_id: 1 } }), 'report-7');
    const different = await start(
      owner,
      job({ attributeIds: ['billing_zip'], priority: 'high', metadata: { cycle_id: 2 } }),
      'report-7',
    );
    expect(different).toMatchObject({
      status: 422,
      body: {
        type: 'urn:synapse-jobs:problem:idempotency_key_reused',
        code: 'idempotency_key_reused',
        detail: expect.stringContaining(first.body.job_id),
      },
    });
    const rows = await rowsOf(owner);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.metadata).toMatchObject({ cycle_id: 1 });
    expect(await workflowsShown(owner, 1)).toBe(1);
  });

  it('counts a request the same whatever its key order, and with a default spelled out (priority normal)', async () => {
    const owner = freshOwner();
    const first = await start(owner, job({ metadata: { a: 1, b: 2 } }), 'same-1');
    const reordered = await start(owner, { metadata: { b: 2, a: 1 }, priority: 'normal', ...job() }, 'same-1');
    expect(reordered).toMatchObject({ status: 200, body: { job_id: first.body.job_id, created: false } });
  });

  it('refuses a reused key with a different request through JobsClient too (IdempotencyKeyReusedError)', async () => {
    const owner = freshOwner();
    const first = await harness.jobs.startJob({ ...job(), owner, idempotencyKey: 'client-1' } as never);
    const again = await harness.jobs.startJob({ ...job(), owner, idempotencyKey: 'client-1' } as never);
    expect(again).toMatchObject({ jobId: first.jobId, created: false });
    await expect(
      harness.jobs.startJob({ ...job({ attributeIds: ['apr_rate'] }), owner, idempotencyKey: 'client-1' } as never),
    ).rejects.toMatchObject({ name: 'IdempotencyKeyReusedError', httpStatus: 422, code: 'idempotency_key_reused' });
  });

  it('is the same key as the body field: a header key matches a job started with that key in the body, and back', async () => {
    const owner = freshOwner();
    const byBody = await start(owner, job({ idempotencyKey: 'k-body' }));
    const byHeader = await start(owner, job(), 'k-body');
    expect(byHeader).toMatchObject({ status: 200, body: { job_id: byBody.body.job_id, created: false } });
    const byHeaderFirst = await start(owner, job(), 'k-header');
    const byBodyAfter = await start(owner, job({ idempotencyKey: 'k-header' }));
    expect(byBodyAfter).toMatchObject({ status: 200, body: { job_id: byHeaderFirst.body.job_id, created: false } });
    // The same key in both places is one key.
    const both = await start(owner, job({ idempotencyKey: 'k-header' }), 'k-header');
    expect(both).toMatchObject({ status: 200, body: { job_id: byHeaderFirst.body.job_id, created: false } });
    expect((await rowsOf(owner)).map((r) => r.idempotency_key).sort()).toEqual(['k-body', 'k-header']);
  });

  it('refuses a header and a body field naming different keys with 400, even when one matches an earlier job', async () => {
    const owner = freshOwner();
    const earlier = await start(owner, job(), 'k-earlier');
    expect(earlier.status).toBe(201);
    const conflicting = await start(owner, job({ idempotencyKey: 'k-other' }), 'k-earlier');
    expect(conflicting).toMatchObject({
      status: 400,
      body: {
        code: 'invalid_request',
        field: 'idempotencyKey',
        detail: expect.stringMatching(/differs from the Idempotency-Key header/),
      },
    });
    const reversed = await start(owner, job({ idempotencyKey: 'k-earlier' }), 'k-new');
    expect(reversed).toMatchObject({ status: 400, body: { field: 'idempotencyKey' } });
    expect((await rowsOf(owner)).map((r) => r.id)).toEqual([earlier.body.job_id]);
    // Refused starts are audited like any other.
    const audit = await harness.db
      .selectFrom('audit_log')
      .select('outcome')
      .where('actor', '=', owner)
      .where('action', '=', 'start')
      .orderBy('id')
      .execute();
    expect(audit.map((a) => a.outcome)).toEqual([
      'ok',
      expect.stringMatching(/^refused: idempotencyKey: differs/),
      expect.stringMatching(/^refused: idempotencyKey: differs/),
    ]);
  });

  it('keeps keys per owner: the same key from another owner starts that owner’s own job', async () => {
    const [alice, bob] = [freshOwner(), freshOwner()];
    const a = await start(alice, job(), 'shared-key');
    const b = await start(bob, job(), 'shared-key');
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.body.job_id).not.toBe(a.body.job_id);
    expect(b.body.owner).toBe(bob);
  });

  it('takes a body key with surrounding spaces as the trimmed key', async () => {
    const owner = freshOwner();
    const first = await start(owner, job({ idempotencyKey: 'k-trim' }));
    const spaced = await start(owner, job({ idempotencyKey: '  k-trim  ' }));
    expect(spaced).toMatchObject({ status: 200, body: { job_id: first.body.job_id, created: false } });
    expect(await rowsOf(owner)).toHaveLength(1);
  });

  it.each([
    ['an empty header', undefined, ''],
    ['a blank body key', '   ', undefined],
    ['a key over 200 characters', undefined, 'k'.repeat(201)],
    ['a key with a control character', 'k\u0007bell', undefined],
    ['a key that is a number', 42, undefined],
  ])('refuses %s with 400 naming idempotencyKey, starting nothing', async (_name, bodyKey, headerKey) => {
    const owner = freshOwner();
    const refused = await start(owner, job(bodyKey === undefined ? {} : { idempotencyKey: bodyKey }), headerKey);
    expect(refused).toMatchObject({
      status: 400,
      body: { code: 'invalid_request', field: 'idempotencyKey' },
    });
    expect(await rowsOf(owner)).toEqual([]);
  });
});
