// The HTTP API (`/api/v1/jobs…`) over the jobs client: bearer-token auth, JSON in and out, and every
// refusal as JSON with the status its error class names (400, 401, 404, 409, 413, 429, and 503 with
// Retry-After when Temporal or PostgreSQL does not answer).

import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../config';
import { isLostConnection } from '../../db/connection';
import {
  asDependencyFailure,
  DependencyUnavailableError,
  HttpError,
  InvalidJobRequestError,
  JobsError,
} from '../errors';
import { parseOrReject } from '../job-requests';
import { jobFilterSchema } from '../job-list';
import type { BulkAction } from '../bulk-control';
import type { JobsClient, Principal } from '../jobs-client';
import { createAuthenticator } from './auth';
import { JOBS_PAGE_CSP, JOBS_PAGE_HTML } from './jobs-page';
import { createApiMetrics, type ApiMetrics, type Readiness } from './metrics';

type ApiConfig = Pick<
  Config,
  | 'API_MAX_BODY_BYTES'
  | 'JWT_SECRET'
  | 'JWT_JWKS_URL'
  | 'JWT_ISSUER'
  | 'JWT_AUDIENCE'
  | 'JWT_ADMIN_ROLE'
  | 'JWT_MAX_LIFETIME_S'
  | 'API_METRICS_TOKEN'
>;

/** Metrics (a registry of its own unless given) and, when given, the readiness check behind /readyz. */
export interface ApiOperations {
  metrics?: ApiMetrics;
  readiness?: () => Promise<Readiness>;
}

/** A request to a route whose path captures `P` (named groups of its pattern, e.g. `id`, `model`, `action`). */
interface Request<P extends string = string> {
  principal: Principal;
  params: Record<P, string>;
  body: Record<string, unknown>;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

interface Route {
  method: string[];
  pattern: RegExp;
  /** The path with its captures named: the `route` label of the API's request metrics. */
  template: string;
  handle: (jobs: JobsClient, request: Request) => Promise<[number, unknown]>;
}

const JOB = '(?<id>[0-9A-Za-z_-]{1,100})';

const ROUTES: Route[] = [
  {
    method: ['POST'],
    pattern: /^\/api\/v1\/jobs$/,
    template: '/api/v1/jobs',
    handle: async (jobs, { principal, body, headers }) => {
      // The token's subject owns the job; only an admin may start one on someone else's behalf.
      const owner = principal.admin && typeof body.owner === 'string' ? body.owner : principal.subject;
      // The Idempotency-Key header is the key when the body has none; the client refuses two different keys.
      const header = headers['idempotency-key'];
      const started = await jobs.startJobFromJson({ ...body, owner }, principal.subject, {
        idempotencyKeyHeader: Array.isArray(header) ? header.join(', ') : header,
      });
      return [
        started.created ? 201 : 200,
        { ...(await jobs.status(principal, started.jobId)), created: started.created },
      ];
    },
  },
  {
    method: ['GET'],
    pattern: /^\/api\/v1\/jobs$/,
    template: '/api/v1/jobs',
    handle: async (jobs, { principal, query }) => {
      const filter = parseOrReject(jobFilterSchema, Object.fromEntries(query), 'query');
      return [200, { jobs: await jobs.list(principal, filter) }];
    },
  },
  {
    method: ['GET'],
    pattern: new RegExp(`^/api/v1/jobs/${JOB}(?:/status)?$`),
    template: '/api/v1/jobs/:id/status' /* with or without /status */,
    handle: async (jobs, r: Request<'id'>) => [200, await jobs.status(r.principal, r.params.id)],
  },
  {
    method: ['GET'],
    pattern: new RegExp(`^/api/v1/jobs/${JOB}/history$`),
    template: '/api/v1/jobs/:id/history',
    handle: async (jobs, r: Request<'id'>) => [
      200,
      { job_id: r.params.id, events: await jobs.history(r.principal, r.params.id) },
    ],
  },
  {
    method: ['POST'],
    pattern: new RegExp(`^/api/v1/jobs/${JOB}/pause$`),
    template: '/api/v1/jobs/:id/pause',
    handle: async (jobs, r: Request<'id'>) => [
      202,
      await jobs.pause(r.principal, r.params.id, { now: r.body.now === true || r.query.get('now') === 'true' }),
    ],
  },
  {
    method: ['POST'],
    pattern: new RegExp(`^/api/v1/jobs/${JOB}/resume$`),
    template: '/api/v1/jobs/:id/resume',
    handle: async (jobs, r: Request<'id'>) => [202, await jobs.resume(r.principal, r.params.id)],
  },
  {
    method: ['POST'],
    pattern: new RegExp(`^/api/v1/jobs/${JOB}/cancel$`),
    template: '/api/v1/jobs/:id/cancel',
    handle: async (jobs, r: Request<'id'>) => [202, await jobs.cancel(r.principal, r.params.id)],
  },
  {
    method: ['POST', 'PATCH'],
    pattern: new RegExp(`^/api/v1/jobs/${JOB}/priority$`),
    template: '/api/v1/jobs/:id/priority',
    handle: async (jobs, r: Request<'id'>) => [202, await jobs.setPriority(r.principal, r.params.id, r.body.priority)],
  },
  // Operators (admin): the fleet-wide LLM budget and bulk control; the model or action is the path's capture.
  {
    method: ['GET'],
    pattern: /^\/api\/v1\/llm-budget$/,
    template: '/api/v1/llm-budget',
    handle: async (jobs, r) => [200, { models: await jobs.llmBudget(r.principal) }],
  },
  {
    method: ['PUT', 'PATCH'],
    pattern: /^\/api\/v1\/llm-budget\/(?<model>[\w.:-]{1,200})$/,
    template: '/api/v1/llm-budget/:model',
    handle: async (jobs, r: Request<'model'>) => [200, await jobs.setLlmBudget(r.principal, r.params.model, r.body)],
  },
  {
    method: ['POST'],
    pattern: /^\/api\/v1\/admin\/jobs\/(?<action>pause|resume|cancel)$/,
    template: '/api/v1/admin/jobs/:action',
    // The pattern admits only the three bulk actions.
    handle: async (jobs, r: Request<'action'>) => [
      202,
      await jobs.bulkControl(r.principal, r.body, r.params.action as BulkAction),
    ],
  },
];

async function readJson(request: http.IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    // Keep draining past the limit: destroying the request would also cut off our 413 answer.
    if (size <= maxBytes) chunks.push(chunk as Buffer);
  }
  if (size > maxBytes) throw new HttpError(413, 'payload_too_large', `request body over ${maxBytes} bytes`);
  if (size === 0) return {};
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_json', 'request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError(400, 'invalid_json', 'request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** Endpoints served before routing: the jobs page and the operations endpoints. */
const PLAIN_PATHS = new Set(['/', '/jobs', '/healthz', '/readyz', '/metrics']);

/** The route a path belongs to, by its template, or `other` (so scanners cannot mint metric series). */
export function routeTemplate(pathname: string): string {
  if (PLAIN_PATHS.has(pathname)) return pathname;
  return ROUTES.find((route) => route.pattern.test(pathname))?.template ?? 'other';
}

function send(
  response: http.ServerResponse,
  status: number,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(text);
}

function errorAnswer(error: unknown): [number, unknown, http.OutgoingHttpHeaders] {
  const known = error instanceof JobsError ? error : asDependencyFailure(error);
  if (known) {
    // `field` is the first offending field (as before); `problems` lists every one.
    const field = known instanceof InvalidJobRequestError ? { field: known.field, problems: known.problems } : {};
    const headers =
      known instanceof DependencyUnavailableError ? { 'retry-after': String(known.retryAfterSeconds) } : {};
    return [known.httpStatus, { error: { code: known.code, message: known.message, ...field } }, headers];
  }
  console.error('unexpected API error', error);
  return [500, { error: { code: 'internal', message: 'internal error; see the server log' } }, {}];
}

export function createApiServer(jobs: JobsClient, config: ApiConfig, operations: ApiOperations = {}): http.Server {
  const authenticate = createAuthenticator(config);
  const metrics = operations.metrics ?? createApiMetrics();
  const answer = async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    metrics.track(request, response, routeTemplate(url.pathname));
    if (request.method === 'GET' && (url.pathname === '/' || url.pathname === '/jobs')) {
      // frame-ancestors keeps other sites from framing the page to trick clicks on Pause or Cancel.
      response.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': JOBS_PAGE_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
      });
      response.end(JOBS_PAGE_HTML);
      return;
    }
    if (request.method === 'GET' && url.pathname === '/healthz') return send(response, 200, { ok: true });
    if (request.method === 'GET' && url.pathname === '/readyz' && operations.readiness) {
      const readiness = await operations.readiness();
      return send(response, readiness.ok ? 200 : 503, readiness);
    }
    if (request.method === 'GET' && url.pathname === '/metrics')
      return serveMetrics(response, metrics, config.API_METRICS_TOKEN, request.headers.authorization);
    try {
      const matches = ROUTES.map((route) => ({ route, match: route.pattern.exec(url.pathname) })).filter(
        (m) => m.match,
      );
      if (matches.length === 0) throw new HttpError(404, 'not_found', `no such endpoint: ${url.pathname}`);
      const chosen = matches.find((m) => m.route.method.includes(request.method ?? ''));
      if (!chosen)
        throw new HttpError(405, 'method_not_allowed', `${request.method} is not allowed on ${url.pathname}`);
      const principal = await authenticate(request.headers.authorization);
      const body = request.method === 'GET' ? {} : await readJson(request, config.API_MAX_BODY_BYTES);
      const handle = () =>
        chosen.route.handle(jobs, {
          principal,
          params: chosen.match!.groups ?? {},
          body,
          query: url.searchParams,
          headers: request.headers,
        });
      // A read whose pooled connection was cut off (an operator's pg_terminate_backend, a failover) is asked
      // again once, on a fresh connection; a write is not, since part of it may have happened: it gets a 503.
      const [status, result] = await handle().catch((error: unknown) => {
        if (request.method === 'GET' && isLostConnection(error)) return handle();
        throw error;
      });
      metrics.countStatusAnswer(result);
      send(response, status, result);
    } catch (error) {
      const [status, body, headers] = errorAnswer(error);
      if (!response.headersSent) send(response, status, body, headers);
    }
  };
  // Routes answer their own errors; one thrown outside them (a readiness check, the metrics registry) gets a 500
  // rather than an unhandled rejection and a request left hanging.
  return http.createServer((request, response) => {
    answer(request, response).catch((error: unknown) => {
      const [status, body, headers] = errorAnswer(error);
      if (!response.headersSent) send(response, status, body, headers);
      else response.destroy();
    });
  });
}

/** Prometheus text format; behind `Authorization: Bearer API_METRICS_TOKEN` when that is set. */
async function serveMetrics(
  response: http.ServerResponse,
  metrics: ApiMetrics,
  token: string | undefined,
  authorization: string | undefined,
): Promise<void> {
  if (token && !sameSecret(authorization ?? '', `Bearer ${token}`))
    return send(response, 401, { error: { code: 'unauthorized', message: 'metrics need the metrics token' } });
  const text = await metrics.registry.metrics();
  response.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
  response.end(text);
}

function sameSecret(given: string, expected: string): boolean {
  const [a, b] = [Buffer.from(given), Buffer.from(expected)];
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function listen(server: http.Server, port: number, host = '127.0.0.1'): Promise<string> {
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return `http://${host}:${(server.address() as AddressInfo).port}`;
}
