// Progress a client sees through the status API never goes backwards: every answer carries the job's progress
// revision, which grows with each change, and an answer is never older than one the client was given before, even
// when the worker is SIGKILLed between a live answer and a stored snapshot that predates it, and when it comes back.

import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import { createHarness, type Harness, type RunningApi } from '../support/harness';
import { waitFor } from '../support/waiting';
import { endAllSpawnedWorkers, spawnWorkerProcess } from '../support/worker-process';

let harness: Harness;
let api: RunningApi;

beforeAll(async () => {
  harness = await createHarness();
  api = await harness.startApi();
});
afterEach(() => endAllSpawnedWorkers());
afterAll(async () => {
  await endAllSpawnedWorkers();
  await harness?.close();
});

interface StatusAnswer {
  status: string;
  progress_source: string;
  progress_revision: number | null;
  completed_steps: number | null;
}

const brief = (a: StatusAnswer) => `${a.progress_source}: revision ${a.progress_revision}, ${a.completed_steps} steps`;

/**
 * Every status answer of one job, in the order the test received them (one request at a time, as a polling client
 * sends them), each checked against the ones before: neither its revision nor its steps done may be lower.
 */
class StatusWatch {
  readonly answers: StatusAnswer[] = [];

  constructor(private readonly jobId: string) {}

  async next(): Promise<StatusAnswer> {
    const { status, body } = await api.request('watcher', 'GET', `/api/v1/jobs/${this.jobId}/status`);
    expect(status).toBe(200);
    const answer = body as StatusAnswer;
    expect(answer.progress_revision).toEqual(expect.any(Number));
    const before = this.answers;
    const floor = {
      revision: Math.max(-1, ...before.map((a) => a.progress_revision!)),
      steps: Math.max(-1, ...before.map((a) => a.completed_steps!)),
    };
    const older = answer.progress_revision! < floor.revision || answer.completed_steps! < floor.steps;
    expect(older ? { older: brief(answer), after: before.slice(-3).map(brief) } : undefined).toBeUndefined();
    this.answers.push(answer);
    return answer;
  }
}

it('never answers with progress older than an answer before it, when the worker is SIGKILLed after a live answer newer than the stored snapshot and when it comes back', async () => {
  const attributeIds = (await demoCatalogue(harness.db)).slice(0, 60).map((a) => a.name);
  expect(attributeIds).toHaveLength(60);
  // 60 steps: the workflow stores a snapshot every second step (SNAPSHOTS_PER_JOB in workflows/control/control.ts),
  // so with three attributes through and the fourth held, a worker answers 3 steps while the stored snapshot says 2.
  const passed = 3;
  const gate = harness.standin.gate({ items: attributeIds.slice(passed).map((a) => `${DEMO_DATA_SOURCE_ID}.${a}`) });
  try {
    const first = spawnWorkerProcess(harness.config);
    await first.ready;
    const started = await api.request('watcher', 'POST', '/api/v1/jobs', {
      jobType: 'data_profiling_llm_generation',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      llmConcurrency: 1,
      useLlmCache: false,
    });
    expect(started.status).toBe(201);
    const watch = new StatusWatch(started.body.job_id);
    await gate.waitUntilHeld(1, 30_000);

    // Bounds: a worker answers a query in milliseconds; 30 s allows a busy machine.
    const live = await waitFor(
      () => watch.next(),
      (a) => a.progress_source === 'live' && a.completed_steps === passed,
      30_000,
      `a live answer with ${passed} steps done`,
    );
    const stored = (await harness.jobs.job(started.body.job_id))?.progress;
    expect(stored).toMatchObject({ completedSteps: passed - 1, revision: expect.any(Number) });
    // The case where answering from the snapshot would go backwards: it predates the live answer.
    expect(stored!.revision).toBeLessThan(live.progress_revision!);

    await first.kill('SIGKILL');
    // Once a query has gone unanswered the API stops answering `live`; bounded by STATUS_LIVE_CACHE_MS and
    // STATUS_QUERY_TIMEOUT_MS, with 30 s to spare for a busy machine.
    const gone = await waitFor(
      () => watch.next(),
      (a) => a.progress_source !== 'live',
      30_000,
      'an answer once no worker answers',
    );
    // The newest answer a worker gave, marked as such, rather than the older snapshot.
    expect(gone).toMatchObject({
      status: 'running',
      progress_source: 'last-live',
      completed_steps: passed,
      progress_revision: live.progress_revision,
    });
    for (let i = 0; i < 5; i++) expect((await watch.next()).progress_source).toBe('last-live');

    await spawnWorkerProcess(harness.config).ready;
    // A worker back: one background query finds it, and answers are live again.
    await waitFor(
      () => watch.next(),
      (a) => a.progress_source === 'live',
      60_000,
      'a live answer once a worker is back',
    );
    gate.open();
    const finished = await waitFor(
      () => watch.next(),
      (a) => a.status === 'completed',
      60_000,
      'the job to complete',
    );
    expect(finished).toMatchObject({ progress_source: 'snapshot', completed_steps: attributeIds.length });
    expect(finished.progress_revision).toBeGreaterThan(live.progress_revision!);
  } finally {
    gate.open();
  }
});
