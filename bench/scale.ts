// Benchmark 5, scale: one pde_auto_mapping job of 10 000 plan data elements, in a worker process run the way an
// operator runs it (`npm run build`, then `node dist/workers/main.js` with the build's prebuilt workflow bundle).
// Prints that it completes, its runs (continue-as-new), the largest run history and the worker's peak RSS.

import { spawn, spawnSync } from 'node:child_process';
import { temporal } from '@temporalio/proto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEMO_COLUMNS } from '../db/demo-columns';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import type { WorkerProcess } from '../test/support/worker-process';
import { log, startBenchEnvironment, type BenchEnvironment } from './support/environment';
import { runHistories, type RunHistory } from './support/histories';
import { peakRssMb } from './support/processes';
import { aim, flagArg, numberArg, round, runBench, sleep, writeResult } from './support/report';

const ROOT = path.resolve(__dirname, '..');

/** Issue 13's aims for this job: the worker's peak RSS, and every run's history under the server's 4 096-event mark. */
const PEAK_RSS_AIM_MB = 300;
const RUN_EVENTS_AIM = 4_096;

async function main(): Promise<void> {
  const n = numberArg('n', 10_000);
  const latencyMs = numberArg('latency-ms', 300);
  const concurrency = numberArg('concurrency', 50);
  // `--source`: the development worker instead (`node --import tsx workers/main.ts`, TypeScript compiled at load).
  const fromSource = flagArg('source');
  // `--dist <dir>` reuses a build (e.g. dist/ after `npm run build`) instead of building one for this run.
  const distArg = process.argv.indexOf('--dist');
  const dist = distArg >= 0 ? path.resolve(process.argv[distArg + 1]!) : undefined;
  const built = fromSource ? undefined : (dist ?? buildOnce());

  const env = await startBenchEnvironment('scale', { faults: { latencyMs, latencyJitterMs: 0 } });
  let worker: WorkerProcess | undefined;
  try {
    worker = built ? spawnBuiltWorker(env, built) : env.spawnWorker();
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
    const startRss = peakRssMb(pid) ?? 0;
    log(
      `worker ${built ? `from ${path.relative(ROOT, built)}` : 'from source (tsx)'}: ${round(startRss, 1)} MB at start`,
    );
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
      { pdes: n, latencyMs, concurrency, worker: built ? 'built (node dist/workers/main.js)' : 'source (tsx)' },
      {
        'job status': row?.status,
        'completed steps / total': [(row?.progress as { completedSteps?: number } | null)?.completedSteps, n],
        'wall s': round(seconds, 1),
        'bound N·L/C s': round((n * latencyMs) / concurrency / 1_000, 1),
        'workflow runs (continue-as-new)': runs.length,
        'largest run history: events': largest.events,
        'largest run history: bytes': largest.bytes,
        'all runs: events': runs.reduce((sum, r) => sum + r.events, 0),
        // Where each run scheduled its last activity: what its units in flight and closing events added after that.
        'each run: events (last activity scheduled at)': runs
          .map((r) => `${r.events} (${lastScheduled(r)})`)
          .join(', '),
        'worker RSS MB once polling': round(startRss, 1),
        'worker peak RSS MB (VmHWM)': round(peakMb, 1),
        'LLM calls': calls,
      },
      [
        built
          ? `the worker is a separate process run as operators run it: plain node from the build (${path.relative(ROOT, built)}/workers/main.js), workflows from the build's prebuilt bundle, no tsx; its VmHWM is read from /proc while the job runs.`
          : "the worker is a separate process from source (node --import tsx workers/main.ts, the bench's prebuilt workflow bundle); its VmHWM is read from /proc while the job runs.",
      ],
      [
        aim('scale: worker peak RSS', round(peakMb, 1), 'max', PEAK_RSS_AIM_MB, ' MB'),
        aim('scale: largest run history', largest.events, 'max', RUN_EVENTS_AIM, ' events'),
      ],
    );
  } finally {
    await worker?.kill('SIGKILL');
    await env.close();
  }
}

/** The id of a run's last ActivityTaskScheduled event (local activities are markers, not counted). */
function lastScheduled(run: RunHistory): number {
  const scheduled = temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED;
  const ids = (run.history.events ?? []).filter((e) => e.eventType === scheduled).map((e) => Number(e.eventId));
  return ids.length > 0 ? Math.max(...ids) : 0;
}

/** `npm run build` into .tmp/ (inside the repository, so node_modules resolves), leaving a developer's dist/ alone. */
function buildOnce(): string {
  const outDir = path.join(ROOT, '.tmp', 'bench-scale-dist');
  log(`building the worker as production does (npm run build -- --out-dir ${path.relative(ROOT, outDir)})`);
  const build = spawnSync('npm', ['run', '--silent', 'build', '--', '--out-dir', outDir], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (build.status !== 0) throw new Error(`npm run build failed (${build.status}):\n${build.stdout}\n${build.stderr}`);
  return outDir;
}

/**
 * `node <dist>/workers/main.js` as `npm run start:worker` runs it: no NODE_OPTIONS (no tsx), no WORKFLOW_BUNDLE_PATH
 * (the worker finds the build's own bundle beside its code).
 */
function spawnBuiltWorker(env: BenchEnvironment, dist: string): WorkerProcess {
  const main = path.join(dist, 'workers', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build first (npm run build -- --out-dir ${dist})`);
  const settings: Record<string, unknown> = { ...env.config, LOG_LEVEL: 'warn', WORKFLOW_BUNDLE_PATH: undefined };
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.NODE_OPTIONS;
  delete childEnv.WORKFLOW_BUNDLE_PATH;
  for (const [key, value] of Object.entries(settings))
    if (value !== undefined) childEnv[key] = typeof value === 'string' ? value : JSON.stringify(value);
  const child = spawn(process.execPath, [main], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', () => resolve({ code: child.exitCode, signal: child.signalCode }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('synapse-jobs worker: task queue')) resolve();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(({ code }) => reject(new Error(`built worker exited (${code}) before it was ready:\n${output}`)));
  });
  return {
    process: child,
    ready,
    exited,
    output: () => output,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

runBench(main);
