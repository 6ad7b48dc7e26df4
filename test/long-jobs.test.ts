// Jobs larger than one workflow history should hold: the job continues as new whenever its run's
// history budget is spent, and progress, pause and results stay continuous across the runs.

import type { Client } from '@temporalio/client';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { createHarness, type Harness } from './support/harness';
import { waitFor } from './support/waiting';

let harness: Harness;
let attributes: string[];

beforeAll(async () => {
  // 60 events is about ten attributes per run, so a 30-attribute job takes several runs.
  harness = await createHarness({ faults: { latencyMs: 100 }, config: { JOB_HISTORY_EVENT_BUDGET: 60 } });
  await harness.startWorker();
  const catalogue = await harness.db.selectFrom('data_source_attributes').select('name').where('data_source_id', '=', DEMO_DATA_SOURCE_ID).orderBy('position').execute();
  attributes = catalogue.slice(0, 30).map((a) => a.name);
});
afterAll(() => harness.close());

async function runsOf(temporal: Client, workflowId: string): Promise<{ status: string; historyLength: number }[]> {
  const runs = [];
  for await (const run of temporal.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs.push({ status: run.status.name, historyLength: run.historyLength });
  return runs;
}

describe('a job larger than its history budget', () => {
  it('continues as new across several runs and profiles every attribute exactly once', async () => {
    const { jobId } = await harness.jobs.startJob({ jobType: 'data_profiling', owner: 'long', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: attributes, llmConcurrency: 4, ruleBatchSize: 4 });
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', error: null });
    expect(job?.result).toMatchObject({ attributesTotal: 30, attributesProfiled: 30, attributesFailed: 0 });
    expect(job?.progress).toMatchObject({ completedSteps: 60, totalSteps: 60, progressPercentage: 100 });

    const runs = await waitFor(() => runsOf(harness.temporal, jobId), (r) => r.some((run) => run.status === 'COMPLETED'));
    expect(runs.length).toBeGreaterThan(2);
    expect(runs.filter((run) => run.status === 'CONTINUED_AS_NEW')).toHaveLength(runs.length - 1);
    // No run may grow far past its budget: it stops starting units and drains the few in flight.
    expect(Math.max(...runs.map((run) => run.historyLength))).toBeLessThan(60 + 60);

    const stored = await harness.db.selectFrom('attribute_results').select('attribute').where('job_id', '=', jobId).execute();
    expect(stored.map((s) => s.attribute).sort()).toEqual([...attributes].sort());
    for (const attribute of attributes) expect(harness.standin.callCount(`${DEMO_DATA_SOURCE_ID}.${attribute}`)).toBe(1);
    const executed = await harness.db.selectFrom('rule_results').select(['attribute', 'rule_index']).where('job_id', '=', jobId).execute();
    expect(new Set(executed.map((r) => `${r.attribute}#${r.rule_index}`)).size).toBe(executed.length);
    expect(new Set(executed.map((r) => r.attribute))).toEqual(new Set(attributes));
  });

  it('stays paused across a continue-as-new and resumes where it stopped', async () => {
    harness.standin.reset();
    // 400 ms calls, 2 at a time: about 6 s in all, so the pause lands mid-job even on a busy machine.
    harness.standin.setFaults({ latencyMs: 400 });
    const { jobId } = await harness.jobs.startJob({ jobType: 'data_profiling_llm_generation', owner: 'long', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: attributes, llmConcurrency: 2 });
    const admin = { subject: 'long', admin: false };
    // Pause once a later run is under way, so the pause must survive the runs that drain and follow.
    await waitFor(() => runsOf(harness.temporal, jobId), (r) => r.length >= 2);
    await harness.jobs.pause(admin, jobId);
    const paused = await waitFor(() => harness.jobs.status(admin, jobId), (s) => s.status === 'paused');
    const stepsWhenPaused = paused.completed_steps ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const later = await harness.jobs.status(admin, jobId);
    expect(later.status).toBe('paused');
    // In-flight units (at most the concurrency) may finish after the pause; nothing new starts.
    expect((later.completed_steps ?? 0) - stepsWhenPaused).toBeLessThanOrEqual(2);
    expect(later.progress_source).toBe('live');

    await harness.jobs.resume(admin, jobId);
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed' });
    expect(job?.progress).toMatchObject({ completedSteps: 30, totalSteps: 30 });
    for (const attribute of attributes) expect(harness.standin.callCount(`${DEMO_DATA_SOURCE_ID}.${attribute}`)).toBe(1);
  });
});
