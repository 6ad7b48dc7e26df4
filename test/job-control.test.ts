// The job-control contract through the HTTP API on running jobs with a slowed-down LLM: pause, pause-now,
// resume, cancel (in-flight HTTP requests aborted), cancel while paused, wrong-state refusals, priority,
// and the stock `temporal` CLI using the documented signal names.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { createHarness, type Harness, type RunningApi } from './support/harness';
import { temporalCliPath } from './support/temporal-cli';
import { sleep, waitFor } from './support/waiting';

let harness: Harness;
let api: RunningApi;
let attributes: string[];

beforeAll(async () => {
  harness = await createHarness({ faults: { latencyMs: 600 } });
  await harness.startWorker();
  api = await harness.startApi();
  const catalogue = await harness.db.selectFrom('data_source_attributes').select('name').where('data_source_id', '=', DEMO_DATA_SOURCE_ID).orderBy('position').execute();
  attributes = catalogue.map((a) => a.name);
});
afterAll(() => harness.close());
beforeEach(() => {
  harness.standin.reset();
  harness.standin.setFaults({ latencyMs: 600 });
});

const item = (attribute: string) => `${DEMO_DATA_SOURCE_ID}.${attribute}`;
const owner = 'controller';

async function startJob(count: number, concurrency: number, extra: Record<string, unknown> = {}): Promise<string> {
  const { status, body } = await api.request(owner, 'POST', '/api/v1/jobs', { jobType: 'data_profiling_llm_generation', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: attributes.slice(0, count), llmConcurrency: concurrency, ...extra });
  expect(status).toBe(201);
  return body.job_id;
}

const status = (jobId: string) => api.request(owner, 'GET', `/api/v1/jobs/${jobId}/status`).then((r) => r.body);
const storedCount = async (jobId: string) => (await harness.db.selectFrom('attribute_results').select('attribute').where('job_id', '=', jobId).execute()).length;

describe('pause and resume', () => {
  it('starts no new LLM call within 1 s of pause, none while paused, and finishes after resume with no item done twice', async () => {
    const jobId = await startJob(24, 3);
    await waitFor(() => storedCount(jobId), (n) => n >= 3);
    const pausedAt = Date.now();
    expect((await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/pause`)).status).toBe(202);
    await waitFor(() => status(jobId), (s) => s.status === 'paused');

    await sleep(4_000);
    const started = harness.standin.calls().map((c) => c.receivedAt);
    const lastStartAfterPause = Math.max(...started.filter((t) => t >= pausedAt), pausedAt);
    expect(lastStartAfterPause - pausedAt).toBeLessThan(1_000);
    expect(started.filter((t) => t > pausedAt + 1_000)).toEqual([]);
    const whilePaused = await storedCount(jobId);
    expect(whilePaused).toBeLessThan(24);
    console.info(`pause latency: last new LLM call ${lastStartAfterPause - pausedAt} ms after the pause request`);

    expect((await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/resume`)).status).toBe(202);
    const job = await harness.jobs.waitForJob(jobId);
    expect(job?.status).toBe('completed');
    for (const attribute of attributes.slice(0, 24)) expect(harness.standin.callCount(item(attribute))).toBe(1);
  });

  it('pause-now aborts the calls in flight and redoes exactly those on resume', async () => {
    harness.standin.setFaults({ latencyMs: 600, rules: [{ kind: 'latency', latencyMs: 5_000, firstCallsPerItem: 1, items: attributes.slice(3, 12).map(item) }] });
    const jobId = await startJob(12, 3);
    await waitFor(() => storedCount(jobId), (n) => n >= 2);
    await waitFor(async () => harness.standin.calls().filter((c) => !c.finishedAt).length, (n) => n >= 1);
    expect((await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/pause`, { now: true })).status).toBe(202);
    await waitFor(() => status(jobId), (s) => s.status === 'paused' && s.in_flight === 0);
    const aborted = harness.standin.calls().filter((c) => c.outcome === 'client_aborted').map((c) => c.itemKey);
    expect(aborted.length).toBeGreaterThanOrEqual(1);

    await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/resume`);
    expect((await harness.jobs.waitForJob(jobId))?.status).toBe('completed');
    expect(await storedCount(jobId)).toBe(12);
    for (const attribute of attributes.slice(0, 12)) {
      expect(harness.standin.callCount(item(attribute))).toBe(aborted.includes(item(attribute)) ? 2 : 1);
    }
  });

  it('refuses to resume a running job and to pause a finished one with 409', async () => {
    const jobId = await startJob(2, 2);
    expect((await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/resume`)).body.error.code).toBe('wrong_state');
    await harness.jobs.waitForJob(jobId);
    const refused = await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/pause`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/it is completed/);
    const events = (await api.request(owner, 'GET', `/api/v1/jobs/${jobId}/history`)).body.events;
    expect(events.map((e: { action: string; outcome: string }) => `${e.action}:${e.outcome.split(':')[0]}`)).toEqual(['start:ok', 'resume:refused', 'pause:refused']);
  });
});

describe('cancel', () => {
  it('aborts the LLM requests in flight, keeps what was stored and ends cancelled', async () => {
    harness.standin.setFaults({ latencyMs: 600, rules: [{ kind: 'latency', latencyMs: 30_000, items: attributes.slice(6, 20).map(item) }] });
    const jobId = await startJob(20, 4);
    await waitFor(() => storedCount(jobId), (n) => n >= 4);
    await waitFor(async () => harness.standin.calls().filter((c) => !c.finishedAt).length, (n) => n >= 2);
    const cancelledAt = Date.now();
    expect((await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/cancel`)).status).toBe(202);
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'cancelled', error: 'Cancelled by request' });
    const aborted = harness.standin.calls().filter((c) => c.outcome === 'client_aborted');
    expect(aborted.length).toBeGreaterThanOrEqual(2);
    const latest = Math.max(...aborted.map((c) => c.finishedAt!));
    console.info(`cancel latency: in-flight LLM requests aborted ${latest - cancelledAt} ms after the cancel request`);
    expect(await storedCount(jobId)).toBeGreaterThanOrEqual(4);
    expect((await status(jobId)).status).toBe('cancelled');
  });

  it('cancels a paused job', async () => {
    const jobId = await startJob(10, 2);
    await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/pause`);
    await waitFor(() => status(jobId), (s) => s.status === 'paused');
    await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/cancel`);
    expect((await harness.jobs.waitForJob(jobId))?.status).toBe('cancelled');
  });
});

describe('priority', () => {
  it('dispatches a high-priority job before a low-priority one already waiting on a saturated queue', async () => {
    // Its own task queue and a worker with two activity slots: the queue is saturated by design.
    const saturated = await createHarness({ faults: { latencyMs: 500 }, config: { WORKER_MAX_CONCURRENT_ACTIVITIES: 2 } });
    try {
      await saturated.startWorker();
      const start = (count: number, offset: number, priority: string) =>
        saturated.jobs.startJob({ jobType: 'data_profiling_llm_generation', owner, dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: attributes.slice(offset, offset + count), llmConcurrency: count, priority } as never);
      const low = await start(20, 0, 'low');
      await waitFor(async () => saturated.standin.calls().length, (n) => n >= 2);
      const highStartedAt = Date.now();
      const high = await start(6, 20, 'high');
      await saturated.jobs.waitForJob(high.jobId);
      const calls = saturated.standin.calls();
      const isHigh = (key?: string) => attributes.slice(20, 26).some((a) => key === item(a));
      const lastHighCall = Math.max(...calls.filter((c) => isHigh(c.itemKey)).map((c) => c.receivedAt));
      const lowCallsMeanwhile = calls.filter((c) => !isHigh(c.itemKey) && c.receivedAt > highStartedAt && c.receivedAt <= lastHighCall);
      // Eighteen low-priority tasks were queued first; at most the slots freed while the high job was being scheduled go to them.
      expect(lowCallsMeanwhile.length).toBeLessThanOrEqual(2);
      expect((await saturated.jobs.waitForJob(low.jobId))?.status).toBe('completed');
    } finally {
      await saturated.close();
    }
  });

  it('changes the priority of a running job and refuses nonsense with 400', async () => {
    const jobId = await startJob(6, 2, { priority: 4 });
    const changed = await api.request(owner, 'PATCH', `/api/v1/jobs/${jobId}/priority`, { priority: 'high' });
    expect(changed.status).toBe(202);
    await waitFor(() => status(jobId), (s) => s.priority === 1);
    const refused = await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/priority`, { priority: 9 });
    expect(refused).toMatchObject({ status: 400, body: { error: { field: 'priority' } } });
    await harness.jobs.waitForJob(jobId);
  });
});

describe('the stock temporal CLI', () => {
  it('pauses, reads progress of and resumes a job by the documented names', async () => {
    const jobId = await startJob(16, 2);
    // Asynchronously: the worker runs in this process and must keep answering while the CLI waits.
    const cli = async (...args: string[]) => (await promisify(execFile)(temporalCliPath(), [...args, '--workflow-id', jobId, '--address', harness.config.TEMPORAL_ADDRESS])).stdout;
    await cli('workflow', 'signal', '--name', 'pause');
    await waitFor(() => status(jobId), (s) => s.status === 'paused');
    expect(await cli('workflow', 'query', '--type', 'progress', '--output', 'json')).toMatch(/"status":\s*"paused"/);
    await cli('workflow', 'signal', '--name', 'resume');
    await waitFor(() => status(jobId), (s) => s.status !== 'paused');
    expect((await harness.jobs.waitForJob(jobId))?.status).toBe('completed');
  });
});

describe('an operator pausing one activity with `temporal activity pause`', () => {
  it('holds that item without failing the job, and finishes it after unpause', async () => {
    const slow = attributes[0]!;
    harness.standin.setFaults({ latencyMs: 300, rules: [{ kind: 'latency', latencyMs: 60_000, firstCallsPerItem: 1, items: [item(slow)] }] });
    const jobId = await startJob(4, 4);
    await waitFor(() => storedCount(jobId), (n) => n >= 3);
    const { raw } = await harness.jobs.handle(jobId).describe();
    const [pending] = raw.pendingActivities ?? [];
    expect(raw.pendingActivities).toHaveLength(1);
    const cli = async (...args: string[]) => (await promisify(execFile)(temporalCliPath(), ['activity', ...args, '--workflow-id', jobId, '--activity-id', pending!.activityId!, '--address', harness.config.TEMPORAL_ADDRESS])).stdout;

    await cli('pause');
    await waitFor(async () => harness.standin.calls().filter((c) => c.itemKey === item(slow) && c.outcome === 'client_aborted').length, (n) => n === 1);
    await sleep(2_000);
    expect((await status(jobId)).status).toBe('running');
    expect(harness.standin.callCount(item(slow))).toBe(1);

    await cli('unpause');
    expect((await harness.jobs.waitForJob(jobId))?.status).toBe('completed');
    expect(await storedCount(jobId)).toBe(4);
    expect(harness.standin.callCount(item(slow))).toBe(2);
  });
});
