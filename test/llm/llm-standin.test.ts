// The LLM stand-in through the real openai client over real HTTP: deterministic answers, per-item call
// counts, every scripted fault, structured outputs, quota limits, the control endpoints, and prompt shutdown.

import OpenAI from 'openai';
import { z } from 'zod';
import { responseFormat } from '../../activities/llm/llm-response-format';
import { delayFor, type FaultPlan } from '../../llm-standin/faults';
import { startLlmStandin, type CallRecord, type LlmStandin, type StandinRequest } from '../../llm-standin/server';
import { failureOf } from '../support/waiting';

const responders = {
  echo: (req: StandinRequest) => ({ item: req.itemKey ?? null, task: req.task }),
  explode: () => {
    throw new Error('responder bug');
  },
};

let standin: LlmStandin;
let openai: OpenAI;
beforeAll(async () => {
  standin = await startLlmStandin({ port: 0, responders, model: 'standin-model' });
  openai = new OpenAI({ apiKey: 'test', baseURL: standin.url, maxRetries: 0 });
});
afterAll(() => standin.close());
beforeEach(() => {
  standin.setFaults({});
  standin.reset();
});

const prompt = (item: string, task = 'echo') => `TASK: ${task}\nITEM: ${item}\nColumn:\n{"name": "credit_score"}`;
const messages = (item: string, task?: string) => [
  { role: 'system' as const, content: 'You are a data-quality analyst.' },
  { role: 'user' as const, content: prompt(item, task) },
];
const ask = (item: string, task?: string, client = openai, signal?: AbortSignal) =>
  client.chat.completions.create(
    {
      model: 'gpt-test',
      messages: messages(item, task),
      response_format: { type: 'json_object' },
      max_completion_tokens: 200,
    },
    { signal },
  );

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const outcomesOf = (calls: CallRecord[], item: string) => calls.filter((c) => c.itemKey === item).map((c) => c.outcome);
const OPENAI_DURATION = /^(\d+m)?(\d+(\.\d+)?s|\d+ms)$/;

describe('answers', () => {
  it("answers with the task responder's JSON, echoes the model and estimates usage at four characters a token", async () => {
    const completion = await ask('ds1.credit_score');
    const content = completion.choices[0]?.message.content ?? '';
    expect(JSON.parse(content)).toEqual({ item: 'ds1.credit_score', task: 'echo' });
    expect(completion).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-test',
      choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant' } }],
    });
    const promptTokens = messages('ds1.credit_score').reduce((sum, m) => sum + Math.ceil(m.content.length / 4), 0);
    expect(completion.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: Math.ceil(content.length / 4),
      total_tokens: promptTokens + Math.ceil(content.length / 4),
    });
    expect(standin.calls()).toEqual([
      expect.objectContaining({ itemKey: 'ds1.credit_score', task: 'echo', outcome: 'ok', status: 200, promptTokens }),
    ]);
  });

  it('gives the same answer to the same prompt every time', async () => {
    const first = await ask('ds1.apr_rate');
    const second = await ask('ds1.apr_rate');
    expect(second.choices[0]?.message.content).toBe(first.choices[0]?.message.content);
  });

  it('lists its model', async () => {
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['standin-model']);
  });

  it('rejects a prompt whose task has no responder with an OpenAI-style 400', async () => {
    const error = await failureOf(ask('ds1.x', 'no_such_task'));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).type).toBe('invalid_request_error');
    expect((error as Error).message).toMatch(/no_such_task/);
  });

  it('answers 500 when the responder throws', async () => {
    const error = await failureOf(ask('ds1.x', 'explode'));
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect((error as Error).message).toMatch(/responder bug/);
    expect(standin.calls()[0]).toMatchObject({ outcome: 'server_error', status: 500 });
  });
});

describe('call accounting', () => {
  it('counts every request per item in arrival order, whatever its outcome', async () => {
    standin.setFaults({ rules: [{ kind: 'server_error', items: ['ds1.a'], firstCallsPerItem: 1 }] });
    await failureOf(ask('ds1.a'));
    await ask('ds1.a');
    await ask('ds1.b');
    await ask('ds1.a');
    expect(standin.callCount('ds1.a')).toBe(3);
    expect(standin.callCount('ds1.b')).toBe(1);
    expect(standin.callCount('ds1.never')).toBe(0);
    expect(standin.calls().map((c) => [c.itemKey, c.outcome])).toEqual([
      ['ds1.a', 'server_error'],
      ['ds1.a', 'ok'],
      ['ds1.b', 'ok'],
      ['ds1.a', 'ok'],
    ]);
    for (const call of standin.calls()) expect(call.finishedAt).toBeGreaterThanOrEqual(call.receivedAt);
  });

  it('forgets counts and records on reset but keeps the fault plan', async () => {
    standin.setFaults({ rules: [{ kind: 'wrong_shape' }] });
    await ask('ds1.a');
    standin.reset();
    expect(standin.callCount('ds1.a')).toBe(0);
    expect(standin.calls()).toEqual([]);
    const completion = await ask('ds1.a');
    expect(JSON.parse(completion.choices[0]?.message.content ?? '')).toEqual({ unexpected: true });
  });
});

describe('faults', () => {
  it('sends 429 with Retry-After, retry-after-ms and x-ratelimit headers, surfaced as RateLimitError', async () => {
    standin.setFaults({ rules: [{ kind: 'rate_limit', retryAfterSeconds: 2 }] });
    const error = await failureOf(ask('ds1.a'));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const { headers, status, code } = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(status).toBe(429);
    expect(code).toBe('rate_limit_exceeded');
    expect(headers.get('retry-after')).toBe('2');
    expect(headers.get('retry-after-ms')).toBe('2000');
    expect(headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(headers.get('x-ratelimit-reset-requests')).toBe('2s');
    expect(Number(headers.get('x-ratelimit-remaining-tokens'))).toBeGreaterThanOrEqual(0);
    expect(headers.get('x-ratelimit-reset-tokens')).toMatch(OPENAI_DURATION);
    expect(standin.calls()[0]).toMatchObject({ outcome: 'rate_limited', status: 429 });
  });

  it('answers a quota_spent call normally, with headers saying the request quota is used up until the reset', async () => {
    standin.setFaults({ rules: [{ kind: 'quota_spent', items: ['ds1.a'], retryAfterSeconds: 2 }] });
    const { data, response } = await openai.chat.completions
      .create({ model: 'gpt-test', messages: messages('ds1.a') })
      .withResponse();
    expect(JSON.parse(data.choices[0]?.message.content ?? '')).toEqual({ item: 'ds1.a', task: 'echo' });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(response.headers.get('x-ratelimit-reset-requests')).toBe('2s');
    expect(response.headers.get('retry-after')).toBeNull();
    const other = await openai.chat.completions
      .create({ model: 'gpt-test', messages: messages('ds1.b') })
      .withResponse();
    expect(Number(other.response.headers.get('x-ratelimit-remaining-requests'))).toBeGreaterThan(0);
    expect(standin.calls().map((c) => [c.outcome, c.status])).toEqual([
      ['ok', 200],
      ['ok', 200],
    ]);
  });

  it('sends 503 by default for server_error and the configured status otherwise', async () => {
    standin.setFaults({ rules: [{ kind: 'server_error', items: ['ds1.b'], status: 502 }, { kind: 'server_error' }] });
    const unavailable = await failureOf(ask('ds1.a'));
    const badGateway = await failureOf(ask('ds1.b'));
    expect(unavailable).toBeInstanceOf(OpenAI.InternalServerError);
    expect((unavailable as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((badGateway as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect(standin.calls().map((c) => c.outcome)).toEqual(['server_error', 'server_error']);
  });

  it('answers 200 with text that is not JSON for malformed, and valid JSON of the wrong shape for wrong_shape', async () => {
    standin.setFaults({
      rules: [
        { kind: 'malformed', items: ['ds1.a'] },
        { kind: 'wrong_shape', items: ['ds1.b'] },
      ],
    });
    const malformed = (await ask('ds1.a')).choices[0]?.message.content ?? '';
    const wrongShape = (await ask('ds1.b')).choices[0]?.message.content ?? '';
    const healthy = (await ask('ds1.c')).choices[0]?.message.content ?? '';
    expect(malformed.length).toBeGreaterThan(0);
    expect(() => JSON.parse(malformed)).toThrow(SyntaxError);
    expect(JSON.parse(wrongShape)).toEqual({ unexpected: true });
    expect(JSON.parse(healthy)).toEqual({ item: 'ds1.c', task: 'echo' });
    expect(standin.calls().map((c) => c.outcome)).toEqual(['malformed', 'wrong_shape', 'ok']);
  });

  it('holds a hung request unanswered until the client aborts, and records client_aborted', async () => {
    standin.setFaults({ rules: [{ kind: 'hang', items: ['ds1.a'] }] });
    const abort = new AbortController();
    let settled = false;
    const call = ask('ds1.a', 'echo', openai, abort.signal).finally(() => (settled = true));
    await waitFor(() => standin.calls()[0]?.outcome === 'hung', 'the request to arrive');
    // A later request is answered while the hung one still has no answer: held, not merely slow.
    await ask('ds1.b');
    expect(settled).toBe(false);
    expect(standin.calls()[0]).toMatchObject({ outcome: 'hung' });
    expect(standin.calls()[0]?.finishedAt).toBeUndefined();
    abort.abort();
    expect(await failureOf(call)).toBeInstanceOf(OpenAI.APIUserAbortError);
    await waitFor(() => standin.calls()[0]?.outcome === 'client_aborted', 'the abort to be recorded');
    expect(standin.calls()[0]?.finishedAt).toBeGreaterThanOrEqual(standin.calls()[1]!.finishedAt!);
    expect(standin.calls()[0]?.status).toBeUndefined();
  });

  it('records client_aborted when the client times out during slow latency, and never answers that call', async () => {
    standin.setFaults({ rules: [{ kind: 'latency', latencyMs: 2_000 }] });
    const impatient = new OpenAI({ apiKey: 'test', baseURL: standin.url, maxRetries: 0, timeout: 150 });
    // Under Jest's sandbox the client cannot always tell its own timeout abort apart, so accept the base class.
    expect(await failureOf(ask('ds1.a', 'echo', impatient))).toBeInstanceOf(OpenAI.APIConnectionError);
    await waitFor(() => standin.calls()[0]?.outcome === 'client_aborted', 'the timeout to be recorded');
    // The latency's timer ends with the client gone: nothing is sent, and a later call on the same item is answered
    // afresh.
    standin.setFaults({});
    await ask('ds1.a');
    expect(standin.calls().map((c) => [c.outcome, c.status])).toEqual([
      ['client_aborted', undefined],
      ['ok', 200],
    ]);
  });

  it('applies a rule only to the first N calls of each matching item', async () => {
    standin.setFaults({ rules: [{ kind: 'rate_limit', firstCallsPerItem: 2, retryAfterSeconds: 1 }] });
    for (const item of ['ds1.a', 'ds1.b']) {
      for (let i = 0; i < 3; i++) await ask(item).catch(() => undefined);
    }
    expect(outcomesOf(standin.calls(), 'ds1.a')).toEqual(['rate_limited', 'rate_limited', 'ok']);
    expect(outcomesOf(standin.calls(), 'ds1.b')).toEqual(['rate_limited', 'rate_limited', 'ok']);
  });

  it('hits the same calls for a fraction on every run, and roughly that share of them', async () => {
    const plan: FaultPlan = { rules: [{ kind: 'server_error', fraction: 0.5 }] };
    const run = async () => {
      standin.reset();
      standin.setFaults(plan);
      for (let i = 0; i < 40; i++) await ask(`ds1.col_${i}`).catch(() => undefined);
      return standin.calls().map((c) => c.outcome);
    };
    const first = await run();
    const second = await run();
    expect(second).toEqual(first);
    const failed = first.filter((o) => o === 'server_error').length;
    expect(failed).toBeGreaterThanOrEqual(10);
    expect(failed).toBeLessThanOrEqual(30);
  });

  it('draws a fraction per call, so an item hit once can get through on a later call', async () => {
    standin.setFaults({ rules: [{ kind: 'server_error', fraction: 0.5 }] });
    const items = Array.from({ length: 40 }, (_, i) => `ds1.retry_${i}`);
    for (const item of items) for (let call = 0; call < 2; call++) await ask(item).catch(() => undefined);
    // Independent draws at 0.5: about half the items see different outcomes on their two calls.
    const changed = items.filter((item) => new Set(outcomesOf(standin.calls(), item)).size === 2).length;
    expect(changed).toBeGreaterThanOrEqual(10);
    expect(changed).toBeLessThanOrEqual(30);
  });

  it('matches rules by item pattern and task, and applies only the first matching rule', async () => {
    standin.setFaults({
      rules: [
        { kind: 'malformed', itemPattern: '^ds2\\.' },
        { kind: 'wrong_shape', task: 'echo', items: ['ds1.a'] },
        { kind: 'server_error', items: ['ds1.a', 'ds2.a'] },
      ],
    });
    await ask('ds2.a');
    await ask('ds1.a');
    await ask('ds1.b');
    expect(standin.calls().map((c) => c.outcome)).toEqual(['malformed', 'wrong_shape', 'ok']);
  });

  it('adds deterministic jitter from the item and call index, within the configured bound', () => {
    const plan: FaultPlan = { latencyMs: 100, latencyJitterMs: 50 };
    const delays = Array.from({ length: 20 }, (_, i) =>
      delayFor(plan, undefined, { itemKey: `ds1.col_${i}`, callIndex: 0 }),
    );
    expect(
      Array.from({ length: 20 }, (_, i) => delayFor(plan, undefined, { itemKey: `ds1.col_${i}`, callIndex: 0 })),
    ).toEqual(delays);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...delays)).toBeLessThan(150);
    expect(new Set(delays).size).toBeGreaterThan(5);
  });
});

describe('structured outputs', () => {
  /** The echo answer's schema, with a field the echo responder leaves out: a strict answer writes it as null. */
  const echoFormat = responseFormat(
    'json_schema',
    'echo_answer',
    z.object({ item: z.string(), task: z.string(), note: z.string().optional() }),
  );
  const askWith = (item: string, response_format: OpenAI.ChatCompletionCreateParams['response_format']) =>
    openai.chat.completions.create({ model: 'gpt-test', messages: messages(item), response_format });

  it("answers a strict json_schema request in the schema's strict form, and records the format and that it conformed", async () => {
    const completion = await askWith('ds1.a', echoFormat);
    expect(JSON.parse(completion.choices[0]?.message.content ?? '')).toEqual({
      item: 'ds1.a',
      task: 'echo',
      note: null,
    });
    await ask('ds1.b');
    expect(standin.calls().map((c) => [c.responseFormat, c.answerConforms])).toEqual([
      [{ type: 'json_schema', name: 'echo_answer', strict: true }, true],
      [{ type: 'json_object' }, undefined],
    ]);
  });

  it('refuses a strict schema a provider would refuse with its 400, before the responder or any fault', async () => {
    standin.setFaults({ rules: [{ kind: 'server_error' }] });
    const error = await failureOf(
      askWith('ds1.a', {
        type: 'json_schema',
        json_schema: {
          name: 'loose',
          strict: true,
          schema: { type: 'object', properties: { item: { type: 'string' } }, required: ['item'] },
        },
      }),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'response_format' });
    expect((error as Error).message).toContain(
      "Invalid schema for response_format 'loose': In context=(), 'additionalProperties' is required to be supplied and to be false.",
    );
    expect(standin.calls()).toEqual([expect.objectContaining({ outcome: 'server_error', status: 400 })]);
  });

  it('still breaks the schema when told to: malformed and wrong_shape answers do not conform', async () => {
    standin.setFaults({
      rules: [
        { kind: 'malformed', items: ['ds1.a'] },
        { kind: 'wrong_shape', items: ['ds1.b'] },
      ],
    });
    const malformed = (await askWith('ds1.a', echoFormat)).choices[0]?.message.content ?? '';
    const wrongShape = (await askWith('ds1.b', echoFormat)).choices[0]?.message.content ?? '';
    expect(() => JSON.parse(malformed)).toThrow(SyntaxError);
    expect(JSON.parse(wrongShape)).toEqual({ unexpected: true });
    expect(standin.calls().map((c) => [c.outcome, c.answerConforms])).toEqual([
      ['malformed', false],
      ['wrong_shape', false],
    ]);
  });
});

describe('quota limits', () => {
  it('answers 429 once the requests-per-minute budget is spent, with a Retry-After from when the window frees', async () => {
    standin.setFaults({ limits: { requestsPerMinute: 3 } });
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const { response } = await openai.chat.completions
        .create({ model: 'gpt-test', messages: messages(`ds1.c${i}`) })
        .withResponse();
      remaining.push(response.headers.get('x-ratelimit-remaining-requests'));
      expect(response.headers.get('x-ratelimit-reset-requests')).toMatch(OPENAI_DURATION);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const error = await failureOf(ask('ds1.c3'));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const { headers } = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(Number(headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
    expect(Number(headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(headers.get('x-ratelimit-reset-requests')).toMatch(/^(59(\.\d+)?s|1m0s)$/);
    expect(standin.calls().map((c) => c.outcome)).toEqual(['ok', 'ok', 'ok', 'rate_limited']);
  });

  it('answers 429 once the tokens-per-minute budget is spent', async () => {
    const tokensPerCall = messages('ds1.t0').reduce((sum, m) => sum + Math.ceil(m.content.length / 4), 0);
    standin.setFaults({ limits: { tokensPerMinute: tokensPerCall * 2 } });
    await ask('ds1.t0');
    const error = await failureOf(ask('ds1.t1'));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).type).toBe('tokens');
    expect(
      Number((error as InstanceType<typeof OpenAI.RateLimitError>).headers.get('x-ratelimit-remaining-tokens')),
    ).toBeLessThan(tokensPerCall);
  });
});

describe('gates', () => {
  const askFor = (item: string, jobId: string) =>
    openai.chat.completions.create(
      { model: 'gpt-test', messages: messages(item), response_format: { type: 'json_object' } },
      { headers: { 'x-synapse-job-id': jobId } },
    );

  it('holds matching calls until released, oldest first, and lets other calls through meanwhile', async () => {
    const gate = standin.gate({ jobId: 'job-a' });
    const answered: string[] = [];
    const held = ['a1', 'a2', 'a3'].map((item) => askFor(item, 'job-a').then(() => answered.push(item)));
    await gate.waitUntilHeld(3);
    await askFor('b1', 'job-b'); // another job's call is not held
    expect(answered).toEqual([]);
    expect(
      standin
        .calls()
        .filter((c) => c.held)
        .map((c) => c.itemKey),
    ).toEqual(['a1', 'a2', 'a3']);
    gate.release(1);
    await waitFor(() => answered.length === 1, 'the first released call to be answered');
    expect(gate.held()).toBe(2);
    gate.open();
    await Promise.all(held);
    expect(answered.sort()).toEqual(['a1', 'a2', 'a3']);
    await askFor('a4', 'job-a'); // an open gate holds nothing more
    expect(gate.heldTotal()).toBe(3);
  });

  it('matches by item, task and call number, and holds no more than its limit', async () => {
    const gate = standin.gate({ itemPattern: '^x', fromCall: 2, limit: 1 });
    await ask('x1'); // call 1: before fromCall
    const second = ask('x2');
    await gate.waitUntilHeld(1);
    await ask('x3'); // over the limit
    await ask('y4'); // another item
    expect(gate.heldTotal()).toBe(1);
    gate.release();
    await second;
  });

  it('counts a held call whose client goes away as aborted and never answers it', async () => {
    const gate = standin.gate({ items: ['gone'] });
    const controller = new AbortController();
    const call = failureOf(ask('gone', 'echo', openai, controller.signal));
    await gate.waitUntilHeld(1);
    controller.abort();
    expect(await call).toBeInstanceOf(OpenAI.APIUserAbortError);
    await waitFor(() => gate.aborted() === 1, 'the stand-in to see the abort');
    expect(gate.held()).toBe(0);
    expect(standin.calls()[0]).toMatchObject({ itemKey: 'gone', outcome: 'client_aborted', held: true });
  });

  it('says what it waited for when not enough calls arrive in time', async () => {
    const gate = standin.gate({ items: ['never'] });
    await expect(gate.waitUntilHeld(2, 50)).rejects.toThrow(/waited 50 ms for 2 held calls; 0 held now/);
  });

  it('is driven over HTTP by a process that runs the stand-in elsewhere, and reset opens every gate', async () => {
    const base = standin.url.replace(/\/v1$/, '');
    const created = (await (
      await fetch(`${base}/_standin/gates`, { method: 'POST', body: JSON.stringify({ items: ['remote'] }) })
    ).json()) as { id: string };
    const call = ask('remote');
    await waitFor(() => standin.calls().some((c) => c.itemKey === 'remote'), 'the call to arrive');
    expect(await (await fetch(`${base}/_standin/gates/${created.id}`)).json()).toMatchObject({ held: 1 });
    const released = await (
      await fetch(`${base}/_standin/gates/${created.id}/release`, { method: 'POST', body: '{}' })
    ).json();
    expect(released).toMatchObject({ held: 0, heldTotal: 1 });
    await call;
    expect((await fetch(`${base}/_standin/gates`, { method: 'POST', body: JSON.stringify({ bogus: 1 }) })).status).toBe(
      400,
    );
    standin.gate({ items: ['after-reset'] });
    const pending = ask('after-reset');
    await waitFor(() => standin.calls().some((c) => c.itemKey === 'after-reset' && c.held), 'the call to be held');
    standin.reset();
    await pending;
  });
});

describe('HTTP control surface', () => {
  const control = (path: string, init?: RequestInit) => fetch(new URL(path, standin.url), init);

  it('replaces the fault plan with PUT /_standin/faults', async () => {
    const response = await control('/_standin/faults', {
      method: 'PUT',
      body: JSON.stringify({ rules: [{ kind: 'server_error', status: 500 }] }),
    });
    expect(response.status).toBe(204);
    expect(((await failureOf(ask('ds1.a'))) as InstanceType<typeof OpenAI.APIError>).status).toBe(500);
  });

  it('refuses an invalid fault plan with 400 and keeps the current one', async () => {
    const response = await control('/_standin/faults', {
      method: 'PUT',
      body: JSON.stringify({ rules: [{ kind: 'explode' }] }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    expect((await ask('ds1.a')).choices[0]?.message.content).toBeTruthy();
  });

  it('reports calls and per-item counts on GET /_standin/stats and clears them on POST /_standin/reset', async () => {
    await ask('ds1.a');
    await ask('ds1.a');
    await ask('ds1.b');
    const stats = (await (await control('/_standin/stats')).json()) as {
      calls: CallRecord[];
      countsByItem: Record<string, number>;
    };
    expect(stats.countsByItem).toEqual({ 'ds1.a': 2, 'ds1.b': 1 });
    expect(stats.calls.map((c) => c.itemKey)).toEqual(['ds1.a', 'ds1.a', 'ds1.b']);
    expect((await control('/_standin/reset', { method: 'POST' })).status).toBe(204);
    expect(standin.callCount('ds1.a')).toBe(0);
    expect(await (await control('/_standin/stats')).json()).toEqual({ calls: [], countsByItem: {} });
  });
});

describe('shutdown', () => {
  it('closes promptly while a request hangs, cutting that request off', async () => {
    const own = await startLlmStandin({ responders, faults: { rules: [{ kind: 'hang' }] } });
    let closeHung = false;
    try {
      const client = new OpenAI({ apiKey: 'test', baseURL: own.url, maxRetries: 0 });
      const call = failureOf(ask('ds1.a', 'echo', client));
      await waitFor(() => own.callCount('ds1.a') === 1, 'the hanging request to arrive');
      // server.close() alone resolves only once every connection ends, and a hung request never ends by itself
      // (the client's own timeout is 10 minutes): close resolving, with the call cut off, is the proof. The 10 s
      // bound only turns a hang into a failure that says so, well before Jest's timeout.
      let guard: NodeJS.Timeout | undefined;
      const hung = new Promise<never>(
        (_, reject) =>
          (guard = setTimeout(
            () => reject(new Error('close() still waiting after 10 s: the hung connection kept it open')),
            10_000,
          )),
      );
      await Promise.race([own.close(), hung])
        .catch((error) => {
          closeHung = true;
          throw error;
        })
        .finally(() => clearTimeout(guard));
      expect(await call).toBeInstanceOf(OpenAI.APIConnectionError);
      expect(own.calls()[0]?.outcome).toBe('hung');
    } finally {
      if (!closeHung) await own.close();
    }
  });
});
