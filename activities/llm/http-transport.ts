// The LLM client's HTTP transport: a `fetch` for the openai client made of node:http(s) requests on keep-alive agents,
// in place of Node's global fetch (undici and its web streams). At 50 calls in flight the worker's main thread is what a
// slot's hand-off waits for (an answer read, the next call built and written): bench:efficiency measured the worker's
// CPU at 10.1 ms an attribute with the global fetch and 8.3 ms with this transport (docs/llm.md, The HTTP client).
//
// What it does not do, because no call of ours needs it: stream (the answer is read whole before the Response is
// made; `stream: true` would still work, only late), follow redirects (a 3xx is answered as it came, and the client
// reports it as an APIError), or ask for compressed answers.

import http from 'node:http';
import https from 'node:https';

/** What the openai client passes to its `fetch`: a URL, and a method, headers, a body and a signal. */
type FetchInit = {
  method?: string;
  headers?: ConstructorParameters<typeof Headers>[0];
  body?: unknown;
  signal?: AbortSignal | null;
};

/** Statuses whose Response may carry no body (the Response constructor refuses one). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch` for `new OpenAI({ fetch })`, over one keep-alive agent per protocol (connections reused between calls, as
 * fetch's pool does). A body that is not text or bytes (a form upload, a stream) goes through the global fetch.
 */
export function nodeHttpFetch(): typeof fetch {
  const plain = new http.Agent({ keepAlive: true });
  const secure = new https.Agent({ keepAlive: true });
  return async (input: string | URL | Request, init: FetchInit = {}): Promise<Response> => {
    const { body } = init;
    const sendable = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    if (input instanceof Request || !sendable) return fetch(input, init as RequestInit);
    const url = new URL(input);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fetch(input, init as RequestInit);
    init.signal?.throwIfAborted();
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => (headers[name] = value));
    const [client, agent] = url.protocol === 'https:' ? [https, secure] : [http, plain];
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = client.request(
        url,
        { method: init.method ?? 'GET', headers, agent, signal: init.signal ?? undefined },
        resolve,
      );
      request.on('error', reject);
      request.end(body ?? undefined);
    });
    // Read whole; an abort or a connection lost meanwhile rejects here, as fetch's body would.
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    const status = response.statusCode ?? 0;
    const answerHeaders = new Headers();
    const raw = response.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) answerHeaders.append(raw[i]!, raw[i + 1]!);
    return new Response(NULL_BODY_STATUSES.has(status) ? null : Buffer.concat(chunks), {
      status,
      statusText: response.statusMessage,
      headers: answerHeaders,
    });
  };
}
