// The LLM client's node:http transport (activities/llm/http-transport.ts) under the real openai client, against the
// stand-in over real HTTP and a plain node:http server: answers, headers both ways, status errors, timeouts, aborts,
// refused connections, connection reuse, bodyless statuses, and the bodies it leaves to the global fetch.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { createOpenAiClient } from '../../activities/llm/llm';
import { nodeHttpFetch } from '../../activities/llm/http-transport';
import { startLlmStandin, type LlmStandin, type StandinRequest } from '../../llm-standin/server';
import { failureOf, waitFor } from '../support/waiting';

let standin: LlmStandin;
let openai: OpenAI;
beforeAll(async () => {
  standin = await startLlmStandin({
    port: 0,
    responders: { echo: (req: StandinRequest) => ({ item: req.itemKey ?? null, task: req.task }) },
    model: 'standin-model',
  });
  openai = createOpenAiClient({ apiKey: 'test', baseURL: standin.url, timeoutMs: 10_000 });
});
afterAll(() => standin.close());
beforeEach(() => {
  standin.setFaults({});
  standin.reset();
});

const ask = (item: string, options: { client?: OpenAI; signal?: AbortSignal; headers?: Record<string, string> } = {}) =>
  (options.client ?? openai).chat.completions
    .create(
      {
        model: 'gpt-test',
        messages: [
          { role: 'system', content: 'You are a data-quality analyst.' },
          { role: 'user', content: `TASK: echo\nITEM: ${item}\nColumn:\n{"name": "credit_score"}` },
        ],
        response_format: { type: 'json_object' },
        max_completion_tokens: 200,
      },
      { signal: options.signal, headers: options.headers },
    )
    .withResponse();

/** A plain HTTP server answering every request with `answer`, counting the connections it was opened on. */
/** The stand-in saw the (only) call's client go away: the request was closed, not left open. */
const abortReachesStandin = () =>
  waitFor(
    async () => standin.calls()[0]?.outcome,
    (outcome) => outcome === 'client_aborted',
    3_000,
    'the abort to reach the stand-in',
  );

async function plainServer(answer: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void) {
  let connections = 0;
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString());
      answer(req, bodies.at(-1)!, res);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    bodies,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

it('answers through the openai client: the parsed completion, its usage, the answer headers and ours sent', async () => {
  const { data, response } = await ask('ds1.a', {
    headers: { 'x-synapse-job-id': 'job-1', 'x-synapse-call-id': 'c-1' },
  });
  expect(JSON.parse(data.choices[0]!.message.content!)).toEqual({ item: 'ds1.a', task: 'echo' });
  expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/application\/json/);
  expect(standin.calls()[0]).toMatchObject({ jobId: 'job-1', callId: 'c-1', outcome: 'ok', status: 200 });
});

it('surfaces a 429 as RateLimitError with the provider headers readable', async () => {
  standin.setFaults({ rules: [{ kind: 'rate_limit', retryAfterSeconds: 2 }] });
  const error = await failureOf(ask('ds1.a'));
  expect(error).toBeInstanceOf(OpenAI.RateLimitError);
  const { status, headers } = error as InstanceType<typeof OpenAI.RateLimitError>;
  expect(status).toBe(429);
  expect(headers.get('retry-after')).toBe('2');
  expect(headers.get('x-ratelimit-remaining-requests')).toBe('0');
});

it('surfaces a 500 as InternalServerError', async () => {
  standin.setFaults({ rules: [{ kind: 'server_error' }] });
  expect(await failureOf(ask('ds1.a'))).toBeInstanceOf(OpenAI.InternalServerError);
});

it("times out at the client's timeout, and the provider sees the request go away", async () => {
  standin.setFaults({ rules: [{ kind: 'latency', latencyMs: 2_000 }] });
  const impatient = createOpenAiClient({ apiKey: 'test', baseURL: standin.url, timeoutMs: 150 });
  expect(await failureOf(ask('ds1.a', { client: impatient }))).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
  await abortReachesStandin();
});

it('aborts a hung call on its signal as APIUserAbortError, closing the request', async () => {
  standin.setFaults({ rules: [{ kind: 'hang', items: ['ds1.a'] }] });
  const abort = new AbortController();
  const call = ask('ds1.a', { signal: abort.signal });
  await waitFor(
    async () => standin.calls().length,
    (calls) => calls === 1,
    3_000,
    'the call to arrive',
  );
  abort.abort();
  expect(await failureOf(call)).toBeInstanceOf(OpenAI.APIUserAbortError);
  await abortReachesStandin();
});

it('reports a refused connection as APIConnectionError', async () => {
  const closed = await plainServer(() => undefined);
  await closed.close();
  const nobody = createOpenAiClient({ apiKey: 'test', baseURL: closed.url, timeoutMs: 5_000 });
  const error = await failureOf(ask('ds1.a', { client: nobody }));
  expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
  expect(error).not.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
});

it('reuses one connection for calls one after another, and opens more only for calls at once', async () => {
  const completion = JSON.stringify({
    id: 'x',
    object: 'chat.completion',
    created: 0,
    model: 'm',
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: '{}' } }],
  });
  const server = await plainServer((req, body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(completion);
  });
  try {
    const client = createOpenAiClient({ apiKey: 'test', baseURL: server.url, timeoutMs: 5_000 });
    for (const item of ['a', 'b', 'c', 'd', 'e']) await ask(item, { client });
    expect(server.connections()).toBe(1);
    await Promise.all(['f', 'g', 'h'].map((item) => ask(item, { client })));
    expect(server.connections()).toBe(3);
    // The body went as the client wrote it, JSON with the prompt.
    expect(JSON.parse(server.bodies[0]!)).toMatchObject({ model: 'gpt-test', max_completion_tokens: 200 });
  } finally {
    await server.close();
  }
});

it('answers a bodyless status with no body, and leaves a body that is not text or bytes to the global fetch', async () => {
  const server = await plainServer((req, body, res) => {
    if (req.method === 'DELETE') {
      res.writeHead(204);
      return res.end();
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${req.headers['content-type']?.split(';')[0]}:${body.includes('hello') ? 'hello' : ''}`);
  });
  try {
    const send = nodeHttpFetch();
    const gone = await send(`${server.url}/thing`, { method: 'DELETE' });
    expect([gone.status, gone.body]).toEqual([204, null]);
    const form = new FormData();
    form.append('file', new Blob(['hello']), 'a.txt');
    const posted = await send(`${server.url}/upload`, { method: 'POST', body: form });
    expect(await posted.text()).toBe('multipart/form-data:hello');
  } finally {
    await server.close();
  }
});
