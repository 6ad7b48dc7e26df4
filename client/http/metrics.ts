// The API's operations side: Prometheus metrics (requests by route and status, request latency, where job
// status came from, jobs by status from the jobs table, process metrics) and the readiness check behind
// /readyz. Routes are labelled by template, never by job id, so the series stay few.

import type http from 'node:http';
import type { ConnectionLike } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { checkDependencies, type Readiness } from '../../config/dependency-checks';
import type { Database } from '../../db/database';

export interface ApiMetrics {
  registry: Registry;
  /** Counts and times `request` when its response finishes. */
  track(request: http.IncomingMessage, response: http.ServerResponse, route: string): void;
  /** Counts an answer carrying a job status by where its progress came from (worker query or stored snapshot). */
  countStatusAnswer(body: unknown): void;
}

/** `db`, when given, adds the jobs-by-status gauge, read from the jobs table at scrape time. */
export function createApiMetrics(options: { db?: Kysely<Database> } = {}): ApiMetrics {
  // A registry per server, so two APIs in one process (tests) never share or clash over series.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'synapse_api_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'synapse_api_request_duration_seconds',
    help: 'HTTP request duration by method and route template',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const statusAnswers = new Counter({
    name: 'synapse_api_status_answers_total',
    help: 'Job status answers by progress source: live (worker query), last-live (the last one) or snapshot (jobs table)',
    labelNames: ['source'],
    registers: [registry],
  });
  if (options.db) registerJobsGauge(registry, options.db);
  return {
    registry,
    track(request, response, route) {
      const started = process.hrtime.bigint();
      response.once('finish', () => {
        const method = request.method ?? 'UNKNOWN';
        requests.inc({ method, route, status: String(response.statusCode) });
        duration.observe({ method, route }, Number(process.hrtime.bigint() - started) / 1e9);
      });
    },
    countStatusAnswer(body) {
      const source = (body as { progress_source?: unknown } | null)?.progress_source;
      if (source === 'live' || source === 'last-live' || source === 'snapshot') statusAnswers.inc({ source });
    },
  };
}

function registerJobsGauge(registry: Registry, db: Kysely<Database>): void {
  new Gauge({
    name: 'synapse_jobs',
    help: 'Jobs in the jobs table by type and status',
    labelNames: ['job_type', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      // The request metrics matter most when PostgreSQL is down: then this gauge has no series, and /readyz says why.
      const rows = await db
        .selectFrom('jobs')
        .select(['type', 'status', (eb) => eb.fn.countAll<string>().as('count')])
        .groupBy(['type', 'status'])
        .execute()
        .catch(() => []);
      for (const row of rows) this.set({ job_type: row.type, status: row.status }, Number(row.count));
    },
  });
}

export type { Readiness };

/** Ready = PostgreSQL answers and the Temporal namespace is reachable with our credentials, each within `timeoutMs`. */
export function apiReadiness(deps: {
  db: Kysely<Database>;
  connection: ConnectionLike;
  namespace: string;
  timeoutMs?: number;
}): () => Promise<Readiness> {
  return async () => {
    const checks = await checkDependencies(deps);
    return { ok: checks.database === 'ok' && checks.temporal === 'ok', checks };
  };
}
