// Benchmark 3, orchestration overhead: a job of no-op items (bench/noop-workflow.ts) run at concurrency 1
// (wall / items is the cost of one item's round trip) and at concurrency 50 (items per second).

import { randomUUID } from 'node:crypto';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { createJobActivities } from '../activities/jobs/jobs';
import { openDatabase } from '../db/connection';
import type { NoopJobInput } from './noop-workflow';
import { log, startBenchEnvironment, type BenchEnvironment } from './support/environment';
import { activitySpans, runHistories } from './support/histories';
import { numberArg, percentile, round, runBench, writeResult } from './support/report';

async function main(): Promise<void> {
  const n = numberArg('n', 2_000);
  const serialN = numberArg('serial-n', n);
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
      log(`${serialN} no-op items at concurrency 1`);
      const serial = await runNoopJob(env, serialN, 1);
      log(`${n} no-op items at concurrency ${concurrency}`);
      const parallel = await runNoopJob(env, n, concurrency);
      writeResult(
        'overhead',
        { items: n, serialItems: serialN, concurrency },
        {
          'concurrency 1: wall s': round(serial.seconds, 2),
          'concurrency 1: wall / items ms': round((serial.seconds * 1_000) / serialN, 2),
          'concurrency 1: scheduled→completed ms (p50, p95)': serial.spanPercentiles,
          [`concurrency ${concurrency}: wall s`]: round(parallel.seconds, 2),
          [`concurrency ${concurrency}: items/s`]: round(n / parallel.seconds, 1),
          [`concurrency ${concurrency}: scheduled→completed ms (p50, p95)`]: parallel.spanPercentiles,
          'runs (continue-as-new) at 1 / at C': [serial.runs, parallel.runs],
        },
        [
          'Per-item overhead = an activity’s scheduled→completed time in the history minus its work (zero here): server dispatch, worker poll, completion, and the workflow task that schedules the next item.',
          'wall / items at concurrency 1 adds the workflow-task round trip between one item and the next, and the progress snapshots (local activity, every 2 % of items).',
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

async function runNoopJob(env: BenchEnvironment, n: number, concurrency: number) {
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
  await env.temporal.workflow.execute('noopJob', {
    taskQueue: env.config.TEMPORAL_TASK_QUEUE,
    workflowId: jobId,
    args: [input],
  });
  const seconds = (performance.now() - started) / 1_000;
  const runs = await runHistories(env.temporal, jobId);
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
