// GET /api/v1/jobs/{id}/events against a real API, worker, PostgreSQL and LLM stand-in: a running job's progress is
// pushed in order as it happens and its final state ends the stream, from each of two API servers on one database;
// a reconnect with Last-Event-ID never goes backwards, nor does a stream go stale when its LISTEN connection is cut;
// someone else's job, a malformed id and no token are problem answers with no stream opened. Every LLM call waits at
// a stand-in gate, so the job moves one step when the test says; reads again are an hour apart, so only NOTIFY can
// have brought each step.

import { sql } from 'kysely';
import { createApiServer, listen } from '../../client/http/server';
import { openJobEvents, serverSentEvents, type JobStreamEvent } from '../../client/job-event-stream';
import { createLogger } from '../../config/logging';
import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import type { StandinGate } from '../../llm-standin/server';
import { createHarness, type Harness, type RunningApi, type RunningWorker } from '../support/harness';
import { waitFor } from '../support/waiting';

let harness: Harness;
let first: RunningApi;
let second: RunningApi;
let worker: RunningWorker;

beforeAll(async () => {
  // An hour between reads again: within a test, every event comes from a notification (or a reconnect's read).
  harness = await createHarness({ config: { JOB_EVENTS_HEARTBEAT_MS: 3_600_000 } });
  [first, second] = [await harness.startApi(), await harness.startApi()];
  worker = await harness.startWorker();
});
afterAll(async () => {
  await worker?.stop();
  await harness?.close();
});

/** Every event of one stream, as it arrives, and whether the server has ended the stream. */
class Collected {
  readonly events: JobStreamEvent[] = [];
  ended = false;
  readonly done: Promise<void>;

  constructor(stream: AsyncGenerator<JobStreamEvent>) {
    this.done = (async () => {
      for await (const event of stream) this.events.push(event);
      this.ended = true;
    })();
  }

  get last(): JobStreamEvent | undefined {
    return this.events.at(-1);
  }

  /** Waits (bounded) until an event says at least `steps` steps are done. */
  async untilSteps(steps: number): Promise<void> {
    await waitFor(
      async () => this.events.map((e) => e.status.completed_steps ?? 0),
      (seen) => seen.some((s) => s >= steps),
      30_000,
      `an event with ${steps} steps done`,
    );
  }
}

async function startGatedJob(owner: string, attributes: number): Promise<{ jobId: string; gate: StandinGate }> {
  const gate = harness.standin.gate({});
  const attributeIds = (await demoCatalogue(harness.db)).slice(0, attributes).map((a) => a.name);
  const started = await first.request(owner, 'POST', '/api/v1/jobs', {
    jobType: 'data_profiling_llm_generation',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds,
    llmConcurrency: 1,
  });
  expect(started.status).toBe(201);
  await gate.waitUntilHeld(1, 30_000);
  return { jobId: started.body.job_id as string, gate };
}

/** Each event newer than the one before: a higher revision, and never fewer steps done. */
function expectInOrder(events: JobStreamEvent[]): void {
  const out = events.flatMap((event, i) => {
    const before = events[i - 1];
    if (!before) return [];
    const backwards =
      (event.id ?? -1) <= (before.id ?? -1) ||
      (event.status.completed_steps ?? 0) < (before.status.completed_steps ?? 0);
    return backwards ? [`event ${i}: ${event.id} after ${before.id}`] : [];
  });
  expect(out).toEqual([]);
}

it('pushes a running job’s progress in order as each step happens and its final state, then closes, from each of two API servers on one database', async () => {
  const steps = 5;
  const { jobId, gate } = await startGatedJob('eve', steps);
  const token = await first.tokenFor('eve');
  const streams = [
    new Collected(await openJobEvents(first.url, jobId, token)),
    new Collected(await openJobEvents(second.url, jobId, token)),
  ];
  for (const stream of streams) {
    await waitFor(
      async () => stream.events.length,
      (n) => n >= 1,
      10_000,
      'the first event',
    );
    expect(stream.events[0]).toMatchObject({ event: 'status', status: { job_id: jobId, status: 'running' } });
  }
  // One step at a time: each shows up on both streams before the next is let go.
  for (let step = 1; step <= steps; step++) {
    gate.release(1);
    for (const stream of streams) await stream.untilSteps(step);
    if (step < steps) await gate.waitUntilHeld(1, 30_000);
  }
  await Promise.all(streams.map((s) => s.done));
  for (const stream of streams) {
    expect(stream.ended).toBe(true);
    expectInOrder(stream.events);
    expect(stream.last).toMatchObject({ event: 'final', status: { status: 'completed', completed_steps: steps } });
    expect(stream.events.filter((e) => e.event === 'final')).toHaveLength(1);
    // A step is an event of its own: at least one event for each number of steps done on the way.
    const stepsSeen = new Set(stream.events.map((e) => e.status.completed_steps));
    for (let step = 1; step <= steps; step++) expect(stepsSeen.has(step)).toBe(true);
  }
  // Both servers end on the same final event, which the status endpoint also answers.
  const [a, b] = streams.map((s) => s.last!) as [JobStreamEvent, JobStreamEvent];
  expect(a.id).toBe(b.id);
  const status = await first.request('eve', 'GET', `/api/v1/jobs/${jobId}/status`);
  expect(a.status).toMatchObject({ status: status.body.status, progress_revision: status.body.progress_revision });
  gate.open();
});

it('resumes after Last-Event-ID without going backwards, and reaches the final state after its LISTEN connection is cut', async () => {
  const { jobId, gate } = await startGatedJob('fay', 4);
  const token = await second.tokenFor('fay');
  const abort = new AbortController();
  const early = await openJobEvents(second.url, jobId, token, { signal: abort.signal });
  const seen = (await early.next()).value as JobStreamEvent;
  expect(seen.id).toEqual(expect.any(Number));
  abort.abort();

  // The job moves on while the client is away.
  gate.release(1);
  await gate.waitUntilHeld(1, 30_000);
  await waitFor(
    () => second.request('fay', 'GET', `/api/v1/jobs/${jobId}/status`),
    (answer) => answer.body.completed_steps >= 1,
    30_000,
    'one step done',
  );
  const resumed = new Collected(await openJobEvents(second.url, jobId, token, { lastEventId: seen.id }));
  await waitFor(
    async () => resumed.events.length,
    (n) => n >= 1,
    10_000,
    'the first event after reconnecting',
  );
  expect(resumed.events[0]!.id).toBeGreaterThan(seen.id!);
  expect(resumed.events[0]!.status.completed_steps).toBeGreaterThanOrEqual(1);

  // Reconnecting with the newest id gives that state again at most, never an older one.
  const newest = resumed.events[0]!.id!;
  const again = await openJobEvents(second.url, jobId, token, { lastEventId: newest });
  const current = (await again.next()).value as JobStreamEvent;
  expect(current.id).toBeGreaterThanOrEqual(newest);
  await again.return(undefined);

  // Cut every LISTEN connection of this database: the servers connect again and read the job again.
  const cut = await sql<{ pid: number }>`
    select pg_terminate_backend(pid) as pid from pg_stat_activity
    where datname = current_database() and query = 'LISTEN job_events'`.execute(harness.db);
  expect(cut.rows.length).toBeGreaterThanOrEqual(1);
  gate.open();
  await resumed.done;
  expectInOrder(resumed.events);
  expect(resumed.last).toMatchObject({ event: 'final', status: { status: 'completed', completed_steps: 4 } });
});

it('answers someone else’s job, a malformed id, a malformed Last-Event-ID and no token with a problem, opening no stream', async () => {
  const { jobId, gate } = await startGatedJob('gus', 1);
  try {
    const token = await first.tokenFor('mallory');
    const problems = await Promise.all([
      fetch(`${first.url}/api/v1/jobs/${jobId}/events`, { headers: { authorization: `Bearer ${token}` } }),
      fetch(`${first.url}/api/v1/jobs/not%20a%20job/events`, { headers: { authorization: `Bearer ${token}` } }),
      fetch(`${first.url}/api/v1/jobs/${jobId}/events`, {
        headers: { authorization: `Bearer ${await first.tokenFor('gus')}`, 'last-event-id': 'yesterday' },
      }),
      fetch(`${first.url}/api/v1/jobs/${jobId}/events`),
    ]);
    expect(problems.map((r) => r.status)).toEqual([404, 400, 400, 401]);
    for (const response of problems) {
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await response.json()).toMatchObject({ status: response.status });
    }
  } finally {
    gate.open();
  }
  await waitFor(
    () => first.request('gus', 'GET', `/api/v1/jobs/${jobId}/status`),
    (answer) => answer.body.status === 'completed',
    30_000,
    'the job to complete',
  );
});

it('keeps a quiet stream open with heartbeat comments', async () => {
  const { jobId, gate } = await startGatedJob('hal', 1);
  // A server of its own with heartbeats 200 ms apart (15 s by default): the job stays held, so nothing else is sent.
  const server = createApiServer(
    harness.jobs,
    { ...harness.config, JOB_EVENTS_HEARTBEAT_MS: 200 },
    {
      logger: createLogger('api', { level: 'silent' }),
    },
  );
  try {
    const url = await listen(server, 0);
    const abort = new AbortController();
    const response = await fetch(`${url}/api/v1/jobs/${jobId}/events`, {
      headers: { authorization: `Bearer ${await first.tokenFor('hal')}` },
      signal: abort.signal,
    });
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if (text.split(': heartbeat\n\n').length > 3) break;
    }
    abort.abort();
    // One status event, then only heartbeats: the comments are not events.
    const events = [];
    for await (const event of serverSentEvents(new Response(text).body!)) events.push(event);
    expect(events.map((e) => e.event)).toEqual(['status']);
  } finally {
    gate.open();
    await server.close();
  }
});
