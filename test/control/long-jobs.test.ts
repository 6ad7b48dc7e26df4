// Jobs larger than one workflow history should hold: the job continues as new whenever its run's
// history budget is spent, and progress, pause and results stay continuous across the runs (a run that
// starts while the job is paused starts paused, asserted from the runs' histories).

import type { Client } from '@temporalio/client';
import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import { progressQuery } from '../../workflows/control/control';
import { createHarness, type Harness } from '../support/harness';
import { isControl, jobHistory } from '../support/job-history';
import { waitFor } from '../support/waiting';

let harness: Harness;
let attributes: string[];
const BUDGET = 60;
const itemKey = (attribute: string) => `${DEMO_DATA_SOURCE_ID}.${attribute}`;

beforeAll(async () => {
  // 60 events is about ten attributes per run, so a 30-attribute job takes several runs.
  harness = await createHarness({ config: { JOB_HISTORY_EVENT_BUDGET: BUDGET } });
  await harness.startWorker();
  const catalogue = await demoCatalogue(harness.db);
  attributes = catalogue.slice(0, 30).map((a) => a.name);
});
afterAll(() => harness.close());

async function runsOf(temporal: Client, workflowId: string): Promise<{ status: string; historyLength: number }[]> {
  const runs = [];
  for await (const run of temporal.workflow.list({ query: `WorkflowId = "${workflowId}"` }))
    runs.push({ status: run.status.name, historyLength: run.historyLength });
  return runs;
}

describe('a job larger than its history budget', () => {
  it('continues as new across several runs and profiles every attribute exactly once', async () => {
    const { jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling',
      owner: 'long',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: attributes,
      llmConcurrency: 4,
      ruleBatchSize: 4,
    });
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', error: null });
    expect(job?.result).toMatchObject({ attributesTotal: 30, attributesProfiled: 30, attributesFailed: 0 });
    expect(job?.progress).toMatchObject({ completedSteps: 60, totalSteps: 60, progressPercentage: 100 });

    const runs = await waitFor(
      () => runsOf(harness.temporal, jobId),
      (r) => r.some((run) => run.status === 'COMPLETED'),
      30_000,
      'visibility to list the completed run',
    );
    expect(runs.length).toBeGreaterThan(2);
    expect(runs.filter((run) => run.status === 'CONTINUED_AS_NEW')).toHaveLength(runs.length - 1);
    // No run may grow far past its budget: it stops starting units and drains the few in flight.
    expect(Math.max(...runs.map((run) => run.historyLength))).toBeLessThan(BUDGET + 60);

    const stored = await harness.db
      .selectFrom('attribute_results')
      .select('attribute')
      .where('job_id', '=', jobId)
      .execute();
    expect(stored.map((s) => s.attribute).sort()).toEqual([...attributes].sort());
    for (const attribute of attributes) expect(harness.standin.callCount(itemKey(attribute))).toBe(1);
    const executed = await harness.db
      .selectFrom('rule_results')
      .select(['attribute', 'rule_index'])
      .where('job_id', '=', jobId)
      .execute();
    expect(new Set(executed.map((r) => `${r.attribute}#${r.rule_index}`)).size).toBe(executed.length);
    expect(new Set(executed.map((r) => r.attribute))).toEqual(new Set(attributes));
  });

  it('stays paused across a continue-as-new and resumes where it stopped', async () => {
    harness.standin.reset();
    const gate = harness.standin.gate({ items: attributes.map(itemKey) });
    const { jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: 'long',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: attributes,
      llmConcurrency: 2,
    });
    const principal = { subject: 'long', admin: false };

    // Calls go through one at a time until the current run is full while a call is held: a released call finishes
    // and the run starts none in its place. A run keeps room in its budget for the units in flight, so it is full
    // before its history reaches the budget; the query tells, as a unit's end and the next unit's start fall in one
    // workflow task and a query is answered between tasks. From then on that run starts nothing new, and it continues
    // as new once the calls it holds have finished. Bounded by the job's own size, so the loop ends even if no run
    // ever filled.
    const progressNow = () => harness.jobs.handle(jobId).query(progressQuery);
    for (let released = 0; ; released++) {
      if (released > attributes.length)
        throw new Error(`released all ${attributes.length} calls one at a time and no run filled with a call held`);
      await gate.waitUntilHeld(1, 30_000);
      const before = await progressNow();
      gate.release(1);
      const after = await waitFor(
        progressNow,
        (p) => p.completedSteps > before.completedSteps,
        30_000,
        'the released call to finish',
      );
      if (after.inFlight < before.inFlight) break;
    }
    await harness.jobs.pause(principal, jobId);
    await waitFor(
      () => harness.jobs.status(principal, jobId),
      (s) => s.status === 'paused',
      30_000,
      'the job paused',
    );
    const callsAtPause = gate.heldTotal();
    gate.release();

    // The run drains what it held and hands over to a new run, which must start paused and start nothing.
    const facts = await waitFor(
      () => jobHistory(harness.temporal, jobId),
      (f) =>
        f.some(
          (fact) => fact.kind === 'continued-as-new' && f.some((p) => isControl('pause')(p) && p.run === fact.run),
        ),
      30_000,
      'a continue-as-new of the run that was paused',
    );
    const pausedRun = facts.find(isControl('pause'))!.run;
    // The current run, the one started by the hand-over, answers the query (not a cached answer of the old run).
    const progress = await waitFor(
      () =>
        harness.jobs
          .handle(jobId)
          .query(progressQuery)
          .catch(() => undefined),
      (p) => p !== undefined,
      30_000,
      'the new run answering the progress query',
    );
    expect(progress?.status).toBe('paused');
    const runs = await jobHistory(harness.temporal, jobId);
    const ofRun = (run: number) => runs.filter((f) => f.run === run);
    expect({ runs: new Set(runs.map((f) => f.run)).size, pausedRun }).toEqual({ runs: pausedRun + 2, pausedRun });
    // The paused run: after the pause no resume, nothing scheduled, then the hand-over.
    const afterPause = ofRun(pausedRun).slice(ofRun(pausedRun).findIndex(isControl('pause')) + 1);
    expect(
      afterPause
        .filter((f) => f.kind === 'signal' || f.kind === 'update' || f.kind === 'scheduled')
        .map((f) => f.signal ?? f.activity),
    ).toEqual([]);
    expect(afterPause.at(-1)?.kind).toBe('continued-as-new');
    // The run it continued as started while the job was paused, and has scheduled nothing.
    const next = ofRun(pausedRun + 1);
    expect(next[0]).toMatchObject({ kind: 'run-started', input: { carried: { paused: true } } });
    expect(next.filter((f) => f.kind === 'scheduled')).toEqual([]);
    expect(gate.heldTotal()).toBe(callsAtPause);

    gate.open();
    await harness.jobs.resume(principal, jobId);
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed' });
    expect(job?.progress).toMatchObject({ completedSteps: 30, totalSteps: 30 });
    for (const attribute of attributes) expect(harness.standin.callCount(itemKey(attribute))).toBe(1);
  });
});
