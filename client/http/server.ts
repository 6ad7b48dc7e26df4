// The HTTP API (`/api/v1/…`) on Fastify over the jobs client: bearer-token auth, zod schemas (client/http/api-schemas.ts)
// validating every request strictly and describing it in the OpenAPI 3.1 document at /openapi.json (the reference
// page at /docs, served from node_modules), every refusal as RFC 9457 problem+json (client/http/problem.ts), and one
// access-log line per request; a job's events pushed as Server-Sent Events (client/http/job-events-route.ts). Also the
// jobs page (/ and /jobs), each job's page (/jobs/{id}, with chart.js from /assets) and the operations endpoints
// (/healthz, /readyz, /metrics).

import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { JobEvents } from '../../activities/jobs/job-events';
import { loadConfig, type Config } from '../../config';
import { createLogger, type Logger } from '../../config/logging';
import { isLostConnection } from '../../db/connection';
import { HttpError, InvalidJobRequestError, type FieldProblem } from '../errors';
import type { JobsClient, Principal } from '../jobs-client';
import type { LegacyJobStatus } from '../job-status';
import type { StartRequestSettings } from '../start-request';
import * as s from './api-schemas';
import { JOB_ID_PATTERN } from './api-schemas';
import { createAuthenticator } from './auth';
import { CHART_ASSET_PATH, chartAsset, JOB_DETAIL_PAGE_CSP, jobDetailPageHtml } from './job-detail-page';
import { registerJobEventsRoute } from './job-events-route';
import { JOBS_PAGE_CSP, JOBS_PAGE_HTML } from './jobs-page';
import { temporalUiLink } from '../../config/temporal-ui';
import { createApiMetrics, type ApiMetrics, type Readiness } from './metrics';
import { PROBLEM_CONTENT_TYPE, problemAnswer, problemOf, wwwAuthenticate, type ProblemAnswer } from './problem';

export type ApiConfig = Pick<
  Config,
  | 'API_MAX_BODY_BYTES'
  | 'JWT_SECRET'
  | 'JWT_JWKS_URL'
  | 'JWT_ISSUER'
  | 'JWT_AUDIENCE'
  | 'JWT_ADMIN_ROLE'
  | 'JWT_MAX_LIFETIME_S'
  | 'API_METRICS_TOKEN'
> &
  Partial<Config>;

/** Metrics (a registry of its own unless given), the readiness check behind /readyz, and the access log's logger. */
export interface ApiOperations {
  metrics?: ApiMetrics;
  readiness?: () => Promise<Readiness>;
  /** Where the access log goes: createLogger('api') unless given (tests pass one writing to a stream). */
  logger?: Logger;
  /**
   * The feed of job changes the event streams read: one LISTEN connection to DATABASE_URL, made on the first stream,
   * unless given (and then not closed with the server).
   */
  events?: JobEvents<LegacyJobStatus>;
}

export type ApiServer = FastifyInstance;

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** The job the request is about: the route's `id`, or the job a start made or matched. */
    jobId?: string;
  }
  interface FastifyContextConfig {
    /** The `route` label of request metrics and the access log, when it is not the route's own URL. */
    template?: string;
  }
}

/** The served reference page's CSP: its scripts and styles come from this server only, nothing inline, no CDN. */
export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

/** Paths served outside the API routes' table, each its own route template. */
const PLAIN_PATHS = new Set(['/', '/jobs', '/healthz', '/readyz', '/metrics', '/openapi.json', CHART_ASSET_PATH]);
/** A job's page: one route template, whatever the id. */
const JOB_PAGE = /^\/jobs\/[^/]+$/;

/** The API routes: method(s), URL (Fastify's `:param` syntax, which is also the metrics template). */
const API_ROUTES: { methods: string[]; url: string; template?: string }[] = [
  { methods: ['POST', 'GET'], url: '/api/v1/jobs' },
  // The status is also answered at the job's own URL: both are one route for metrics.
  { methods: ['GET'], url: '/api/v1/jobs/:id', template: '/api/v1/jobs/:id/status' },
  { methods: ['GET'], url: '/api/v1/jobs/:id/status' },
  { methods: ['GET'], url: '/api/v1/jobs/:id/history' },
  { methods: ['GET'], url: '/api/v1/jobs/:id/results' },
  { methods: ['GET'], url: '/api/v1/jobs/:id/events' },
  { methods: ['POST'], url: '/api/v1/jobs/:id/pause' },
  { methods: ['POST'], url: '/api/v1/jobs/:id/resume' },
  { methods: ['POST'], url: '/api/v1/jobs/:id/cancel' },
  { methods: ['POST', 'PATCH'], url: '/api/v1/jobs/:id/priority' },
  { methods: ['GET'], url: '/api/v1/llm-budget' },
  { methods: ['PUT', 'PATCH'], url: '/api/v1/llm-budget/:model' },
  { methods: ['POST'], url: '/api/v1/admin/jobs/:action' },
];

/** Each API route's path as a pattern: one segment per parameter, constrained as its params schema is. */
const PARAM_PATTERNS: Record<string, string> = {
  id: '[0-9A-Za-z_-]{1,100}',
  model: '[\\w.:-]{1,200}',
  action: 'pause|resume|cancel',
};
const MATCHERS = API_ROUTES.map((route) => ({
  ...route,
  pattern: new RegExp(`^${route.url.replace(/:(\w+)/g, (_, name: string) => `(?:${PARAM_PATTERNS[name]})`)}$`),
}));

/** The route a path belongs to, by its template, or `other` (so scanners cannot mint metric series). */
export function routeTemplate(pathname: string): string {
  if (PLAIN_PATHS.has(pathname)) return pathname;
  if (pathname === '/docs' || pathname.startsWith('/docs/')) return '/docs';
  if (JOB_PAGE.test(pathname)) return '/jobs/:id';
  const route = MATCHERS.find((m) => m.pattern.test(pathname));
  return route ? (route.template ?? route.url) : 'other';
}

/** The methods a path answers to (for 405's Allow), none when no route has that path. */
function allowedMethods(pathname: string): string[] {
  return [...new Set(MATCHERS.filter((m) => m.pattern.test(pathname)).flatMap((m) => m.methods))];
}

/** Request schemas given for the document only: the route validates the value itself (the start request). */
const VALIDATED_BY_ROUTE = new WeakSet<object>();

/** Every offending field of a failed parse, unknown keys named one by one. */
function problemsOf(error: z.ZodError, whole: string): FieldProblem[] {
  return error.issues.flatMap((issue) => {
    const at = issue.path.map(String);
    if (issue.code === 'unrecognized_keys')
      return issue.keys.map((key) => ({ field: [...at, key].join('.'), problem: 'unknown field' }));
    const missing = issue.code === 'invalid_type' && issue.message.endsWith('received undefined');
    return [{ field: at.join('.') || whole, problem: missing ? 'is required' : issue.message }];
  });
}

/** The limits the start request schemas state: the server's configuration, or the defaults where it has none. */
function startSettings(config: ApiConfig): StartRequestSettings {
  const defaults = loadConfig({});
  const pick = <K extends keyof StartRequestSettings>(key: K) => (config[key] ?? defaults[key]) as Config[K];
  return {
    JOB_DEFAULT_USE_LLM_CACHE: pick('JOB_DEFAULT_USE_LLM_CACHE'),
    JOB_MAX_METADATA_BYTES: pick('JOB_MAX_METADATA_BYTES'),
    JOB_MAX_METADATA_DEPTH: pick('JOB_MAX_METADATA_DEPTH'),
    JOB_DEFAULT_LLM_CONCURRENCY: pick('JOB_DEFAULT_LLM_CONCURRENCY'),
    JOB_MAX_LLM_CONCURRENCY: pick('JOB_MAX_LLM_CONCURRENCY'),
    JOB_MAX_ATTRIBUTES: pick('JOB_MAX_ATTRIBUTES'),
    JOB_START_COUNT_TIMEOUT_MS: pick('JOB_START_COUNT_TIMEOUT_MS'),
    CALLBACK_ALLOWED_HOSTS: pick('CALLBACK_ALLOWED_HOSTS'),
    CALLBACK_SECRET: pick('CALLBACK_SECRET'),
  };
}

/** The problem answers a route may give, each documented as application/problem+json. */
const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, problemResponse]));
const problemResponse = {
  description: 'A problem (RFC 9457)',
  content: { 'application/problem+json': { schema: s.problem } },
};
const security = [{ bearerAuth: [] }];

export function createApiServer(jobs: JobsClient, config: ApiConfig, operations: ApiOperations = {}): ApiServer {
  const authenticate = createAuthenticator(config);
  const metrics = operations.metrics ?? createApiMetrics();
  const log = operations.logger ?? createLogger('api');
  const app = Fastify({
    // The access log below is the one line per request; Fastify's own request logging is off.
    logger: false,
    bodyLimit: config.API_MAX_BODY_BYTES,
    // A path parameter may be as long as its schema allows (a model name, 200 characters; Fastify's default is 100).
    routerOptions: { maxParamLength: 200 },
    // A HEAD the table does not list is a 405, as before; the routes answer what they list.
    exposeHeadRoutes: false,
    // Closing the server ends idle keep-alive connections too, so a test's or a deploy's close does not wait on them.
    forceCloseConnections: true,
  }).withTypeProvider<ZodTypeProvider>();
  const heartbeatMs = config.JOB_EVENTS_HEARTBEAT_MS ?? loadConfig({}).JOB_EVENTS_HEARTBEAT_MS;
  const events =
    operations.events ??
    new JobEvents({
      connectionString: config.DATABASE_URL ?? loadConfig({}).DATABASE_URL,
      statusOf: (jobId) => jobs.statusOf(jobId),
      rereadEveryMs: heartbeatMs,
      log,
    });
  const openStreams = new Set<() => void>();
  // Open event streams would hold the close up until their jobs end: they end first (clients reconnect elsewhere).
  app.addHook('preClose', async () => {
    for (const end of [...openStreams]) end();
    if (!operations.events) await events.close();
  });

  app.setValidatorCompiler(({ schema, httpPart }) => {
    const whole = `(${httpPart === 'querystring' ? 'query' : (httpPart ?? 'request')})`;
    return (data: unknown) => {
      if (VALIDATED_BY_ROUTE.has(schema)) return { value: data };
      const zod = schema as z.ZodType;
      // No body at all (Fastify gives null) is no body where one is optional, and an empty object where one is needed.
      const given = httpPart === 'body' && data === null ? (zod.safeParse(undefined).success ? undefined : {}) : data;
      const parsed = zod.safeParse(given);
      if (parsed.success) return { value: parsed.data };
      const [first, ...more] = problemsOf(parsed.error, whole);
      return { error: InvalidJobRequestError.of([first ?? { field: whole, problem: 'invalid' }, ...more]) };
    };
  });
  // Answers are documented by their schemas, not checked on the way out: JSON as the client returned it.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  // Bodies are JSON whatever their declared type (as they always were); an empty one is no body, and anything but an
  // object is refused.
  const parseJson = (_request: FastifyRequest, text: string | Buffer, done: (e: Error | null, b?: unknown) => void) => {
    const raw = text.toString();
    if (raw.trim() === '') return done(null, undefined);
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return done(new HttpError(400, 'invalid_json', 'request body is not valid JSON'));
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return done(new HttpError(400, 'invalid_json', 'request body must be a JSON object'));
    done(null, body);
  };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, parseJson);

  const sendProblem = (reply: FastifyReply, answer: ProblemAnswer) =>
    reply
      .code(answer.status)
      .headers({ ...answer.headers, 'cache-control': 'no-store' })
      .type(PROBLEM_CONTENT_TYPE)
      .send(JSON.stringify(answer.body));

  app.setErrorHandler((error, request, reply) => {
    const instance = request.url.split('?')[0] ?? request.url;
    const fastifyCode = (error as { code?: string }).code;
    if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return sendProblem(
        reply,
        problemAnswer(413, 'payload_too_large', `request body over ${config.API_MAX_BODY_BYTES} bytes`, instance),
      );
    if (fastifyCode?.startsWith('FST_ERR_CTP_'))
      return sendProblem(reply, problemAnswer(400, 'invalid_json', (error as Error).message, instance));
    // Fastify's own refusals of a malformed request (a bad URL encoding, say) keep their 4xx status.
    const fastifyStatus = (error as { statusCode?: number }).statusCode;
    if (fastifyCode?.startsWith('FST_') && fastifyStatus && fastifyStatus >= 400 && fastifyStatus < 500)
      return sendProblem(reply, problemAnswer(fastifyStatus, 'bad_request', (error as Error).message, instance));
    const answer = problemOf(error, instance);
    if (answer.unexpected)
      log.error({ err: error, method: request.method, route: routeTemplate(instance) }, 'unexpected API error');
    return sendProblem(reply, answer);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const allowed = allowedMethods(path);
    if (allowed.length === 0)
      return sendProblem(reply, problemAnswer(404, 'not_found', `no such endpoint: ${path}`, path));
    const answer = problemAnswer(405, 'method_not_allowed', `${request.method} is not allowed on ${path}`, path);
    return sendProblem(reply, { ...answer, headers: { allow: allowed.join(', ') } });
  });

  // Metrics and the access log: every request, by route template, never by job id; never the token.
  app.addHook('onRequest', async (request, reply) => {
    metrics.track(request.raw, reply.raw, routeTemplate(request.url.split('?')[0] ?? '/'));
  });
  app.addHook('onResponse', async (request, reply) => {
    const params = request.params as { id?: unknown } | undefined;
    // A path's id only when it is one (a scanner's 10 KB "id" is not worth a log line's room).
    const pathId = typeof params?.id === 'string' && JOB_ID_PATTERN.test(params.id) ? params.id : undefined;
    const jobId = request.jobId ?? pathId;
    log.info(
      {
        method: request.method,
        route: routeTemplate(request.url.split('?')[0] ?? '/'),
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
        ...(request.principal ? { principal: request.principal.subject } : {}),
        ...(jobId ? { jobId } : {}),
      },
      'request',
    );
  });

  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Synapse Jobs API',
        version: '1.0.0',
        description:
          'Start, follow and control durable jobs. Every refusal is RFC 9457 problem+json with the error `code` ' +
          '(and `field`/`problems` for an invalid request). See docs/http-api.md.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
    transform: jsonSchemaTransform,
    transformObject: (documentObject) => optionalBodies(jsonSchemaTransformObject(documentObject)),
  });
  void app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    // validatorUrl null: the page asks no outside validator about the document.
    uiConfig: { url: '/openapi.json', validatorUrl: null },
    staticCSP: true,
    transformStaticCSP: () => DOCS_CSP,
  });

  void app.register(async (api) => {
    const route = api.withTypeProvider<ZodTypeProvider>();
    const startBody = s.startBodySchema(startSettings(config));
    VALIDATED_BY_ROUTE.add(startBody);

    // Every API route: authenticated before its body is read, so a caller without a token learns nothing else.
    route.addHook('onRequest', async (request) => {
      request.principal = await authenticate(request.headers.authorization);
    });

    /** The principal (set by the hook above for every route here). */
    const who = (request: FastifyRequest): Principal => request.principal!;
    /**
     * A read whose pooled connection was cut off (an operator's pg_terminate_backend, a failover) is asked again once,
     * on a fresh connection; a write is not, since part of it may have happened: it gets a 503.
     */
    const read = <T>(ask: () => Promise<T>): Promise<T> =>
      ask().catch((error: unknown) => {
        if (isLostConnection(error)) return ask();
        throw error;
      });
    const status = <T>(reply: FastifyReply, code: number, body: T): T => {
      metrics.countStatusAnswer(body);
      void reply.code(code).header('cache-control', 'no-store');
      return body;
    };

    route.post(
      '/api/v1/jobs',
      {
        schema: {
          summary: 'Start a job',
          description:
            'Starts a job owned by the token subject (an admin or service token may name another `owner`). 201 with ' +
            'Location for a new job; 200 with the first job when an idempotency key is given again with the same ' +
            'request; 422 when it comes with a different one.',
          operationId: 'startJob',
          tags: ['jobs'],
          security,
          body: startBody,
          headers: s.idempotencyHeaders,
          response: { 200: s.startedJob, 201: s.startedJob, ...errorResponses(400, 401, 413, 422, 429, 503) },
        },
      },
      async (request, reply) => {
        const principal = who(request);
        const header = request.headers['idempotency-key'];
        const started = await jobs.startFor(principal, request.body ?? {}, {
          idempotencyKeyHeader: Array.isArray(header) ? header.join(', ') : header,
        });
        request.jobId = started.jobId;
        if (started.created) void reply.header('location', `/api/v1/jobs/${encodeURIComponent(started.jobId)}`);
        // A new job's progress is what its row says: asking its workflow, which may not have run its first task yet,
        // held this answer for up to STATUS_QUERY_TIMEOUT_MS (most of the request's time in its traces).
        const job = await jobs.status(principal, started.jobId, { live: !started.created });
        return status(reply, started.created ? 201 : 200, { ...job, created: started.created });
      },
    );

    route.get(
      '/api/v1/jobs',
      {
        schema: {
          summary: 'List jobs',
          description:
            'The jobs the token may see, newest first, a page at a time: while more remain, `next_cursor` and ' +
            '`next` (also a Link header, rel="next") give the next page. Results only with include=result.',
          operationId: 'listJobs',
          tags: ['jobs'],
          security,
          querystring: s.listQuery,
          response: { 200: s.jobPage, ...errorResponses(400, 401, 503) },
        },
      },
      async (request, reply) => {
        const page = await read(() => jobs.listPage(who(request), request.query));
        let next: string | null = null;
        if (page.nextCursor) {
          const query = new URLSearchParams(request.url.split('?')[1] ?? '');
          query.set('cursor', page.nextCursor);
          next = `/api/v1/jobs?${query.toString()}`;
          void reply.header('link', `<${next}>; rel="next"`);
        }
        return status(reply, 200, { jobs: page.jobs, next_cursor: page.nextCursor, next });
      },
    );

    for (const url of ['/api/v1/jobs/:id', '/api/v1/jobs/:id/status'])
      route.get(
        url,
        {
          config: url.endsWith('/status') ? {} : { template: '/api/v1/jobs/:id/status' },
          schema: {
            summary: 'A job’s status',
            operationId: url.endsWith('/status') ? 'jobStatus' : 'job',
            tags: ['jobs'],
            security,
            params: s.jobParams,
            response: { 200: s.jobStatus, ...errorResponses(401, 404, 503) },
          },
        },
        async (request, reply) => status(reply, 200, await read(() => jobs.status(who(request), request.params.id))),
      );

    route.get(
      '/api/v1/jobs/:id/history',
      {
        schema: {
          summary: 'A job’s audit trail',
          operationId: 'jobHistory',
          tags: ['jobs'],
          security,
          params: s.jobParams,
          response: { 200: s.jobHistory, ...errorResponses(401, 404, 503) },
        },
      },
      async (request, reply) => {
        const events = await read(() => jobs.history(who(request), request.params.id));
        const listed = events.map((event) => ({ ...event, at: event.at.toISOString() }));
        return status(reply, 200, { job_id: request.params.id, events: listed });
      },
    );

    // The Web UI's address as configured, or the dev server's where a test's partial configuration leaves it out.
    const defaults = loadConfig({});
    const temporalUi = {
      TEMPORAL_UI_URL: config.TEMPORAL_UI_URL ?? defaults.TEMPORAL_UI_URL,
      TEMPORAL_NAMESPACE: config.TEMPORAL_NAMESPACE ?? defaults.TEMPORAL_NAMESPACE,
    };
    route.get(
      '/api/v1/jobs/:id/results',
      {
        schema: {
          summary: 'A job’s results, for its page and charts',
          description:
            'What the job’s family tables hold: pass rate per attribute with its rules (profiling), pass/fail per ' +
            'test case (test execution), strata against the sample (sampling), risk scores and the tests chosen ' +
            '(scoping), PDEs mapped, failed and kept as accepted (planning); lists stop at 500 items (`total`, ' +
            '`truncated`). Partial while the job runs. With the job’s Temporal Web UI link.',
          operationId: 'jobResults',
          tags: ['jobs'],
          security,
          params: s.jobParams,
          response: { 200: s.jobResults, ...errorResponses(400, 401, 404, 503) },
        },
      },
      async (request, reply) => {
        const { workflow_id, ...answer } = await read(() => jobs.results(who(request), request.params.id));
        void reply.code(200).header('cache-control', 'no-store');
        return { ...answer, temporal_ui_url: temporalUiLink(temporalUi, workflow_id) };
      },
    );
    registerJobEventsRoute(api, {
      jobs,
      events,
      heartbeatMs,
      who,
      read,
      errors: errorResponses(400, 401, 404, 503),
      security,
      open: openStreams,
    });

    const control = {
      tags: ['control'],
      security,
      params: s.jobParams,
      response: { 202: s.jobStatus, ...errorResponses(400, 401, 404, 409, 503) },
    };
    route.post(
      '/api/v1/jobs/:id/pause',
      {
        schema: {
          ...control,
          summary: 'Pause a job',
          operationId: 'pauseJob',
          body: s.pauseBody,
          querystring: s.pauseQuery,
        },
      },
      async (request, reply) => {
        const now = request.body?.now === true || request.query.now === 'true';
        return status(reply, 202, await jobs.pause(who(request), request.params.id, { now }));
      },
    );
    route.post(
      '/api/v1/jobs/:id/resume',
      { schema: { ...control, summary: 'Resume a paused job', operationId: 'resumeJob', body: s.emptyBody } },
      async (request, reply) => status(reply, 202, await jobs.resume(who(request), request.params.id)),
    );
    route.post(
      '/api/v1/jobs/:id/cancel',
      { schema: { ...control, summary: 'Cancel a job', operationId: 'cancelJob', body: s.emptyBody } },
      async (request, reply) => status(reply, 202, await jobs.cancel(who(request), request.params.id)),
    );
    for (const method of ['POST', 'PATCH'] as const)
      route.route({
        method,
        url: '/api/v1/jobs/:id/priority',
        schema: {
          ...control,
          summary: 'Change a job’s priority',
          operationId: method === 'POST' ? 'setPriority' : 'patchPriority',
          body: s.priorityBody,
        },
        handler: async (request, reply) =>
          status(reply, 202, await jobs.setPriority(who(request), request.params.id, request.body.priority)),
      });

    // Operators (admin): the fleet-wide LLM budget and bulk control.
    route.get(
      '/api/v1/llm-budget',
      {
        schema: {
          summary: 'The fleet-wide LLM budget (admin)',
          operationId: 'llmBudget',
          tags: ['operators'],
          security,
          response: { 200: s.budgetList, ...errorResponses(401, 403, 503) },
        },
      },
      async (request, reply) => status(reply, 200, { models: await read(() => jobs.llmBudget(who(request))) }),
    );
    for (const method of ['PUT', 'PATCH'] as const)
      route.route({
        method,
        url: '/api/v1/llm-budget/:model',
        schema: {
          summary: 'Change a model’s LLM limits (admin)',
          operationId: method === 'PUT' ? 'setLlmBudget' : 'patchLlmBudget',
          tags: ['operators'],
          security,
          params: s.modelParams,
          body: s.budgetBody,
          response: { 200: s.modelBudget, ...errorResponses(400, 401, 403, 503) },
        },
        handler: async (request, reply) =>
          status(reply, 200, await jobs.setLlmBudget(who(request), request.params.model, request.body)),
      });
    route.post(
      '/api/v1/admin/jobs/:action',
      {
        schema: {
          summary: 'Pause, resume or cancel every active job matching a filter (admin)',
          operationId: 'bulkControl',
          tags: ['operators'],
          security,
          params: s.actionParams,
          body: s.bulkBody,
          response: { 202: s.bulkOutcome, ...errorResponses(400, 401, 403, 503) },
        },
      },
      async (request, reply) =>
        status(reply, 202, await jobs.bulkControl(who(request), request.body, request.params.action)),
    );
  });

  // The jobs page and the operations endpoints, outside the API's auth (registered as a plugin, as the API routes
  // are, so the OpenAPI document lists them).
  void app.register(async (ops) => {
    const page = async (_request: FastifyRequest, reply: FastifyReply) =>
      // frame-ancestors keeps other sites from framing the page to trick clicks on Pause or Cancel.
      reply
        .headers({
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': JOBS_PAGE_CSP,
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
          'cache-control': 'no-store',
        })
        .send(JOBS_PAGE_HTML);
    ops.get('/', { schema: { hide: true } }, page);
    ops.get('/jobs', { schema: { hide: true } }, page);
    // One job's page: the same document for every id (its script reads the id and asks the API, which checks it).
    ops.get('/jobs/:id', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .headers({
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': JOB_DETAIL_PAGE_CSP,
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
          'cache-control': 'no-store',
        })
        .send(jobDetailPageHtml()),
    );
    // chart.js for the job page, from node_modules: its address carries its content hash, so it may be kept a year.
    ops.get(CHART_ASSET_PATH, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .headers({
          'content-type': 'text/javascript; charset=utf-8',
          'x-content-type-options': 'nosniff',
          'cache-control': 'public, max-age=31536000, immutable',
        })
        .send(chartAsset().body),
    );
    ops.get(
      '/healthz',
      { schema: { summary: 'Liveness', operationId: 'health', tags: ['operations'], response: { 200: s.health } } },
      async () => ({ ok: true }),
    );
    ops.get(
      '/readyz',
      {
        schema: {
          summary: 'Readiness: PostgreSQL and Temporal answer',
          operationId: 'readiness',
          tags: ['operations'],
          response: { 200: s.readiness, 503: s.readiness, 404: problemResponse },
        },
      },
      async (request, reply) => {
        if (!operations.readiness) {
          const path = '/readyz';
          return sendProblem(reply, problemAnswer(404, 'not_found', `no such endpoint: ${path}`, path));
        }
        const answer = await operations.readiness();
        return reply
          .code(answer.ok ? 200 : 503)
          .header('cache-control', 'no-store')
          .send(answer);
      },
    );
    ops.get(
      '/metrics',
      {
        schema: {
          summary: 'Prometheus metrics (behind API_METRICS_TOKEN when set)',
          operationId: 'metrics',
          tags: ['operations'],
          security: config.API_METRICS_TOKEN ? security : [],
          response: {
            200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
            401: problemResponse,
          },
        },
      },
      async (request, reply) => {
        const token = config.API_METRICS_TOKEN;
        if (token && !sameSecret(request.headers.authorization ?? '', `Bearer ${token}`)) {
          const answer = problemAnswer(401, 'unauthorized', 'metrics need the metrics token', '/metrics');
          const given = request.headers.authorization !== undefined;
          return sendProblem(reply, { ...answer, headers: { 'www-authenticate': wwwAuthenticate(given) } });
        }
        const text = await metrics.registry.metrics();
        return reply
          .headers({ 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' })
          .serializer((t: unknown) => t as string)
          .send(text);
      },
    );
    ops.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) =>
      reply.header('cache-control', 'no-store').send(app.swagger()),
    );
  });
  return app;
}

/** Operations whose body may be left out (pause, resume, cancel): @fastify/swagger marks every body required. */
const OPTIONAL_BODIES = new Set(['pauseJob', 'resumeJob', 'cancelJob']);

function optionalBodies<T>(document: T): T {
  const paths = (document as { paths?: Record<string, Record<string, unknown>> }).paths ?? {};
  for (const operations of Object.values(paths))
    for (const operation of Object.values(operations) as {
      operationId?: string;
      requestBody?: { required?: boolean };
    }[])
      if (operation.requestBody && OPTIONAL_BODIES.has(operation.operationId ?? ''))
        operation.requestBody.required = false;
  return document;
}

function sameSecret(given: string, expected: string): boolean {
  const [a, b] = [Buffer.from(given), Buffer.from(expected)];
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Starts `server` (the API, or any node:http server) on `port` (0: any free one); its base URL. */
export async function listen(server: ApiServer | http.Server, port: number, host = '127.0.0.1'): Promise<string> {
  if ('inject' in server) {
    await server.listen({ port, host });
    return `http://${host}:${(server.server.address() as AddressInfo).port}`;
  }
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return `http://${host}:${(server.address() as AddressInfo).port}`;
}

/** The OpenAPI document the API serves, built without listening (scripts/generate-openapi.ts writes it down). */
export async function openApiDocument(server: ApiServer): Promise<Record<string, unknown>> {
  await server.ready();
  return server.swagger() as unknown as Record<string, unknown>;
}
