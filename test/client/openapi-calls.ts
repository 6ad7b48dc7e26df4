// A typed call of every route of the HTTP API through openapi-fetch, with the types openapi-typescript generated
// from the OpenAPI document (client/http/openapi-types.d.ts): `npm run typecheck` holds every path, parameter, body
// and answer here to the document, and test/client/openapi.test.ts runs the calls against a live server, so the
// document describes requests the server really takes and answers it really gives.

import createClient from 'openapi-fetch';
import type { paths } from '../../client/http/openapi-types';

export interface RouteCall {
  /** `METHOD /path/template`, as the document names the operation. */
  route: string;
  status: number;
  /** The answer as the generated types read it (data on success, the problem otherwise). */
  body: unknown;
}

/**
 * Calls every route once, in an order where each succeeds on a job no worker runs: start, read, pause, resume,
 * priority, cancel, then the operators' and operations' routes. `owner` and `admin` are bearer tokens.
 */
export async function callEveryRoute(
  baseUrl: string,
  tokens: { owner: string; admin: string },
  dataSourceId: string,
): Promise<RouteCall[]> {
  const asOwner = createClient<paths>({ baseUrl, headers: { authorization: `Bearer ${tokens.owner}` } });
  const asAdmin = createClient<paths>({ baseUrl, headers: { authorization: `Bearer ${tokens.admin}` } });
  const calls: RouteCall[] = [];
  const record = (route: string, answer: { response: Response; data?: unknown; error?: unknown }) => {
    calls.push({ route, status: answer.response.status, body: answer.data ?? answer.error });
  };

  const started = await asOwner.POST('/api/v1/jobs', {
    body: { jobType: 'data_profiling_llm_generation', dataSourceId, attributeIds: ['credit_score'], priority: 'low' },
    headers: { 'idempotency-key': `openapi-calls-${Date.now()}` },
  });
  record('POST /api/v1/jobs', started);
  const id = started.data?.job_id;
  if (!id) throw new Error(`the start was refused: ${JSON.stringify(started.error)}`);
  const path = { params: { path: { id } } };

  const page = await asOwner.GET('/api/v1/jobs', { params: { query: { limit: 1, include: 'metadata' } } });
  record('GET /api/v1/jobs', page);
  record('GET /api/v1/jobs/{id}', await asOwner.GET('/api/v1/jobs/{id}', path));
  const status = await asOwner.GET('/api/v1/jobs/{id}/status', path);
  record('GET /api/v1/jobs/{id}/status', status);
  record('GET /api/v1/jobs/{id}/history', await asOwner.GET('/api/v1/jobs/{id}/history', path));
  record('GET /api/v1/jobs/{id}/results', await asOwner.GET('/api/v1/jobs/{id}/results', path));
  // The job runs on no worker, so its stream stays open: its first event is read, then the stream is let go.
  const events = await asOwner.GET('/api/v1/jobs/{id}/events', { ...path, parseAs: 'stream' });
  record('GET /api/v1/jobs/{id}/events', { ...events, data: events.data ? await firstEvent(events.data) : undefined });
  record('POST /api/v1/jobs/{id}/pause', await asOwner.POST('/api/v1/jobs/{id}/pause', { ...path, body: {} }));
  record('POST /api/v1/jobs/{id}/resume', await asOwner.POST('/api/v1/jobs/{id}/resume', path));
  record(
    'POST /api/v1/jobs/{id}/priority',
    await asOwner.POST('/api/v1/jobs/{id}/priority', { ...path, body: { priority: 'high' } }),
  );
  record(
    'PATCH /api/v1/jobs/{id}/priority',
    await asOwner.PATCH('/api/v1/jobs/{id}/priority', { ...path, body: { priority: 2 } }),
  );
  record('POST /api/v1/jobs/{id}/cancel', await asOwner.POST('/api/v1/jobs/{id}/cancel', path));

  record('GET /api/v1/llm-budget', await asAdmin.GET('/api/v1/llm-budget'));
  const model = { params: { path: { model: 'openapi-calls-model' } } };
  record(
    'PUT /api/v1/llm-budget/{model}',
    await asAdmin.PUT('/api/v1/llm-budget/{model}', { ...model, body: { tpm: 90_000 } }),
  );
  record(
    'PATCH /api/v1/llm-budget/{model}',
    await asAdmin.PATCH('/api/v1/llm-budget/{model}', { ...model, body: { rpm: 600 } }),
  );
  record(
    'POST /api/v1/admin/jobs/{action}',
    await asAdmin.POST('/api/v1/admin/jobs/{action}', {
      params: { path: { action: 'cancel' } },
      body: { owner: `nobody-${Date.now()}` },
    }),
  );

  record('GET /healthz', await asOwner.GET('/healthz'));
  record('GET /readyz', await asOwner.GET('/readyz'));
  record('GET /metrics', await asOwner.GET('/metrics', { parseAs: 'text' }));

  // Typed reads of the answers: these lines only compile while the document describes these fields.
  const progress: number | undefined = status.data?.progress_percentage;
  const next: string | null | undefined = page.data?.next_cursor;
  const problemCode: string | undefined = status.error?.code;
  void [progress, next, problemCode];
  return calls;
}

/** The first event block of a text/event-stream body (a `retry:` line alone is no event); the stream is cancelled. */
async function firstEvent(body: ReadableStream<Uint8Array>): Promise<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  try {
    while (!/\ndata: .*\n\n/.test(text)) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    await reader.cancel();
  }
  return text;
}
