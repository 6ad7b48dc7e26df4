// A job started through the Temporal client itself, by workflow type name with the start request as its one
// argument (as the stock CLI or the Python SDK start it), is a job like any other: its first activity admits it
// (job row, quota, audit), status and lists show it. A request that cannot run fails the workflow within seconds
// with InvalidJobInput naming every offending field: no hang, no workflow-task failure loop, no retried activity.
// A job id that belongs to a finished job is refused, and that job is left as it was.

import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import { FailureType } from '../../common/failures';
import { JobOwnerKey, JobTypeKey } from '../../common/search-attributes';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { recordHistoryIfAsked } from '../support/histories';
import { waitFor } from '../support/waiting';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness({ config: { JOB_MAX_ACTIVE_PER_OWNER: 2 } });
  await harness.startWorker();
});
afterAll(() => harness.close());

const owner = `direct-${Date.now()}`;
const request = { owner, dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: ['credit_score', 'apr_rate'] };

/** Starts `workflowType` as any Temporal client would: by name, with `args` as given (none, one request…). */
function startDirectly(workflowType: string, args: unknown[], workflowId = `direct-${randomUUID()}`) {
  return harness.temporal.workflow.start(workflowType, {
    taskQueue: harness.config.TEMPORAL_TASK_QUEUE,
    workflowId,
    args,
  });
}

/** The workflow's failure: its ApplicationFailure (type, message, details), and how long the workflow took. */
async function failureOf(handle: WorkflowHandle): Promise<{ failure: ApplicationFailure; ms: number }> {
  const started = Date.now();
  const error: unknown = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const failure = (error as WorkflowFailedError).cause;
  expect(failure).toBeInstanceOf(ApplicationFailure);
  return { failure: failure as ApplicationFailure, ms: Date.now() - started };
}

/** Under RECORD_HISTORIES=1, keeps the history for test/replay.test.ts (the start-request-admitted path). */
const record = (workflowId: string, name: string) =>
  recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, workflowId, name);

/**
 * Event types of the workflow's history, to show what did not happen (task failures, activity retries); a marker
 * is named by its kind (`core_local_activity` for each local activity's outcome, `core_patch` for a patch).
 */
async function eventTypes(handle: WorkflowHandle): Promise<string[]> {
  const { events } = await handle.fetchHistory();
  return (events ?? []).map(
    (e) =>
      e.markerRecordedEventAttributes?.markerName ??
      proto.api.enums.v1.EventType[e.eventType ?? 0] ??
      String(e.eventType),
  );
}

test('a job started by workflow type through the Temporal client is recorded, audited, listed and run', async () => {
  const handle = await startDirectly('dataProfiling', [request]);
  const result = await handle.result();
  expect(result).toMatchObject({ attributesTotal: 2, attributesProfiled: 2 });

  const row = await harness.jobs.job(handle.workflowId);
  expect(row).toMatchObject({
    id: handle.workflowId,
    workflow_id: handle.workflowId,
    type: 'data_profiling',
    owner,
    status: 'completed',
    started_via: 'temporal',
    task_queue: harness.config.TEMPORAL_TASK_QUEUE,
  });
  const status = await harness.jobs.status({ subject: owner, admin: false }, handle.workflowId);
  expect(status).toMatchObject({ job_id: handle.workflowId, status: 'completed', progress_percentage: 100 });
  const listed = await harness.jobs.list({ subject: owner, admin: false });
  expect(listed.map((j) => j.job_id)).toContain(handle.workflowId);
  const audit = await harness.jobs.history({ subject: owner, admin: false }, handle.workflowId);
  expect(audit).toEqual([
    expect.objectContaining({
      actor: owner,
      action: 'start',
      outcome: 'ok',
      detail: expect.objectContaining({ startedVia: 'temporal', workflowType: 'dataProfiling' }),
    }),
  ]);
  // The search attributes a direct start does not set are set by the workflow once the request is admitted.
  const description = await handle.describe();
  expect(description.typedSearchAttributes.get(JobTypeKey)).toBe('data_profiling');
  expect(description.typedSearchAttributes.get(JobOwnerKey)).toBe(owner);
  record(handle.workflowId, 'direct-start-data-profiling');
});

const badStarts: [string, unknown[], string[]][] = [
  [
    'snake_case keys',
    [{ owner, data_source_id: DEMO_DATA_SOURCE_ID, attribute_ids: ['credit_score'] }],
    ['dataSourceId: is required', 'data_source_id: unknown field; did you mean dataSourceId?', 'attribute_ids'],
  ],
  ['a missing field', [{ owner }], ['dataSourceId: is required']],
  ['no argument at all', [], ['(request): no start request was given']],
  ['a wrong type', [{ ...request, llmConcurrency: 'fast' }], ['llmConcurrency']],
  ['an unknown attribute', [{ ...request, attributeIds: ['credit_score', 'credit_scor'] }], ['attributeIds.1']],
  ['an unknown data source', [{ ...request, dataSourceId: 'no_such_source' }], ['dataSourceId']],
  ['another job type', [{ ...request, jobType: 'test_execution' }], ['jobType: is "test_execution"']],
  ['no owner', [{ dataSourceId: DEMO_DATA_SOURCE_ID }], ['owner: is required']],
];

test.each(badStarts)(
  'a direct start with %s fails within seconds, naming every offending field, with nothing retried or recorded',
  async (_what, args, named) => {
    const handle = await startDirectly('dataProfiling', args);
    const { failure, ms } = await failureOf(handle);
    expect(failure.type).toBe(FailureType.InvalidJobInput);
    for (const part of named) expect(failure.message).toContain(part);
    expect(ms).toBeLessThan(10_000);
    const events = await eventTypes(handle);
    expect(events).not.toContain('EVENT_TYPE_WORKFLOW_TASK_FAILED');
    // The admission (a local activity) ran once: a request that cannot pass is not retried.
    expect(events.filter((e) => e === 'core_local_activity')).toHaveLength(1);
    expect(events.filter((e) => e.startsWith('EVENT_TYPE_ACTIVITY_TASK'))).toEqual([]);
    expect(await harness.jobs.job(handle.workflowId)).toBeUndefined();
    if (args.length === 0) record(handle.workflowId, 'direct-start-no-argument');
  },
);

test('starting a finished job id again is refused, and the finished job is left as it was', async () => {
  const jobId = `direct-reuse-${randomUUID()}`;
  await (await startDirectly('dataProfilingLlmGeneration', [request], jobId)).result();
  const before = await harness.jobs.job(jobId);
  expect(before?.status).toBe('completed');

  const again = await startDirectly('dataProfilingLlmGeneration', [request], jobId);
  const { failure } = await failureOf(again);
  expect(failure.type).toBe(FailureType.JobIdTaken);
  expect(failure.message).toContain(`job id ${jobId} belongs to a data_profiling_llm_generation job that is completed`);
  expect(await harness.jobs.job(jobId)).toEqual(before);

  // JobsClient's own starts never reuse an id, and a job it started is refused the same way when reused directly.
  const { jobId: clientJob } = await harness.jobs.startJob({ jobType: 'data_profiling_llm_generation', ...request });
  await harness.jobs.waitForJob(clientJob);
  record(clientJob, 'client-start-admitted');
  record(again.workflowId, 'direct-start-job-id-taken');
  const reused = await startDirectly('dataProfilingLlmGeneration', [request], clientJob);
  expect((await failureOf(reused)).failure.type).toBe(FailureType.JobIdTaken);
});

test("a direct start counts against the owner's quota like any other", async () => {
  const quotaOwner = `direct-quota-${Date.now()}`;
  // Two jobs held paused fill the quota of two.
  const held: string[] = [];
  for (let i = 0; i < 2; i++) {
    const handle = await startDirectly('dataProfilingLlmGeneration', [{ ...request, owner: quotaOwner }]);
    await handle.signal('pause');
    held.push(handle.workflowId);
  }
  // Admitted (rows written) and held: a paused job never ends before it is resumed or cancelled.
  for (const jobId of held)
    await waitFor(
      () => harness.jobs.job(jobId),
      (r) => r?.status === 'paused',
      20_000,
      `job ${jobId} to be paused`,
    );
  const refused = await startDirectly('dataProfilingLlmGeneration', [{ ...request, owner: quotaOwner }]);
  const { failure } = await failureOf(refused);
  expect(failure.type).toBe(FailureType.QuotaExceeded);
  expect(failure.message).toContain(`${quotaOwner} already has 2 active jobs (limit 2)`);
  for (const jobId of held) await harness.jobs.cancel({ subject: quotaOwner, admin: false }, jobId);
});

test('a job paused while its request is being admitted starts paused, and answers progress meanwhile', async () => {
  const handle = await startDirectly('dataProfilingLlmGeneration', [request]);
  // Sent at once: it may reach the workflow before, during or after the admission; it holds in every case.
  await handle.signal('pause');
  const progress = await handle.query<{ status: string }>('progress');
  expect(['pending', 'paused']).toContain(progress.status);
  const row = await waitFor(
    () => harness.jobs.job(handle.workflowId),
    (r) => r?.status === 'paused',
    20_000,
    'the job row to say paused',
  );
  expect(row?.status).toBe('paused');
  await handle.cancel();
  await handle.result().catch(() => undefined);
  expect((await harness.jobs.job(handle.workflowId))?.status).toBe('cancelled');
  record(handle.workflowId, 'direct-start-paused-while-admitted-cancelled');
});
