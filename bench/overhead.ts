// Benchmark 3, orchestration overhead: a job of no-op items (bench/noop-workflow.ts) run at concurrency 1
// (wall / items is the cost of one item's round trip) and at concurrency 50 (items per second), each beside a bare
// Temporal sliding window of the same items on the same server and worker: the job's time as a ratio of the bare one.

import { randomUUID } from 'node:crypto';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { createJobActivities } from '../activities/jobs/jobs';
import { openDatabase } from '../db/connection';
import type { NoopJobInput } from './noop-workflow';
import { log, startBenchEnvironment, type BenchEnvironment } from './support/environment';
import { runBareWindow } from './support/jobs';
import { activitySpans, runHistories } from './support/histories';
import { aim, numberArg, percentile, round, runBench, writeResult } from './support/report';

async function main(): Promise<void> {
  const n = numberArg('n', 2_000);
  // At concurrency 1 an item costs ~50 ms on this dev server, so 500 of them are 25 s a run.
  const serialN = numberArg('serial-n', 500);
  const repeats = numberArg('repeats', 3);
  const concurrency = numberArg('concurrency', 50);
  const env = await startBenchEnvironment('overhead', { faults: {} });
  try {
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('./noop-workflow'),
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
    });
    const connection = await NativeConnection.connect({ address: env.config.TEMPORAL_ADDRESS });
    const db = openDatabase(env.config.DATABASE_URL, 4);
    const worker = await Worker.create({
      connection,
      taskQueue: env.config.TEMPORAL_TASK_QUEUE,
      workflowBundle: { code },
      activities: { ...createJobActivities(db), doNothing: async () => undefined },
    });
    const running = worker.run();
    try {
      // Interleaved (bare, job, bare, job…) so that a change in the machine's load falls on both alike; medians.
      const serial = { bare: [] as Run[], job: [] as Run[] };
      const parallel = { bare: [] as Run[], job: [] as Run[] };
      for (let r = 1; r <= repeats; r++) {
        log(`repeat ${r}/${repeats}: ${serialN} no-op items at concurrency 1, bare window then job`);
        serial.bare.push(await bareWindowRun(env, serialN, 1));
        serial.job.push(await runNoopJob(env, serialN, 1));
        log(`repeat ${r}/${repeats}: ${n} no-op items at concurrency ${concurrency}, bare window then job`);
        parallel.bare.push(await bareWindowRun(env, n, concurrency));
        parallel.job.push(await runNoopJob(env, n, concurrency));
      }
      const ratio = (runs: { bare: Run[]; job: Run[] }) => round(median(runs.job) / median(runs.bare));
      const serialRatio = ratio(serial);
      const parallelRatio = ratio(parallel);
      const last = (runs: Run[]) => runs[runs.length - 1]!;
      writeResult(
        'overhead',
        { items: n, serialItems: serialN, concurrency, repeats },
        {
          'concurrency 1: job wall s (median; each run)': [round(median(serial.job), 2), serial.job.map(secondsOf)],
          'concurrency 1: bare window wall s (median; each run)': [
            round(median(serial.bare), 2),
            serial.bare.map(secondsOf),
          ],
          'concurrency 1: job / bare window': serialRatio,
          'concurrency 1: job wall / items ms': round((median(serial.job) * 1_000) / serialN, 2),
          'concurrency 1: scheduled→completed ms, job (p50, p95)': last(serial.job).spanPercentiles,
          [`concurrency ${concurrency}: job wall s (median; each run)`]: [
            round(median(parallel.job), 2),
            parallel.job.map(secondsOf),
          ],
          [`concurrency ${concurrency}: bare window wall s (median; each run)`]: [
            round(median(parallel.bare), 2),
            parallel.bare.map(secondsOf),
          ],
          [`concurrency ${concurrency}: job / bare window`]: parallelRatio,
          [`concurrency ${concurrency}: job items/s`]: round(n / median(parallel.job), 1),
          [`concurrency ${concurrency}: worker process CPU ms per item, job / bare (medians)`]: [
            cpuMedian(parallel.job),
            cpuMedian(parallel.bare),
          ],
          [`concurrency ${concurrency}: scheduled→completed ms, job (p50, p95)`]: last(parallel.job).spanPercentiles,
          [`concurrency ${concurrency}: scheduled→completed ms, bare (p50, p95)`]: last(parallel.bare).spanPercentiles,
          'runs (continue-as-new) of the job at 1 / at C': [last(serial.job).runs, last(parallel.job).runs],
        },
        [
          'bare window = bench/noop-workflow.ts bareWindow: the plainest Temporal fan-out (at most C activities, the next scheduled as one completes, continue-as-new at the same event budget), no job control; same dev server, same worker, same activity.',
          'At concurrency 1 an item is about 45.5 ms or about 50 ms on this dev server, run by run (the workflow task’s dispatch from the server, ~38 or ~42 ms, decides it); the job’s runs have fallen on 50 every time, so the ratio reads about 1.00 or about 1.04 with the mode of the bare runs: compare the runs, not the ratio alone.',
          'Per-item overhead = an activity’s scheduled→completed time in the history minus its work (zero here): server dispatch, worker poll, completion, and the workflow task that schedules the next item.',
          'wall / items at concurrency 1 adds the workflow-task round trip between one item and the next, and the progress snapshots (every 2 % of items, at most one a second).',
        ],
        [
          aim(`overhead: no-op job / bare window at concurrency ${concurrency}`, parallelRatio, 'max', 1.05),
          aim('overhead: no-op job / bare window at concurrency 1', serialRatio, 'max', 1.02),
        ],
      );
    } finally {
      worker.shutdown();
      await running;
      await db.destroy();
      await connection.close();
    }
  } finally {
    await env.close();
  }
}

interface Run {
  seconds: number;
  /** CPU time of this process (the worker, its workflow threads, the client) during the run, ms per item. */
  cpuMsPerItem?: number;
  runs: number;
  spanPercentiles: number[];
}

const secondsOf = (run: Run) => round(run.seconds, 2);
const median = (runs: Run[]) => percentile(runs.map(secondsOf), 50);
const cpuMedian = (runs: Run[]) =>
  round(
    percentile(
      runs.map((r) => r.cpuMsPerItem ?? 0),
      50,
    ),
    3,
  );

async function bareWindowRun(env: BenchEnvironment, n: number, concurrency: number): Promise<Run> {
  const cpu = process.cpuUsage();
  const { workflowId, seconds } = await runBareWindow(env.temporal, {
    taskQueue: env.config.TEMPORAL_TASK_QUEUE,
    n,
    concurrency,
    historyEventBudget: env.config.JOB_HISTORY_EVENT_BUDGET,
    idPrefix: 'bare',
  });
  const used = process.cpuUsage(cpu);
  return { ...(await measured(env, workflowId, seconds)), cpuMsPerItem: (used.user + used.system) / 1_000 / n };
}

async function runNoopJob(env: BenchEnvironment, n: number, concurrency: number): Promise<Run> {
  const jobId = `noop-${randomUUID()}`;
  const input: NoopJobInput = {
    jobId,
    jobType: 'noop',
    owner: 'bench',
    priority: 3,
    metadata: {},
    useLlmCache: false,
    historyEventBudget: env.config.JOB_HISTORY_EVENT_BUDGET,
    items: Array.from({ length: n }, (_, i) => i),
    total: n,
    concurrency,
  };
  const started = performance.now();
  const cpu = process.cpuUsage();
  await env.temporal.workflow.execute('noopJob', {
    taskQueue: env.config.TEMPORAL_TASK_QUEUE,
    workflowId: jobId,
    args: [input],
  });
  const seconds = (performance.now() - started) / 1_000;
  const used = process.cpuUsage(cpu);
  return { ...(await measured(env, jobId, seconds)), cpuMsPerItem: (used.user + used.system) / 1_000 / n };
}

async function measured(env: BenchEnvironment, workflowId: string, seconds: number): Promise<Run> {
  const runs = await runHistories(env.temporal, workflowId);
  const spans = runs
    .flatMap((r) => activitySpans(r.history))
    .filter((s) => s.activityType === 'doNothing')
    .map((s) => s.completedMs - s.scheduledMs);
  return {
    seconds,
    runs: runs.length,
    spanPercentiles: [round(percentile(spans, 50), 1), round(percentile(spans, 95), 1)],
  };
}

runBench(main);
