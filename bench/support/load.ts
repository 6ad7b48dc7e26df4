// An open-loop load generator: requests leave on a fixed schedule whatever the answers do, and each
// latency counts from when its request was due, so a slow server cannot hide its queueing (no coordinated omission).

import http from 'node:http';
import { percentile, round } from './report';

export interface LoadResult {
  sent: number;
  byStatus: Record<string, number>;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Counts of a field of the JSON answers (e.g. progress_source: live / snapshot). */
  fieldCounts: Record<string, number>;
}

/** One answer as `observe` sees it: its HTTP status, its JSON body, and its latency from when it was due. */
export interface LoadAnswer {
  status: number;
  body: unknown;
  latencyMs: number;
}

export async function openLoopLoad(options: {
  url: string;
  headers: Record<string, string>;
  ratePerSecond: number;
  seconds: number;
  countField?: string;
  /**
   * Called as each request leaves, with when it was due (ms from the start); what it returns is called with that
   * request's answer. A reader of the answers can so tell what the client had already seen when it asked.
   */
  observe?: (dueMs: number) => (answer: LoadAnswer) => void;
}): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1_024 });
  const total = Math.round(options.ratePerSecond * options.seconds);
  const interval = 1_000 / options.ratePerSecond;
  const latencies: number[] = [];
  const byStatus: Record<string, number> = {};
  const fieldCounts: Record<string, number> = {};
  let errors = 0;
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const observer = options.observe?.(due - start);
    inFlight.push(
      get(agent, options.url, options.headers).then(
        ({ status, body }) => {
          const latencyMs = performance.now() - due;
          latencies.push(latencyMs);
          observer?.({ status, body: safeJson(body), latencyMs });
          byStatus[status] = (byStatus[status] ?? 0) + 1;
          if (options.countField) {
            const value = String((safeJson(body) as Record<string, unknown> | undefined)?.[options.countField]);
            fieldCounts[value] = (fieldCounts[value] ?? 0) + 1;
          }
        },
        () => {
          errors++;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  agent.destroy();
  const non2xx = Object.entries(byStatus)
    .filter(([s]) => !s.startsWith('2'))
    .reduce((sum, [, c]) => sum + c, 0);
  return {
    sent: total,
    byStatus,
    errors: errors + non2xx,
    p50Ms: round(percentile(latencies, 50), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    maxMs: round(Math.max(...latencies), 1),
    fieldCounts,
  };
}

function get(
  agent: http.Agent,
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, headers, timeout: 30_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
