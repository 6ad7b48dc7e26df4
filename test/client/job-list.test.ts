// The job list's documented filters through the HTTP API (`GET /api/v1/jobs?status=&type=&owner=&cycleId=
// &reportId=&createdAfter=&createdBefore=&limit=&offset=`), each asserted as the exact ids it answers, in
// order (newest first), over job rows this suite writes itself with fixed creation times and owners of its
// own. The list reads the jobs table only, so the rows need no workflow, and no worker runs.

import { randomUUID } from 'node:crypto';
import { createHarness, type Harness, type RunningApi } from '../support/harness';

let harness: Harness;
let api: RunningApi;

const alice = `list-alice-${process.pid}-${Date.now()}`;
const bob = `list-bob-${process.pid}-${Date.now()}`;
// Report ids of this run only, so a report filter across every owner finds no other suite's jobs.
const report = (n: number) => `r-${n}-${process.pid}`;
const ids: Record<'r1' | 'r2' | 'r3' | 'r4' | 'r5', string> = {
  r1: randomUUID(),
  r2: randomUUID(),
  r3: randomUUID(),
  r4: randomUUID(),
  r5: randomUUID(),
};

beforeAll(async () => {
  harness = await createHarness();
  api = await harness.startApi();
  const row = (
    id: string,
    owner: string,
    type: string,
    status: string,
    createdAt: string,
    metadata: Record<string, unknown>,
  ) => ({
    id,
    type,
    owner,
    status,
    workflow_id: id,
    metadata: JSON.stringify(metadata),
    created_at: new Date(createdAt),
    updated_at: new Date(createdAt),
    task_queue: harness.config.TEMPORAL_TASK_QUEUE,
  });
  await harness.db
    .insertInto('jobs')
    .values([
      row(ids.r1, alice, 'data_profiling', 'completed', '2026-01-01T00:00:00Z', { cycle_id: 10, report_id: report(1) }),
      row(ids.r2, alice, 'data_profiling_llm_generation', 'failed', '2026-01-02T00:00:00Z', {
        cycle_id: 10,
        report_id: report(2),
      }),
      row(ids.r3, alice, 'intelligent_sampling', 'paused', '2026-01-03T00:00:00Z', { cycle_id: 11 }),
      // cycle_id as text: the filter compares the stored value as text, as Temporal's CycleId search attribute holds
      // it.
      row(ids.r4, alice, 'data_profiling', 'cancelled', '2026-01-04T00:00:00Z', {
        cycle_id: '10',
        report_id: report(4),
      }),
      row(ids.r5, bob, 'data_profiling', 'completed', '2026-01-05T00:00:00Z', { cycle_id: 10, report_id: report(1) }),
    ])
    .execute();
});
afterAll(async () => {
  await harness.db.deleteFrom('jobs').where('id', 'in', Object.values(ids)).execute();
  await harness.close();
});

/** The ids a list request answers, in the order answered; as an admin unless `subject` is given. */
async function listed(query: string, subject?: string): Promise<string[]> {
  const response = subject
    ? await api.request(subject, 'GET', `/api/v1/jobs?${query}`)
    : await api.request('list-admin', 'GET', `/api/v1/jobs?${query}`, undefined, ['admin']);
  expect(response.status).toBe(200);
  return response.body.jobs.map((job: { job_id: string }) => job.job_id);
}

describe('GET /api/v1/jobs filters', () => {
  it('owner (admin): exactly that owner’s jobs, newest first', async () => {
    expect(await listed(`owner=${alice}`)).toEqual([ids.r4, ids.r3, ids.r2, ids.r1]);
    expect(await listed(`owner=${bob}`)).toEqual([ids.r5]);
  });

  it('owner for a non-admin: always their own jobs, whatever owner they name', async () => {
    expect(await listed(`owner=${alice}`, bob)).toEqual([ids.r5]);
    expect(await listed('', bob)).toEqual([ids.r5]);
    expect(await listed('', alice)).toEqual([ids.r4, ids.r3, ids.r2, ids.r1]);
  });

  it('status', async () => {
    expect(await listed(`owner=${alice}&status=failed`)).toEqual([ids.r2]);
    expect(await listed(`owner=${alice}&status=paused`)).toEqual([ids.r3]);
    expect(await listed(`owner=${alice}&status=running`)).toEqual([]);
  });

  it('type', async () => {
    expect(await listed(`owner=${alice}&type=data_profiling`)).toEqual([ids.r4, ids.r1]);
    expect(await listed(`owner=${alice}&type=intelligent_sampling`)).toEqual([ids.r3]);
  });

  it('cycleId, matching a number and the same digits as text alike', async () => {
    expect(await listed(`owner=${alice}&cycleId=10`)).toEqual([ids.r4, ids.r2, ids.r1]);
    expect(await listed(`owner=${alice}&cycleId=11`)).toEqual([ids.r3]);
  });

  it('reportId, across owners for an admin', async () => {
    expect(await listed(`owner=${alice}&reportId=${report(2)}`)).toEqual([ids.r2]);
    const everyone = await listed(`reportId=${report(1)}`);
    expect(everyone).toEqual([ids.r5, ids.r1]);
  });

  it('createdAfter (inclusive) and createdBefore (exclusive)', async () => {
    expect(await listed(`owner=${alice}&createdAfter=2026-01-02T00:00:00Z&createdBefore=2026-01-04T00:00:00Z`)).toEqual(
      [ids.r3, ids.r2],
    );
    expect(await listed(`owner=${alice}&createdAfter=2026-01-04T00:00:00Z`)).toEqual([ids.r4]);
  });

  it('filters together', async () => {
    expect(await listed(`owner=${alice}&cycleId=10&type=data_profiling&status=completed`)).toEqual([ids.r1]);
  });

  it('limit and offset page through the newest-first order', async () => {
    expect(await listed(`owner=${alice}&limit=2`)).toEqual([ids.r4, ids.r3]);
    expect(await listed(`owner=${alice}&limit=2&offset=2`)).toEqual([ids.r2, ids.r1]);
    expect(await listed(`owner=${alice}&limit=2&offset=4`)).toEqual([]);
  });

  it('shows each listed job’s fields as stored', async () => {
    const response = await api.request(alice, 'GET', `/api/v1/jobs?reportId=${report(2)}`);
    expect(response.body.jobs).toEqual([
      expect.objectContaining({
        job_id: ids.r2,
        job_type: 'data_profiling_llm_generation',
        status: 'failed',
        owner: alice,
        metadata: { cycle_id: 10, report_id: report(2) },
        created_at: '2026-01-02T00:00:00.000Z',
      }),
    ]);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=501', 'limit'],
    ['offset=-1', 'offset'],
    ['status=exploded', 'status'],
    ['createdAfter=not-a-date', 'createdAfter'],
  ])('refuses %s with 400 naming the field', async (query, field) => {
    const response = await api.request('list-admin', 'GET', `/api/v1/jobs?${query}`, undefined, ['admin']);
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', field } } });
  });
});
