// The job list's documented filters through the HTTP API (`GET /api/v1/jobs?status=&type=&owner=&cycleId=
// &reportId=&createdAfter=&createdBefore=&limit=&cursor=`), each asserted as the exact ids it answers, in
// order (newest first), over job rows this suite writes itself with fixed creation times and owners of its
// own; cursor pages (next_cursor, next, Link) over many jobs created in the same millisecond, and the list as
// JobsClient.list (an array) and listPage give it. The list reads the jobs table only, so the rows need no workflow,
// and no worker runs.

import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
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

/** One page as an admin: its ids, its next page (cursor, link, Link header). */
async function pageOf(query: string) {
  const response = await fetch(`${api.url}/api/v1/jobs?${query}`, {
    headers: { authorization: `Bearer ${await api.tokenFor('list-admin', ['admin'])}` },
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as {
    jobs: { job_id: string }[];
    next_cursor: string | null;
    next: string | null;
  };
  return {
    ids: body.jobs.map((job) => job.job_id),
    nextCursor: body.next_cursor,
    next: body.next,
    link: response.headers.get('link'),
  };
}

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

  it('limit and cursor page through the newest-first order, with next, next_cursor and a Link header', async () => {
    const first = await pageOf(`owner=${alice}&limit=2&type=data_profiling&include=metadata`);
    expect(first.ids).toEqual([ids.r4, ids.r1]);
    expect(first.nextCursor).toBeNull();
    expect(first.link).toBeNull();
    const one = await pageOf(`owner=${alice}&limit=2`);
    expect(one.ids).toEqual([ids.r4, ids.r3]);
    expect(one.next).toBe(`/api/v1/jobs?owner=${alice}&limit=2&cursor=${one.nextCursor}`);
    expect(one.link).toBe(`<${one.next}>; rel="next"`);
    const two = await pageOf(one.next!.split('?')[1]!);
    expect(two.ids).toEqual([ids.r2, ids.r1]);
    // Exactly four: the last page says so, rather than leading to an empty one.
    expect(two.next).toBeNull();
  });

  it('JobsClient.list still answers an array, and listPage the page beside it', async () => {
    const admin = { subject: 'list-admin', admin: true };
    const all = await harness.jobs.list(admin, { owner: alice, limit: 3 });
    expect(all.map((job) => job.job_id)).toEqual([ids.r4, ids.r3, ids.r2]);
    const page = await harness.jobs.listPage(admin, { owner: alice, limit: 3 });
    expect(page.jobs.map((job) => job.job_id)).toEqual([ids.r4, ids.r3, ids.r2]);
    const rest = await harness.jobs.listPage(admin, { owner: alice, limit: 3, cursor: page.nextCursor! });
    expect(rest).toEqual({ jobs: [expect.objectContaining({ job_id: ids.r1 })], nextCursor: null });
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
    ['offset=2', 'offset'],
    ['cursor=not-a-cursor', 'cursor'],
    ['color=blue', 'color'],
    ['status=exploded', 'status'],
    ['createdAfter=not-a-date', 'createdAfter'],
  ])('refuses %s with 400 naming the field', async (query, field) => {
    const response = await api.request('list-admin', 'GET', `/api/v1/jobs?${query}`, undefined, ['admin']);
    expect(response).toMatchObject({ status: 400, body: { code: 'invalid_request', field } });
  });
});

describe('cursor pages over jobs created in the same millisecond', () => {
  const owner = `list-same-ms-${process.pid}-${Date.now()}`;
  const made: string[] = [];
  beforeAll(async () => {
    // 25 rows in 3 milliseconds, microseconds apart within each (PostgreSQL keeps microseconds, a JS Date does not):
    // a cursor built from a Date would skip or repeat rows here.
    const rows = Array.from({ length: 25 }, (_, n) => ({ id: randomUUID(), n }));
    await harness.db
      .insertInto('jobs')
      .values(
        rows.map(({ id }) => ({
          id,
          type: 'data_profiling',
          owner,
          status: 'completed',
          workflow_id: id,
          metadata: '{}',
          created_at: new Date('2026-02-01T00:00:00.000Z'),
          updated_at: new Date('2026-02-01T00:00:00.000Z'),
          task_queue: harness.config.TEMPORAL_TASK_QUEUE,
        })),
      )
      .execute();
    // Then the microseconds: n % 3 milliseconds and n microseconds; some rows share their instant exactly (n = 0).
    for (const { id, n } of rows)
      await harness.db
        .updateTable('jobs')
        .set({
          created_at: sql`'2026-02-01T00:00:00Z'::timestamptz + ${`${(n % 3) * 1000 + (n % 5)} microseconds`}::interval`,
        })
        .where('id', '=', id)
        .execute();
    made.push(...rows.map((r) => r.id));
  });
  afterAll(() => harness.db.deleteFrom('jobs').where('owner', '=', owner).execute());

  it('lists every job exactly once, in the order of one whole list', async () => {
    const whole = await pageOf(`owner=${owner}&limit=500`);
    expect(whole.ids).toHaveLength(25);
    expect(new Set(whole.ids)).toEqual(new Set(made));
    const paged: string[] = [];
    let query: string | undefined = `owner=${owner}&limit=4`;
    let pages = 0;
    while (query !== undefined) {
      const page = await pageOf(query);
      paged.push(...page.ids);
      pages++;
      query = page.next?.split('?')[1];
    }
    expect(paged).toEqual(whole.ids);
    expect(pages).toBe(7);
  });
});
