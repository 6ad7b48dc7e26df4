// Reading GET /api/v1/jobs/{id}/events from TypeScript: fetch with the bearer header (EventSource cannot send one),
// the body parsed as Server-Sent Events (event, id, data; comments such as heartbeats skipped). What a backend service,
// the tests and bench/job-events.ts use.

import type { LegacyJobStatus } from './job-status';

/** One event of a job's stream: `status` (a change, or the first) or `final` (the job ended; the stream closes). */
export interface JobStreamEvent {
  event: 'status' | 'final';
  /** The progress revision the event carries (the Last-Event-ID to reconnect with); undefined without one. */
  id: number | undefined;
  status: LegacyJobStatus;
}

/** The raw events of a `text/event-stream` body, one per blank-line-terminated block, comments skipped. */
export async function* serverSentEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<{ event: string; id: string | undefined; data: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'id') id = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0) yield { event, id, data: data.join('\n') };
    }
  }
}

/**
 * Opens a job's event stream at `baseUrl` with `token`; rejects with the problem's detail when the API refuses it
 * (404, 401). The events end when the stream does (after `final`, or when the connection drops: reconnect then with
 * the last event's id as `lastEventId`).
 */
export async function openJobEvents(
  baseUrl: string,
  jobId: string,
  token: string,
  options: { lastEventId?: number; signal?: AbortSignal } = {},
): Promise<AsyncGenerator<JobStreamEvent>> {
  const response = await fetch(`${baseUrl}/api/v1/jobs/${encodeURIComponent(jobId)}/events`, {
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'text/event-stream',
      ...(options.lastEventId !== undefined ? { 'last-event-id': String(options.lastEventId) } : {}),
    },
    signal: options.signal,
  });
  if (!response.ok || !response.body) {
    const problem = (await response.json().catch(() => ({}))) as { detail?: string };
    throw Object.assign(new Error(`events of job ${jobId}: ${response.status} ${problem.detail ?? ''}`.trim()), {
      status: response.status,
    });
  }
  const body = response.body;
  return (async function* () {
    for await (const raw of serverSentEvents(body)) {
      if (raw.event !== 'status' && raw.event !== 'final') continue;
      yield {
        event: raw.event,
        id: raw.id === undefined ? undefined : Number(raw.id),
        status: JSON.parse(raw.data) as LegacyJobStatus,
      };
    }
  })();
}
