// Liveness and readiness of a worker process for an orchestrator (Kubernetes probes, a load balancer, a
// supervisor): /healthz says the process and its worker are alive, /readyz that it can do work right now.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { checkDependencies, type Readiness } from '../config/dependency-checks';
import type { Database } from '../db/database';

export interface WorkerHealthDeps {
  worker: Pick<Worker, 'getState'>;
  db: Kysely<Database>;
  connection: NativeConnection;
  namespace: string;
  /** Longest one dependency check may take before it counts as failed. */
  checkTimeoutMs?: number;
}

export interface WorkerHealthServer {
  url: string;
  close(): Promise<void>;
}

/** States in which restarting the process would not help: it is starting, working or shutting down gracefully. */
const LIVE_STATES = new Set(['INITIALIZED', 'RUNNING', 'STOPPING', 'DRAINING', 'DRAINED']);

export async function startWorkerHealthServer(
  deps: WorkerHealthDeps,
  port: number,
  host = '127.0.0.1',
): Promise<WorkerHealthServer> {
  const server = http.createServer((request, response) => {
    // The checks answer rather than throw; should one throw all the same, the probe gets a 500 instead of an
    // unhandled rejection ending the worker process.
    answer(deps, request, response).catch((error: unknown) =>
      reply(response, 500, { error: error instanceof Error ? error.message : String(error) }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function answer(
  deps: WorkerHealthDeps,
  request: http.IncomingMessage,
  response: http.ServerResponse,
): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (request.method !== 'GET') return reply(response, 405, { error: 'GET only' });
  if (path === '/healthz') {
    const state = deps.worker.getState();
    return reply(response, LIVE_STATES.has(state) ? 200 : 503, { ok: LIVE_STATES.has(state), worker: state });
  }
  if (path === '/readyz') {
    const report = await workerReadiness(deps);
    return reply(response, report.ok ? 200 : 503, report);
  }
  reply(response, 404, { error: `no such endpoint: ${path}` });
}

/** Ready = polling (RUNNING), PostgreSQL answers, and the Temporal namespace is reachable with our credentials. */
export async function workerReadiness(deps: WorkerHealthDeps): Promise<Readiness> {
  const state = deps.worker.getState();
  const { database, temporal } = await checkDependencies({ ...deps, timeoutMs: deps.checkTimeoutMs });
  const checks = { worker: state === 'RUNNING' ? 'ok' : `worker is ${state}`, database, temporal };
  return { ok: Object.values(checks).every((value) => value === 'ok'), checks };
}

function reply(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  response.end(text);
}
