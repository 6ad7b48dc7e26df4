// Replays committed histories of every workflow type against today's workflow code, so a change that
// would break running jobs (non-determinism) fails here. `RECORD_HISTORIES=1 npx jest test/replay` writes
// fresh histories from real runs; commit them only together with a deliberate, versioned change.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { pauseSignal, resumeSignal, setPrioritySignal } from '../workflows/control';
import { createHarness } from './support/harness';
import { HISTORY_DIR, saveHistory } from './support/histories';
import { sleep } from './support/waiting';

async function recordHistories(): Promise<void> {
  const harness = await createHarness({ faults: { latencyMs: 200, rules: [{ kind: 'malformed', items: [`${DEMO_DATA_SOURCE_ID}.apr_rate`] }] } });
  const save = (jobId: string, file: string) => saveHistory(harness.config.TEMPORAL_ADDRESS, jobId, file.replace(/\.json$/, ''));
  const attributeIds = ['credit_score', 'apr_rate', 'account_status', 'email_address', 'billing_zip', 'account_open_date'];
  try {
    await harness.startWorker();
    // A completed job that was paused and resumed, with one attribute failing on bad LLM output.
    const completed = await harness.jobs.startJob({ jobType: 'data_profiling', owner: 'replay', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds, llmConcurrency: 2, ruleBatchSize: 3 });
    await harness.jobs.handle(completed.jobId).signal(pauseSignal);
    await sleep(1_000);
    await harness.jobs.handle(completed.jobId).signal(resumeSignal);
    await harness.jobs.waitForJob(completed.jobId);
    save(completed.jobId, 'data-profiling.json');

    // A job re-prioritised, paused now (in-flight units cancelled), resumed and finally cancelled.
    harness.standin.setFaults({ latencyMs: 1_500 });
    const cancelled = await harness.jobs.startJob({ jobType: 'data_profiling_llm_generation', owner: 'replay', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds, llmConcurrency: 2, priority: 'low' });
    const handle = harness.jobs.handle(cancelled.jobId);
    await sleep(500);
    await handle.signal(setPrioritySignal, { priority: 1 });
    await handle.signal(pauseSignal, { now: true });
    await sleep(2_500);
    await handle.signal(resumeSignal);
    await sleep(500);
    await handle.cancel();
    await harness.jobs.waitForJob(cancelled.jobId);
    save(cancelled.jobId, 'data-profiling-cancelled.json');
  } finally {
    await harness.close();
  }
}

it('replays every recorded workflow history without non-determinism', async () => {
  if (process.env.RECORD_HISTORIES) await recordHistories();
  const files = readdirSync(HISTORY_DIR).filter((f) => f.endsWith('.json'));
  expect(files.length).toBeGreaterThan(0);
  const histories = files.map((file) => ({ workflowId: file, history: historyFromJSON(JSON.parse(readFileSync(path.join(HISTORY_DIR, file), 'utf8'))) }));
  const results = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: process.env.WORKFLOW_BUNDLE_PATH! } }, histories)) results.push(result);
  expect(results.map((r) => ({ workflowId: r.workflowId, error: r.error }))).toEqual(files.map((workflowId) => ({ workflowId, error: undefined })));
});
