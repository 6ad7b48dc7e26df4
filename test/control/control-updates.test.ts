// Pause, resume and setPriority as Workflow Updates on running jobs whose LLM calls a test holds at the stand-in's
// gate: the answer is the job's progress after the change, a validator rejects what cannot apply (wrong state or a
// malformed argument) without writing to history, an inapplicable signal is logged with its reason, and JobsClient
// goes through the update. bench/control-latency.ts measures how long the update takes to answer.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Runtime, type Logger, type LogLevel, type LogMetadata } from '@temporalio/worker';
import { FailureType } from '../../common/failures';
import type { JobProgress } from '../../common/progress';
import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import {
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  setPrioritySignal,
  setPriorityUpdate,
} from '../../workflows/control/control';
import { createHarness, type Harness } from '../support/harness';
import { recordHistoryIfAsked } from '../support/histories';
import { jobHistory } from '../support/job-history';
import { temporalCliPath } from '../support/temporal-cli';
import { waitFor } from '../support/waiting';

let harness: Harness;
let attributes: string[];
/** Every warning the worker logged (workflow code logs through the Runtime's logger), message and metadata. */
const warnings: { message: string; meta?: LogMetadata }[] = [];
let restoreLogger: (() => void) | undefined;

/**
 * The Runtime's logger, wrapped to keep warnings: workers take the Runtime's logger when they are created, so this is
 * installed before the harness starts its worker, and the original put back afterwards.
 */
function captureWarnings(): () => void {
  const runtime = Runtime.instance() as { logger: Logger };
  const original = runtime.logger;
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => {
    if (level === 'WARN') warnings.push({ message, meta });
    original.log(level, message, meta);
  };
  runtime.logger = {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
  return () => (runtime.logger = original);
}

beforeAll(async () => {
  harness = await createHarness();
  restoreLogger = captureWarnings();
  await harness.startWorker();
  const catalogue = await demoCatalogue(harness.db);
  attributes = catalogue.map((a) => a.name);
});
afterAll(async () => {
  restoreLogger?.();
  await harness.close();
});
beforeEach(() => harness.standin.reset());

const owner = 'updater';
const principal = { subject: owner, admin: false };

/** A job of `count` items, two at a time, whose calls the returned gate holds: it stays running until opened. */
async function heldJob(count = 6): Promise<{ jobId: string; handle: WorkflowHandle; open: () => void }> {
  const gate = harness.standin.gate({});
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner,
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: attributes.slice(0, count),
    llmConcurrency: 2,
  });
  await gate.waitUntilHeld(2, 30_000);
  return { jobId, handle: harness.jobs.handle(jobId), open: () => gate.open() };
}

/** The validator's rejection of an update: its failure type and message. */
async function rejection(update: Promise<unknown>): Promise<{ type: string | undefined; message: string }> {
  const error = await update.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (error as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return { type: (cause as ApplicationFailure).type ?? undefined, message: (cause as ApplicationFailure).message };
}

/**
 * The history once it stops growing on its own: the job paused, its row written (the last thing a status change
 * schedules) and no workflow task pending. Held calls add nothing to it while held (heartbeats write no events).
 */
async function settledHistory(jobId: string, handle: WorkflowHandle) {
  await waitFor(
    async () => ({
      row: (await harness.jobs.job(jobId))?.status,
      task: (await handle.describe()).raw.pendingWorkflowTask,
    }),
    (s) => s.row === 'paused' && !s.task,
    30_000,
    'the paused job written to its row, no workflow task pending',
  );
  return (await handle.fetchHistory()).events ?? [];
}

describe('the pause update', () => {
  it('answers with the progress after the change: paused, and paused again after resume with now', async () => {
    const job = await heldJob();
    try {
      const paused: JobProgress = await job.handle.executeUpdate(pauseUpdate, { args: [{}] });
      expect(paused).toMatchObject({
        jobId: job.jobId,
        status: 'paused',
        currentStep: expect.stringMatching(/^Paused/),
      });
      expect(await job.handle.executeUpdate(resumeUpdate)).toMatchObject({ status: 'running' });
      expect(await job.handle.executeUpdate(pauseUpdate, { args: [{ now: true }] })).toMatchObject({
        status: 'paused',
      });
      expect(await job.handle.executeUpdate(resumeUpdate)).toMatchObject({ status: 'running' });
      const updates = (await jobHistory(harness.temporal, job.jobId)).filter((f) => f.kind === 'update');
      expect(updates.map((f) => [f.signal, f.input])).toEqual([
        ['pause', {}],
        ['resume', undefined],
        ['pause', { now: true }],
        ['resume', undefined],
      ]);
    } finally {
      job.open();
    }
    expect((await harness.jobs.waitForJob(job.jobId))?.status).toBe('completed');
    recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, job.jobId, 'updates-pause-resume-now');
  });

  it('rejects a pause of a paused job with the reason, and adds no event to its history', async () => {
    const job = await heldJob();
    try {
      await job.handle.executeUpdate(pauseUpdate, { args: [{}] });
      const before = await settledHistory(job.jobId, job.handle);
      expect(await rejection(job.handle.executeUpdate(pauseUpdate, { args: [{}] }))).toEqual({
        type: FailureType.ControlStateRefused,
        message: `cannot pause job ${job.jobId}: it is paused (pause applies to pending or running jobs)`,
      });
      expect(await rejection(job.handle.executeUpdate(pauseUpdate, { args: [{ now: 'yes' } as never] }))).toEqual({
        type: FailureType.ControlRequestInvalid,
        message: 'pause expects no argument or {"now": true|false}, got {"now":"yes"}',
      });
      const after = (await job.handle.fetchHistory()).events ?? [];
      expect(after.map((e) => e.eventType)).toEqual(before.map((e) => e.eventType));
    } finally {
      job.open();
    }
    await job.handle.executeUpdate(resumeUpdate);
    expect((await harness.jobs.waitForJob(job.jobId))?.status).toBe('completed');
  });
});

describe('the resume update', () => {
  it('is rejected on a running job, naming its state', async () => {
    const job = await heldJob();
    try {
      expect(await rejection(job.handle.executeUpdate(resumeUpdate))).toEqual({
        type: FailureType.ControlStateRefused,
        message: `cannot resume job ${job.jobId}: it is running (resume applies to paused jobs)`,
      });
    } finally {
      job.open();
    }
    expect((await harness.jobs.waitForJob(job.jobId))?.status).toBe('completed');
    recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, job.jobId, 'updates-resume-rejected');
  });
});

describe('the setPriority update', () => {
  it('rejects a priority out of range, an unknown name and a bare string, and answers priority 1 for high', async () => {
    const job = await heldJob();
    try {
      const malformed = async (arg: unknown) =>
        (await rejection(job.handle.executeUpdate('setPriority', { args: [arg] }))).type;
      expect(await malformed({ priority: 9 })).toBe(FailureType.ControlRequestInvalid);
      expect(await malformed({ priority: 'highest' })).toBe(FailureType.ControlRequestInvalid);
      expect(await malformed('high')).toBe(FailureType.ControlRequestInvalid);
      expect(await malformed({ priority: 1, extra: true })).toBe(FailureType.ControlRequestInvalid);
      expect(await job.handle.executeUpdate(setPriorityUpdate, { args: [{ priority: 'high' }] })).toMatchObject({
        status: 'running',
        priority: 1,
      });
      const updates = (await jobHistory(harness.temporal, job.jobId)).filter((f) => f.kind === 'update');
      expect(updates.map((f) => f.signal)).toEqual(['setPriority']);
    } finally {
      job.open();
    }
    expect((await harness.jobs.waitForJob(job.jobId))?.status).toBe('completed');
  });
});

describe('an update to a job that has finished', () => {
  it('is rejected, and JobsClient answers 409 naming the state', async () => {
    const job = await heldJob(2);
    job.open();
    expect((await harness.jobs.waitForJob(job.jobId))?.status).toBe('completed');
    await expect(job.handle.executeUpdate(pauseUpdate, { args: [{}] })).rejects.toThrow();
    await expect(harness.jobs.pause(principal, job.jobId)).rejects.toMatchObject({
      httpStatus: 409,
      message: expect.stringMatching(/it is completed/),
    });
    await expect(harness.jobs.setPriority(principal, job.jobId, 'high')).rejects.toMatchObject({ httpStatus: 409 });
  });
});

describe('a signal that cannot apply', () => {
  it('is dropped as before, with a warning in the worker log saying why', async () => {
    const job = await heldJob();
    try {
      await job.handle.signal(resumeSignal);
      await job.handle.signal(setPrioritySignal, { priority: 9 });
      const logged = await waitFor(
        async () => warnings.filter((w) => w.meta?.jobId === job.jobId).map((w) => w.message),
        (messages) => messages.length >= 2,
        30_000,
        'two warnings about the job',
      );
      expect(logged).toEqual([
        `resume signal ignored: cannot resume job ${job.jobId}: it is running (resume applies to paused jobs)`,
        'setPriority signal ignored: setPriority expects {"priority": 1-5}, got {"priority":9}',
      ]);
      expect((await harness.jobs.status(principal, job.jobId)).priority).toBe(3);
    } finally {
      job.open();
    }
    expect((await harness.jobs.waitForJob(job.jobId))?.status).toBe('completed');
  });
});

describe('the stock temporal CLI', () => {
  it('pauses now, re-prioritises and resumes by the documented update names, and prints the refusal', async () => {
    const job = await heldJob();
    // Asynchronously: the worker runs in this process and must keep answering while the CLI waits.
    const update = async (name: string, input?: string) => {
      const args = ['workflow', 'update', 'execute', '--workflow-id', job.jobId, '--name', name];
      const address = ['--address', harness.config.TEMPORAL_ADDRESS, '--output', 'json'];
      return promisify(execFile)(temporalCliPath(), [...args, ...(input ? ['--input', input] : []), ...address]).then(
        ({ stdout }) => stdout,
        (error: { stderr?: string }) => `refused: ${error.stderr ?? ''}`,
      );
    };
    try {
      expect(await update('pause', '{"now":true}')).toMatch(/"status":\s*"paused"/);
      expect(await update('pause')).toMatch(/^refused: .*cannot pause job .*: it is paused/s);
      expect(await update('setPriority', '{"priority":"high"}')).toMatch(/"priority":\s*1/);
      expect(await update('resume')).toMatch(/"status":\s*"running"/);
    } finally {
      job.open();
    }
    expect((await harness.jobs.waitForJob(job.jobId))?.status).toBe('completed');
  });
});

describe('JobsClient', () => {
  it('pauses through the update: its answer and the status right after it say paused, with nothing left requested', async () => {
    const job = await heldJob();
    try {
      const answer = await harness.jobs.pause(principal, job.jobId);
      expect(answer).toMatchObject({ status: 'paused', requested_action: null });
      expect(await harness.jobs.status(principal, job.jobId)).toMatchObject({ status: 'paused' });
      await expect(harness.jobs.pause(principal, job.jobId)).rejects.toMatchObject({
        httpStatus: 409,
        message: `cannot pause job ${job.jobId}: it is paused (pause applies to pending or running jobs)`,
      });
      expect(await harness.jobs.setPriority(principal, job.jobId, 'low')).toMatchObject({
        status: 'paused',
        priority: 5,
      });
      expect(await harness.jobs.resume(principal, job.jobId)).toMatchObject({ status: 'running' });
      const facts = await jobHistory(harness.temporal, job.jobId);
      expect(facts.filter((f) => f.kind === 'signal')).toEqual([]);
      expect(facts.filter((f) => f.kind === 'update').map((f) => f.signal)).toEqual(['pause', 'setPriority', 'resume']);
    } finally {
      job.open();
    }
    expect((await harness.jobs.waitForJob(job.jobId))?.status).toBe('completed');
    const audit = await harness.jobs.history(principal, job.jobId);
    expect(audit.map((e) => `${e.action}:${e.outcome.split(':')[0]}`)).toEqual([
      'start:ok',
      'pause:ok',
      'pause:refused',
      'priority:ok',
      'resume:ok',
    ]);
  });
});

describe('JobsClient while no worker answers', () => {
  it('sends the signal once the update goes unanswered, shows it as requested, and never applies the update it replaced', async () => {
    // A short bound keeps the test quick; what it checks does not depend on the bound's length.
    const lonely = await createHarness({ config: { CONTROL_UPDATE_TIMEOUT_MS: 1_000 } });
    const gate = lonely.standin.gate({});
    try {
      const worker = await lonely.startWorker();
      const { jobId } = await lonely.jobs.startJob({
        jobType: 'data_profiling_llm_generation',
        owner,
        dataSourceId: DEMO_DATA_SOURCE_ID,
        attributeIds: attributes.slice(0, 4),
        llmConcurrency: 2,
      });
      await gate.waitUntilHeld(2, 30_000);
      await worker.stop();

      // The server lists a stopped worker's poller for minutes, so each update is sent and waits out its bound.
      const before = Date.now();
      expect(await lonely.jobs.pause(principal, jobId)).toMatchObject({ status: 'running', requested_action: 'pause' });
      expect(Date.now() - before).toBeGreaterThanOrEqual(1_000);
      // Accepted after the pause requested (the workflow will see that first); status already reads running.
      expect(await lonely.jobs.resume(principal, jobId)).toMatchObject({ status: 'running' });

      // Back: the signals apply in order (paused, then running); the updates they replaced, if the server still
      // delivers them, are rejected, or the first would pause the job again.
      gate.open();
      await lonely.startWorker();
      expect((await lonely.jobs.waitForJob(jobId))?.status).toBe('completed');
      const facts = await jobHistory(lonely.temporal, jobId);
      expect(facts.filter((f) => f.kind === 'update')).toEqual([]);
      expect(facts.filter((f) => f.kind === 'signal').map((f) => [f.signal, f.input])).toEqual([
        ['pause', { now: false, supersedes: expect.any(String) }],
        ['resume', { supersedes: expect.any(String) }],
      ]);
    } finally {
      gate.open();
      await lonely.close();
    }
  });
});
