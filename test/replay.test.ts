// Replays committed histories of every workflow type against today's workflow code, so a change that
// would break running jobs (non-determinism) fails here. `RECORD_HISTORIES=1 npx jest test/replay` writes
// fresh histories from real runs; commit them only together with a deliberate, versioned change.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { pauseSignal, resumeSignal, setPrioritySignal } from '../workflows/control/control';
import { createHarness } from './support/harness';
import { HISTORY_DIR, saveHistory } from './support/histories';
import { activityCounts, factsAfter, jobHistory, type HistoryFact } from './support/job-history';
import { waitFor } from './support/waiting';

const GENERATE = 'generateValidationRules';
const signalsOf = (facts: HistoryFact[]) =>
  facts.filter((f) => f.kind === 'signal' || f.kind === 'cancel-requested').map((f) => f.signal ?? f.kind);
const isSignal = (name: string) => (f: HistoryFact) => f.kind === 'signal' && f.signal === name;
/** Every activity fact (all types) after the first fact `from` matches, up to the next one `to` matches. */
function activitiesBetween(
  facts: HistoryFact[],
  from: (f: HistoryFact) => boolean,
  to: (f: HistoryFact) => boolean,
): Record<string, Partial<Record<string, number>>> {
  const after = factsAfter(facts, from);
  const end = after.findIndex(to);
  const span = end < 0 ? after : after.slice(0, end);
  return Object.fromEntries(
    [...new Set(span.flatMap((f) => (f.activity ? [f.activity] : [])))].map((activity) => [
      activity,
      activityCounts(span, activity),
    ]),
  );
}

/**
 * Each history must show its control moments while LLM calls are in flight. The calls are held at a stand-in gate
 * until the job has acted on the signal (a state read from the job), never given latency and a guessed sleep; and
 * each recorded history is checked for those moments before it is saved.
 */
async function recordHistories(): Promise<void> {
  const harness = await createHarness({
    faults: { rules: [{ kind: 'malformed', items: [`${DEMO_DATA_SOURCE_ID}.apr_rate`] }] },
  });
  const save = (jobId: string, file: string) =>
    saveHistory(harness.config.TEMPORAL_ADDRESS, jobId, file.replace(/\.json$/, ''));
  const attributeIds = [
    'credit_score',
    'apr_rate',
    'account_status',
    'email_address',
    'billing_zip',
    'account_open_date',
  ];
  const principal = { subject: 'replay', admin: false };
  const statusOf = (jobId: string) => () => harness.jobs.status(principal, jobId);
  try {
    await harness.startWorker();
    // A completed job that was paused and resumed, with one attribute failing on bad LLM output: paused while its
    // first two calls are held, which then finish during the pause.
    const firstTwo = harness.standin.gate({ limit: 2 });
    const completed = await harness.jobs.startJob({
      jobType: 'data_profiling',
      owner: 'replay',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      llmConcurrency: 2,
      ruleBatchSize: 3,
    });
    await firstTwo.waitUntilHeld(2, 30_000);
    await harness.jobs.handle(completed.jobId).signal(pauseSignal);
    await waitFor(statusOf(completed.jobId), (s) => s.status === 'paused', 30_000, 'the profiling job paused');
    firstTwo.open();
    await waitFor(
      statusOf(completed.jobId),
      (s) => s.in_flight === 0,
      30_000,
      'the two held calls finished while the job is paused',
    );
    await harness.jobs.handle(completed.jobId).signal(resumeSignal);
    expect(await harness.jobs.waitForJob(completed.jobId)).toMatchObject({ status: 'completed' });
    const profiled = await jobHistory(harness.temporal, completed.jobId);
    expect(signalsOf(profiled)).toEqual(['pause', 'resume']);
    expect(activitiesBetween(profiled, isSignal('pause'), isSignal('resume'))).toEqual({
      [GENERATE]: { completed: 2 },
    });
    save(completed.jobId, 'data-profiling.json');

    // A job re-prioritised, paused now (its two held calls cancelled), resumed (the two redone, held again) and
    // cancelled while those are held.
    const held = harness.standin.gate({});
    const cancelled = await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: 'replay',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      llmConcurrency: 2,
      priority: 'low',
    });
    const handle = harness.jobs.handle(cancelled.jobId);
    await held.waitUntilHeld(2, 30_000);
    await handle.signal(setPrioritySignal, { priority: 1 });
    await handle.signal(pauseSignal, { now: true });
    await waitFor(
      statusOf(cancelled.jobId),
      (s) => s.status === 'paused' && s.in_flight === 0,
      30_000,
      'the job paused now with nothing in flight',
    );
    await waitFor(
      async () => held.aborted(),
      (n) => n === 2,
      30_000,
      'the two held calls aborted by pause-now',
    );
    await handle.signal(resumeSignal);
    await held.waitUntilHeld(2, 30_000);
    await handle.cancel();
    expect(await harness.jobs.waitForJob(cancelled.jobId)).toMatchObject({ status: 'cancelled' });
    held.open();
    const facts = await jobHistory(harness.temporal, cancelled.jobId);
    expect(signalsOf(facts)).toEqual(['setPriority', 'pause', 'resume', 'cancel-requested']);
    expect({
      pausedNow: activitiesBetween(facts, isSignal('pause'), isSignal('resume')),
      cancelled: activitiesBetween(
        facts,
        (f) => f.kind === 'cancel-requested',
        () => false,
      ),
    }).toEqual({
      pausedNow: { [GENERATE]: { 'activity-cancel-requested': 2, canceled: 2 } },
      cancelled: { [GENERATE]: { 'activity-cancel-requested': 2, canceled: 2 } },
    });
    save(cancelled.jobId, 'data-profiling-cancelled.json');
  } finally {
    await harness.close();
  }
}

it('replays every recorded workflow history without non-determinism', async () => {
  if (process.env.RECORD_HISTORIES) await recordHistories();
  const files = readdirSync(HISTORY_DIR).filter((f) => f.endsWith('.json'));
  expect(files.length).toBeGreaterThan(0);
  const histories = files.map((file) => ({
    workflowId: file,
    history: historyFromJSON(JSON.parse(readFileSync(path.join(HISTORY_DIR, file), 'utf8'))),
  }));
  const results = [];
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath: process.env.WORKFLOW_BUNDLE_PATH! } },
    histories,
  ))
    results.push(result);
  expect(results.map((r) => ({ workflowId: r.workflowId, error: r.error }))).toEqual(
    files.map((workflowId) => ({ workflowId, error: undefined })),
  );
});
