// The HTTP contract of issue 12 on the Fastify server: every refusal is RFC 9457 problem+json (type, title, status,
// detail, instance, and `code`; `field` and `problems` for an invalid request), 401 carries WWW-Authenticate
// (error="invalid_token" when a token was refused), 405 carries Allow, a 201 carries Location, bodies and queries
// refuse unknown fields by name, and one access-log line per request names method, route template, status,
// duration, principal and job id, never the token. Then the service role: a token holding it starts jobs for a named
// owner (audited with both), follows and controls those jobs, and not other owners'. No worker runs: starts stay
// pending, which is all these need.

import { PassThrough } from 'node:stream';
import { createLogger } from '../../config/logging';
import { createApiServer, listen, type ApiServer } from '../../client/http/server';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness, type RunningApi } from '../support/harness';

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
  attributeIds: ['credit_score'],
  ...extra,
});
let subjects = 0;
const fresh = (name: string) => `${name}-${process.pid}-${++subjects}`;

/** A raw request: status, headers and the parsed body, with `token` as the bearer when given. */
async function call(
  method: string,
  path: string,
  options: { token?: string; body?: string; headers?: Record<string, string> } = {},
) {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    body: options.body,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

describe('problem+json', () => {
  it('answers an invalid start with 400: type, title, status, detail, instance, code, field and problems', async () => {
    const token = await api.tokenFor(fresh('pj'));
    const answer = await call('POST', '/api/v1/jobs', {
      token,
      body: JSON.stringify(job({ attributeIds: 'credit_score', colour: 'blue' })),
    });
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(answer.body).toEqual({
      type: 'urn:synapse-jobs:problem:invalid_request',
      title: 'Bad Request',
      status: 400,
      detail: expect.stringContaining('attributeIds'),
      instance: '/api/v1/jobs',
      code: 'invalid_request',
      field: 'attributeIds',
      problems: [
        { field: 'attributeIds', problem: expect.any(String) },
        { field: 'colour', problem: 'unknown field' },
      ],
    });
  });

  it('answers no token with 401 and a bare Bearer challenge, a refused token with error="invalid_token"', async () => {
    const none = await call('GET', '/api/v1/jobs');
    expect(none).toMatchObject({ status: 401, body: { code: 'unauthorized', status: 401, title: 'Unauthorized' } });
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="synapse-jobs"');
    const forged = await call('GET', '/api/v1/jobs', { token: 'not.a.jwt' });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toBe('Bearer realm="synapse-jobs", error="invalid_token"');
    expect(forged.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('answers an unknown route with 404 and a wrong method with 405 naming the allowed ones in Allow', async () => {
    const token = await api.tokenFor(fresh('pj'));
    const missing = await call('GET', '/api/v1/nothing', { token });
    expect(missing).toMatchObject({
      status: 404,
      body: { code: 'not_found', instance: '/api/v1/nothing', detail: 'no such endpoint: /api/v1/nothing' },
    });
    const wrong = await call('DELETE', '/api/v1/jobs', { token });
    expect(wrong).toMatchObject({ status: 405, body: { code: 'method_not_allowed', title: 'Method Not Allowed' } });
    expect(wrong.headers.get('allow')).toBe('POST, GET');
    const priority = await call('GET', '/api/v1/jobs/some-job/priority', { token });
    expect(priority.status).toBe(405);
    expect(priority.headers.get('allow')).toBe('POST, PATCH');
  });

  it('answers invalid JSON with 400 invalid_json and a body over API_MAX_BODY_BYTES with 413', async () => {
    const token = await api.tokenFor(fresh('pj'));
    expect(await call('POST', '/api/v1/jobs', { token, body: '{"jobType":' })).toMatchObject({
      status: 400,
      body: { code: 'invalid_json', detail: 'request body is not valid JSON' },
    });
    const huge = JSON.stringify(job({ metadata: { blob: 'x'.repeat(harness.config.API_MAX_BODY_BYTES) } }));
    expect(await call('POST', '/api/v1/jobs', { token, body: huge })).toMatchObject({
      status: 413,
      body: { code: 'payload_too_large', title: 'Content Too Large', status: 413 },
    });
  });
});

describe('strict requests', () => {
  it('refuses unknown fields in control bodies and list queries, naming each', async () => {
    const owner = fresh('strict');
    const token = await api.tokenFor(owner);
    const started = await call('POST', '/api/v1/jobs', { token, body: JSON.stringify(job()) });
    const id = started.body.job_id as string;
    expect(
      await call('POST', `/api/v1/jobs/${id}/pause`, { token, body: JSON.stringify({ now: true, later: 1 }) }),
    ).toMatchObject({
      status: 400,
      body: { field: 'later', problems: [{ field: 'later', problem: 'unknown field' }] },
    });
    expect(
      await call('POST', `/api/v1/jobs/${id}/priority`, {
        token,
        body: JSON.stringify({ priority: 'high', why: 'x' }),
      }),
    ).toMatchObject({ status: 400, body: { field: 'why' } });
    expect(await call('GET', '/api/v1/jobs?status=running&colour=blue&size=2', { token })).toMatchObject({
      status: 400,
      body: {
        code: 'invalid_request',
        problems: [
          { field: 'colour', problem: 'unknown field' },
          { field: 'size', problem: 'unknown field' },
        ],
      },
    });
    await harness.temporal.workflow.getHandle(id).terminate('test done');
  });
});

describe('path parameters', () => {
  it('takes a model name as long as its schema allows (200 characters), and refuses a job id that cannot be one', async () => {
    const admin = await api.tokenFor(fresh('params'), ['admin']);
    const model = `m-${'x'.repeat(148)}`;
    expect(
      await call('PATCH', `/api/v1/llm-budget/${model}`, { token: admin, body: JSON.stringify({ rpm: 10 }) }),
    ).toMatchObject({ status: 200, body: { model } });
    expect(await call('GET', '/api/v1/jobs/not%20an%20id', { token: admin })).toMatchObject({
      status: 400,
      body: { code: 'invalid_request', field: 'id' },
    });
  });
});

describe('a start', () => {
  it('answers 201 with Location naming the new job, and 200 without one for the same idempotent start', async () => {
    const token = await api.tokenFor(fresh('loc'));
    const body = JSON.stringify(job({ idempotencyKey: 'loc-1' }));
    const created = await call('POST', '/api/v1/jobs', { token, body });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/v1/jobs/${created.body.job_id}`);
    expect((await call('GET', created.headers.get('location')!, { token })).body.job_id).toBe(created.body.job_id);
    const again = await call('POST', '/api/v1/jobs', { token, body });
    expect(again).toMatchObject({ status: 200, body: { job_id: created.body.job_id, created: false } });
    expect(again.headers.get('location')).toBeNull();
    await harness.temporal.workflow.getHandle(created.body.job_id).terminate('test done');
  });
});

describe('the access log', () => {
  let server: ApiServer;
  let url: string;
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  beforeAll(async () => {
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => {
      raw += chunk.toString();
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
    });
    server = createApiServer(harness.jobs, harness.config, {
      logger: createLogger('api', { level: 'info', destination: stream }),
    });
    url = await listen(server, 0);
  });
  afterAll(() => server.close());

  it('writes one line per request: method, route template, status, duration, principal and job id, never the token', async () => {
    const owner = fresh('log');
    const token = await api.tokenFor(owner);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const started = await fetch(`${url}/api/v1/jobs`, { method: 'POST', headers, body: JSON.stringify(job()) });
    const id = ((await started.json()) as { job_id: string }).job_id;
    await fetch(`${url}/api/v1/jobs/${id}/status`, { headers });
    await fetch(`${url}/api/v1/jobs?limit=1`, { headers: { authorization: 'Bearer forged.token.here' } });
    await fetch(`${url}/healthz`);

    const requests = lines.filter((line) => line.msg === 'request');
    expect(requests).toEqual([
      expect.objectContaining({
        service: 'api',
        level: 'info',
        method: 'POST',
        route: '/api/v1/jobs',
        status: 201,
        durationMs: expect.any(Number),
        principal: owner,
        jobId: id,
      }),
      expect.objectContaining({
        method: 'GET',
        route: '/api/v1/jobs/:id/status',
        status: 200,
        principal: owner,
        jobId: id,
      }),
      expect.objectContaining({ method: 'GET', route: '/api/v1/jobs', status: 401 }),
      expect.objectContaining({ method: 'GET', route: '/healthz', status: 200 }),
    ]);
    expect(requests[2]).not.toHaveProperty('principal');
    expect(raw).not.toContain(token);
    expect(raw).not.toContain('forged.token.here');
    expect(raw.toLowerCase()).not.toContain('bearer');
    await harness.temporal.workflow.getHandle(id).terminate('test done');
  });
});

describe('the service role', () => {
  const service = `svc-${process.pid}`;
  let serviceToken: string;
  beforeAll(async () => {
    serviceToken = await api.tokenFor(service, ['service']);
  });

  it('starts a job for the owner its body names, audited with both the service and the owner', async () => {
    const owner = fresh('for');
    const started = await call('POST', '/api/v1/jobs', { token: serviceToken, body: JSON.stringify(job({ owner })) });
    expect(started).toMatchObject({ status: 201, body: { owner } });
    const id = started.body.job_id as string;
    const row = await harness.db
      .selectFrom('jobs')
      .select(['owner', 'started_by'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ owner, started_by: service });
    const audit = await harness.db
      .selectFrom('audit_log')
      .select(['actor', 'action', 'outcome', 'detail'])
      .where('job_id', '=', id)
      .execute();
    expect(audit).toEqual([
      expect.objectContaining({
        actor: service,
        action: 'start',
        outcome: 'ok',
        detail: expect.objectContaining({ owner }),
      }),
    ]);
    // The owner sees it as their own.
    expect((await call('GET', `/api/v1/jobs/${id}`, { token: await api.tokenFor(owner) })).status).toBe(200);
    await harness.temporal.workflow.getHandle(id).terminate('test done');
  });

  it('follows and controls the jobs it started, lists them, and not another owner’s', async () => {
    const owner = fresh('for');
    const started = await call('POST', '/api/v1/jobs', { token: serviceToken, body: JSON.stringify(job({ owner })) });
    const id = started.body.job_id as string;
    expect((await call('GET', `/api/v1/jobs/${id}/status`, { token: serviceToken })).status).toBe(200);
    expect((await call('GET', `/api/v1/jobs/${id}/history`, { token: serviceToken })).status).toBe(200);
    const listed = await call('GET', `/api/v1/jobs?owner=${owner}`, { token: serviceToken });
    expect(listed.body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual([id]);

    // Another owner's job the service did not start: not found, to reads and control alike, and not listed.
    const other = fresh('other');
    const theirs = await call('POST', '/api/v1/jobs', {
      token: await api.tokenFor(other),
      body: JSON.stringify(job()),
    });
    const otherId = theirs.body.job_id as string;
    expect((await call('GET', `/api/v1/jobs/${otherId}`, { token: serviceToken })).status).toBe(404);
    expect((await call('POST', `/api/v1/jobs/${otherId}/cancel`, { token: serviceToken })).status).toBe(404);
    expect((await call('GET', `/api/v1/jobs?owner=${other}`, { token: serviceToken })).body.jobs).toEqual([]);

    const cancelled = await call('POST', `/api/v1/jobs/${id}/cancel`, { token: serviceToken });
    expect(cancelled.status).toBe(202);
    const audit = await harness.db
      .selectFrom('audit_log')
      .select(['actor', 'action'])
      .where('job_id', '=', id)
      .orderBy('id')
      .execute();
    expect(audit).toEqual([
      { actor: service, action: 'start' },
      { actor: service, action: 'cancel' },
    ]);
    await harness.temporal.workflow.getHandle(otherId).terminate('test done');
  });

  it('starts for itself when the body names no owner', async () => {
    const started = await call('POST', '/api/v1/jobs', { token: serviceToken, body: JSON.stringify(job()) });
    expect(started).toMatchObject({ status: 201, body: { owner: service } });
    const row = await harness.db
      .selectFrom('jobs')
      .select('started_by')
      .where('id', '=', started.body.job_id)
      .executeTakeFirstOrThrow();
    expect(row.started_by).toBeNull();
    await harness.temporal.workflow.getHandle(started.body.job_id).terminate('test done');
  });

  it('without the role, `owner` in a body is ignored as always: the token subject owns the job', async () => {
    const caller = fresh('plain');
    const started = await call('POST', '/api/v1/jobs', {
      token: await api.tokenFor(caller, ['reader']),
      body: JSON.stringify(job({ owner: fresh('victim') })),
    });
    expect(started).toMatchObject({ status: 201, body: { owner: caller } });
    await harness.temporal.workflow.getHandle(started.body.job_id).terminate('test done');
  });
});

describe('failures behind a route', () => {
  // A jobs client whose answers are scripted per call: what PostgreSQL or Temporal failing looks like to the API
  // (the real failures are provoked in test/faults); Temporal and the database are not involved here at all.
  const lostConnection = () =>
    Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });
  let statusCalls = 0;
  let script: (() => Promise<unknown>)[] = [];
  const scripted = {
    status: async () => {
      statusCalls++;
      const next = script.shift();
      if (!next) throw new Error('nothing scripted');
      return next();
    },
    cancel: async () => {
      throw lostConnection();
    },
  };
  let server: ApiServer;
  let url: string;
  let raw = '';
  let token: string;
  beforeAll(async () => {
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    server = createApiServer(scripted as never, harness.config, {
      logger: createLogger('api', { level: 'info', destination: stream }),
    });
    url = await listen(server, 0);
    token = await api.tokenFor(fresh('failures'));
  });
  afterAll(() => server.close());
  const get = async (path: string, method = 'GET') => {
    const response = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, headers: response.headers, body: await response.json() };
  };

  it('asks a read again once when its PostgreSQL connection was cut off, and answers 503 with Retry-After for a write', async () => {
    statusCalls = 0;
    script = [async () => Promise.reject(lostConnection()), async () => ({ job_id: 'job-1', status: 'running' })];
    expect(await get('/api/v1/jobs/job-1/status')).toMatchObject({ status: 200, body: { job_id: 'job-1' } });
    expect(statusCalls).toBe(2);
    const write = await get('/api/v1/jobs/job-1/cancel', 'POST');
    expect(write).toMatchObject({ status: 503, body: { code: 'dependency_unavailable', status: 503 } });
    expect(Number(write.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('answers an unexpected failure with a 500 problem that says nothing of it, and logs it', async () => {
    script = [async () => Promise.reject(new Error('secret internals at line 42'))];
    const failed = await get('/api/v1/jobs/job-2/status');
    expect(failed).toMatchObject({
      status: 500,
      body: { code: 'internal', title: 'Internal Server Error', detail: 'internal error; see the server log' },
    });
    expect(JSON.stringify(failed.body)).not.toContain('secret internals');
    expect(raw).toContain('secret internals at line 42');
    expect(raw).toContain('"msg":"unexpected API error"');
  });
});
