// Benchmark 5, scale: one pde_auto_mapping job of 10 000 plan data elements, in a worker process.
// Prints that it completes, its runs (continue-as-new), the largest run history and the worker's peak RSS.

import { DEMO_COLUMNS } from '../db/demo-columns';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { log, startBenchEnvironment } from './support/environment';
import { runHistories } from './support/histories';
import { peakRssMb } from './support/processes';
import { numberArg, round, runBench, sleep, writeResult } from './support/report';

async function main(): Promise<void> {
  const n = numberArg('n', 10_000);
  const latencyMs = numberArg('latency-ms', 300);
  const concurrency = numberArg('concurrency', 50);
  const env = await startBenchEnvironment('scale', { faults: { latencyMs, latencyJitterMs: 0 } });
  try {
    const worker = env.spawnWorker();
    await worker.ready;
    const pid = worker.process.pid!;
    const pdes = Array.from({ length: n }, (_, i) => {
      const demo = DEMO_COLUMNS[i % DEMO_COLUMNS.length]!;
      return {
        name: `${demo.name}_${Math.floor(i / DEMO_COLUMNS.length) + 1}`,
        description: demo.description,
        dataType: demo.dataType,
      };
    });
    log(`pde_auto_mapping of ${n} PDEs against ${DEMO_DATA_SOURCE_ID}, C = ${concurrency}, L = ${latencyMs} ms`);
    const started = performance.now();
    const { jobId } = await env.jobs.startJob({
      jobType: 'pde_auto_mapping',
      owner: 'bench',
      planId: 'bench_plan',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      pdes,
      llmConcurrency: concurrency,
      useLlmCache: false,
    });
    let peakMb = 0;
    const done = env.jobs.waitForJob(jobId);
    let finished = false;
    void done.finally(() => (finished = true));
    while (!finished) {
      peakMb = Math.max(peakMb, peakRssMb(pid) ?? 0);
      await sleep(1_000);
    }
    const row = await done;
    const seconds = (performance.now() - started) / 1_000;
    peakMb = Math.max(peakMb, peakRssMb(pid) ?? 0);
    await worker.kill('SIGTERM');

    const runs = await runHistories(env.temporal, jobId);
    const largest = runs.reduce((a, b) => (b.events > a.events ? b : a));
    const calls = env.standin.calls().length;
    writeResult(
      'scale',
      { pdes: n, latencyMs, concurrency },
      {
        'job status': row?.status,
        'completed steps / total': [(row?.progress as { completedSteps?: number } | null)?.completedSteps, n],
        'wall s': round(seconds, 1),
        'bound N·L/C s': round((n * latencyMs) / concurrency / 1_000, 1),
        'workflow runs (continue-as-new)': runs.length,
        'largest run history: events': largest.events,
        'largest run history: bytes': largest.bytes,
        'all runs: events': runs.reduce((sum, r) => sum + r.events, 0),
        'worker peak RSS MB (VmHWM)': round(peakMb, 1),
        'LLM calls': calls,
      },
      [
        'the worker is a separate process (node --import tsx workers/main.ts); its VmHWM is read from /proc while the job runs.',
      ],
    );
  } finally {
    await env.close();
  }
}

runBench(main);
