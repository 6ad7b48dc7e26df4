// The job-control contract through the HTTP API on running jobs whose LLM calls a test holds at the stand-in's
// gate: pause, pause-now, resume, cancel (in-flight HTTP requests aborted), cancel while paused, wrong-state
// refusals, priority (dispatch order, and the priority and fairness key of activities scheduled after a change),
// and the stock `temporal` CLI using the documented signal names. Facts come from the gate, the stand-in's
// records and the workflow history; bench/control-latency.ts measures how long pause and cancel take.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { msToNumber } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import { LLM_ACTIVITY } from '../../workflows/control/activity-options';
import { cancelWhileHeld, heldAtGate, pauseNowWhileHeld, pauseWhileHeld } from '../support/control-checks';
import { createHarness, type Harness, type RunningApi } from '../support/harness';
import { activityCounts, factsAfter, isControl, jobHistory, timeMs } from '../support/job-history';
import { temporalCliPath } from '../support/temporal-cli';
import { waitFor } from '../support/waiting';

let harness: Harness;
let api: RunningApi;
let attributes: string[];

beforeAll(async () => {
  harness = await createHarness();
  await harness.startWorker();
  api = await harness.startApi();
  const catalogue = await demoCatalogue(harness.db);
  attributes = catalogue.map((a) => a.name);
});
afterAll(() => harness.close());
beforeEach(() => harness.standin.reset());

const item = (attribute: string) => `${DEMO_DATA_SOURCE_ID}.${attribute}`;
const owner = 'controller';
const principal = { subject: owner, admin: false };
const GENERATE = 'generateValidationRules';
const heartbeatTimeoutMs = msToNumber(LLM_ACTIVITY.heartbeatTimeout!);

async function startJob(count: number, concurrency: number, extra: Record<string, unknown> = {}): Promise<string> {
  const { status, body } = await api.request(owner, 'POST', '/api/v1/jobs', {
    jobType: 'data_profiling_llm_generation',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: attributes.slice(0, count),
    llmConcurrency: concurrency,
    ...extra,
  });
  expect(status).toBe(201);
  return body.job_id;
}

/** Activity tasks waiting in the harness's task queue, by priority key, as the matching service counts them. */
async function backlogByPriority(of: Harness): Promise<Record<number, number>> {
  const { statsByPriorityKey } = await of.temporal.workflowService.describeTaskQueue({
    namespace: of.config.TEMPORAL_NAMESPACE,
    taskQueue: { name: of.config.TEMPORAL_TASK_QUEUE },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    reportStats: true,
  });
  return Object.fromEntries(
    Object.entries(statsByPriorityKey ?? {}).map(([key, stats]) => [
      Number(key),
      Number(stats.approximateBacklogCount ?? 0),
    ]),
  );
}

const status = (jobId: string) => api.request(owner, 'GET', `/api/v1/jobs/${jobId}/status`).then((r) => r.body);
const storedCount = async (jobId: string) =>
  (await harness.db.selectFrom('attribute_results').select('attribute').where('job_id', '=', jobId).execute()).length;
/** A control request through the API, which must accept it. */
const send = (jobId: string, action: string, body?: unknown) => async () =>
  expect((await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/${action}`, body)).status).toBe(202);

describe('pause and resume', () => {
  it('starts no new LLM call once paused, lets the calls in flight finish, and finishes after resume with no item done twice', async () => {
    // The first three calls go through; the pause lands while the next three are held.
    const gate = harness.standin.gate({ fromCall: 4 });
    const jobId = await startJob(24, 3);
    await gate.waitUntilHeld(3, 30_000);
    expect(await storedCount(jobId)).toBe(3);
    await pauseWhileHeld(harness, principal, jobId, heldAtGate(gate), 3, GENERATE, send(jobId, 'pause'));
    // The three held calls were answered; no call arrived after them.
    expect(harness.standin.calls().map((c) => c.outcome)).toEqual(Array(6).fill('ok'));
    expect(await storedCount(jobId)).toBe(6);

    gate.open();
    await send(jobId, 'resume')();
    expect((await harness.jobs.waitForJob(jobId))?.status).toBe('completed');
    for (const attribute of attributes.slice(0, 24)) expect(harness.standin.callCount(item(attribute))).toBe(1);
  });

  it('pause-now aborts the calls in flight and redoes exactly those on resume', async () => {
    // The first two calls go through; pause-now lands while the next three are held.
    const gate = harness.standin.gate({ fromCall: 3 });
    const jobId = await startJob(12, 3);
    await pauseNowWhileHeld(
      harness,
      principal,
      jobId,
      heldAtGate(gate),
      3,
      GENERATE,
      send(jobId, 'pause', { now: true }),
    );
    // Exactly the held calls (the third to fifth to arrive) were aborted, and nothing of theirs was stored.
    const calls = harness.standin.calls();
    const aborted = calls.filter((c) => c.outcome === 'client_aborted').map((c) => c.itemKey);
    expect(aborted).toEqual(calls.slice(2, 5).map((c) => c.itemKey));
    const stored = await harness.db
      .selectFrom('attribute_results')
      .select('attribute')
      .where('job_id', '=', jobId)
      .execute();
    expect(stored.map((r) => item(r.attribute)).sort()).toEqual(
      calls
        .slice(0, 2)
        .map((c) => c.itemKey)
        .sort(),
    );

    gate.open();
    await send(jobId, 'resume')();
    expect((await harness.jobs.waitForJob(jobId))?.status).toBe('completed');
    expect(await storedCount(jobId)).toBe(12);
    for (const attribute of attributes.slice(0, 12)) {
      expect(harness.standin.callCount(item(attribute))).toBe(aborted.includes(item(attribute)) ? 2 : 1);
    }
  });

  it('refuses to resume a running job and to pause a finished one with 409', async () => {
    const gate = harness.standin.gate({});
    const jobId = await startJob(2, 2);
    await gate.waitUntilHeld(2, 30_000);
    expect((await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/resume`)).body.code).toBe('wrong_state');
    gate.open();
    await harness.jobs.waitForJob(jobId);
    const refused = await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/pause`);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/it is completed/);
    const events = (await api.request(owner, 'GET', `/api/v1/jobs/${jobId}/history`)).body.events;
    expect(events.map((e: { action: string; outcome: string }) => `${e.action}:${e.outcome.split(':')[0]}`)).toEqual([
      'start:ok',
      'resume:refused',
      'pause:refused',
    ]);
  });
});

describe('cancel', () => {
  it('aborts the LLM requests in flight, keeps what was stored and ends cancelled', async () => {
    // The first four calls go through; the cancel lands while the next four are held.
    const gate = harness.standin.gate({ fromCall: 5 });
    const jobId = await startJob(20, 4);
    await cancelWhileHeld(
      harness,
      principal,
      jobId,
      heldAtGate(gate),
      4,
      GENERATE,
      heartbeatTimeoutMs,
      send(jobId, 'cancel'),
    );
    expect(harness.standin.calls().map((c) => c.outcome)).toEqual([
      ...Array(4).fill('ok'),
      ...Array(4).fill('client_aborted'),
    ]);
    expect(await storedCount(jobId)).toBe(4);
    expect((await status(jobId)).status).toBe('cancelled');
  });

  it('cancels a paused job, aborting the calls its pause let run on', async () => {
    const gate = harness.standin.gate({});
    const jobId = await startJob(10, 2);
    await gate.waitUntilHeld(2, 30_000);
    await send(jobId, 'pause')();
    await waitFor(
      () => status(jobId),
      (s) => s.status === 'paused',
      30_000,
      'the job paused',
    );
    await send(jobId, 'cancel')();
    expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'cancelled' });
    await waitFor(
      async () => gate.aborted(),
      (n) => n === 2,
      30_000,
      'the two held calls aborted',
    );
    expect(activityCounts(factsAfter(await jobHistory(harness.temporal, jobId), isControl('pause')), GENERATE)).toEqual(
      { 'activity-cancel-requested': 2, canceled: 2 },
    );
  });
});

describe('priority', () => {
  it('dispatches a high-priority job before a low-priority one already waiting on a saturated queue', async () => {
    // Its own task queue and a worker with two activity slots: the queue is saturated by design.
    const saturated = await createHarness({ config: { WORKER_MAX_CONCURRENT_ACTIVITIES: 2 } });
    try {
      await saturated.startWorker();
      const start = (count: number, offset: number, priority: 'high' | 'low') =>
        saturated.jobs.startJob({
          jobType: 'data_profiling_llm_generation',
          owner,
          dataSourceId: DEMO_DATA_SOURCE_ID,
          attributeIds: attributes.slice(offset, offset + count),
          llmConcurrency: count,
          priority,
        });
      // Both slots busy with the low job's calls, held; its other seventeen activities wait in the queue. (19, below
      // the concurrency of 20 from which a job's activities carry several attributes: one activity per attribute here.)
      const gate = saturated.standin.gate({});
      const low = await start(19, 0, 'low');
      await gate.waitUntilHeld(2, 30_000);
      const high = await start(6, 20, 'high');
      await waitFor(
        () => backlogByPriority(saturated),
        (b) => (b[1] ?? 0) >= 6 && (b[5] ?? 0) >= 17,
        30_000,
        'six high (1) and seventeen low (5) activity tasks in the queue',
      );
      // One slot frees at a time, and the next call is waited for before the next is freed: the stand-in sees
      // the calls in the order the queue dispatched them.
      for (let dispatched = 0; dispatched < 6; dispatched++) {
        const seen = gate.heldTotal();
        gate.release(1);
        await waitFor(
          async () => gate.heldTotal(),
          (n) => n > seen,
          30_000,
          'the next activity dispatched to the freed slot',
        );
      }
      const isHigh = (key?: string) => attributes.slice(20, 26).some((a) => key === item(a));
      expect(saturated.standin.calls().map((c) => (isHigh(c.itemKey) ? 'high' : 'low'))).toEqual([
        ...Array(2).fill('low'),
        ...Array(6).fill('high'),
      ]);
      gate.open();
      expect((await saturated.jobs.waitForJob(high.jobId))?.status).toBe('completed');
      expect((await saturated.jobs.waitForJob(low.jobId))?.status).toBe('completed');
    } finally {
      await saturated.close();
    }
  });

  it('schedules every activity after a priority change with the new priority and the owner as fairness key, and refuses nonsense with 400', async () => {
    const gate = harness.standin.gate({});
    const jobId = await startJob(6, 2, { priority: 4 });
    await gate.waitUntilHeld(2, 30_000);
    const changed = await api.request(owner, 'PATCH', `/api/v1/jobs/${jobId}/priority`, { priority: 'high' });
    expect(changed.status).toBe(202);
    await waitFor(
      () => status(jobId),
      (s) => s.priority === 1 && s.progress_source === 'live',
      30_000,
      'the workflow reporting priority 1',
    );
    const refused = await api.request(owner, 'POST', `/api/v1/jobs/${jobId}/priority`, { priority: 9 });
    expect(refused).toMatchObject({ status: 400, body: { field: 'priority' } });
    gate.open();
    expect((await harness.jobs.waitForJob(jobId))?.status).toBe('completed');

    const facts = await jobHistory(harness.temporal, jobId);
    const change = facts.findIndex(isControl('setPriority'));
    const priorities = (from: typeof facts) =>
      from.filter((f) => f.kind === 'scheduled' && f.activity === GENERATE).map((f) => f.priority);
    expect(priorities(facts.slice(0, change))).toEqual(Array(2).fill({ priorityKey: 4, fairnessKey: owner }));
    expect(priorities(facts.slice(change + 1))).toEqual(Array(4).fill({ priorityKey: 1, fairnessKey: owner }));
  });
});

describe('the stock temporal CLI', () => {
  it('pauses, reads progress of and resumes a job by the documented names', async () => {
    const gate = harness.standin.gate({});
    const jobId = await startJob(16, 2);
    await gate.waitUntilHeld(2, 30_000);
    // Asynchronously: the worker runs in this process and must keep answering while the CLI waits.
    const cli = async (...args: string[]) =>
      (
        await promisify(execFile)(temporalCliPath(), [
          ...args,
          '--workflow-id',
          jobId,
          '--address',
          harness.config.TEMPORAL_ADDRESS,
        ])
      ).stdout;
    await cli('workflow', 'signal', '--name', 'pause');
    await waitFor(
      () => status(jobId),
      (s) => s.status === 'paused',
      30_000,
      'the job paused by the CLI signal',
    );
    expect(await cli('workflow', 'query', '--type', 'progress', '--output', 'json')).toMatch(/"status":\s*"paused"/);
    gate.open();
    await cli('workflow', 'signal', '--name', 'resume');
    await waitFor(
      () => status(jobId),
      (s) => s.status !== 'paused',
      30_000,
      'the job resumed by the CLI signal',
    );
    expect((await harness.jobs.waitForJob(jobId))?.status).toBe('completed');
  });
});

describe('progress snapshots', () => {
  /**
   * When each jobs-table snapshot was asked for, in workflow time: a snapshot is a local activity whose marker is
   * recorded with the workflow task that asked for it, and that task's workflow time is its started event's.
   */
  async function snapshotsAskedAt(jobId: string): Promise<number[]> {
    const events = (await harness.temporal.workflow.getHandle(jobId).fetchHistory()).events ?? [];
    const asked: number[] = [];
    for (const event of events) {
      const marker = event.markerRecordedEventAttributes;
      const data = marker?.markerName === 'core_local_activity' ? marker.details?.data?.payloads?.[0]?.data : undefined;
      if (
        !data ||
        (JSON.parse(Buffer.from(data).toString()) as { activity_type?: string }).activity_type !== 'recordJobState'
      )
        continue;
      const completedId = Number(marker!.workflowTaskCompletedEventId);
      const started = events
        .filter((e) => Number(e.eventId) < completedId && e.workflowTaskStartedEventAttributes)
        .at(-1)!;
      asked.push(timeMs(started));
    }
    return asked;
  }

  it('writes a fast job’s steps at most once a second, its start and end at once', async () => {
    // 110 attributes at 20 calls in flight against the stand-in's quick answers: many steps a second, where the 2 %
    // rule alone (every 3 steps) would ask for a snapshot in most workflow tasks.
    const started = Date.now();
    const jobId = await startJob(attributes.length, 20);
    const job = await harness.jobs.waitForJob(jobId);
    const seconds = (Date.now() - started) / 1_000;
    expect(job).toMatchObject({ status: 'completed' });
    expect(job?.progress).toMatchObject({ completedSteps: attributes.length, totalSteps: attributes.length });
    // The check below means something only when steps came faster than the 2 % rule's three a second.
    expect(attributes.length / seconds).toBeGreaterThan(3);

    const asked = await snapshotsAskedAt(jobId);
    // The first is the job's start (running), the last its end (completed); the steps' snapshots between them, the
    // first of which may follow the start's at once (a status change starts no interval).
    expect(asked.length).toBeGreaterThanOrEqual(2);
    const steps = asked.slice(1, -1);
    const gaps = steps.slice(1).map((at, i) => at - steps[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(1_000);
    expect(steps.length).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
  });
});

describe('an operator pausing one activity with `temporal activity pause`', () => {
  it('holds that item without failing the job, and finishes it after unpause', async () => {
    const slow = attributes[0]!;
    // Only the slow item's first call is held; the other three items go through.
    const gate = harness.standin.gate({ items: [item(slow)], limit: 1 });
    const jobId = await startJob(4, 4);
    await gate.waitUntilHeld(1, 30_000);
    await waitFor(
      () => storedCount(jobId),
      (n) => n === 3,
      30_000,
      'the three other items stored',
    );
    const { raw } = await harness.jobs.handle(jobId).describe();
    const [pending] = raw.pendingActivities ?? [];
    expect(raw.pendingActivities).toHaveLength(1);
    const cli = async (...args: string[]) =>
      (
        await promisify(execFile)(temporalCliPath(), [
          'activity',
          ...args,
          '--workflow-id',
          jobId,
          '--activity-id',
          pending!.activityId!,
          '--address',
          harness.config.TEMPORAL_ADDRESS,
        ])
      ).stdout;

    await cli('pause');
    // The held call is aborted and Temporal holds the activity paused: no retry is dispatched until unpause.
    await waitFor(
      async () => gate.aborted(),
      (n) => n === 1,
      30_000,
      'the held call of the paused activity aborted',
    );
    await waitFor(
      async () => (await harness.jobs.handle(jobId).describe()).raw.pendingActivities?.[0]?.paused,
      (paused) => paused === true,
      30_000,
      'Temporal showing the activity paused',
    );
    expect((await status(jobId)).status).toBe('running');
    expect(harness.standin.callCount(item(slow))).toBe(1);

    await cli('unpause');
    expect((await harness.jobs.waitForJob(jobId))?.status).toBe('completed');
    expect(await storedCount(jobId)).toBe(4);
    expect(harness.standin.callCount(item(slow))).toBe(2);
  });
});
