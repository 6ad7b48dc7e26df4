// How long pause and cancel take to reach an LLM-bound job (the figures job-control.test.ts used to print and
// assert): a data_profiling_llm_generation job against the stand-in answering in `--latency-ms`, paused once
// `--concurrency` items are stored, then cancelled with its calls held at a gate; timed from the request. Then
// the pause and resume updates' round trips (`--update-repeats`), raw and through JobsClient, on a job held running.

import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../db/demo-data';
import { pauseUpdate, resumeUpdate } from '../workflows/control/control';
import { log, startBenchEnvironment } from './support/environment';
import { numberArg, percentile, round, runBench, sleep, writeResult } from './support/report';

const OWNER = 'bench';
const principal = { subject: OWNER, admin: false };

async function main(): Promise<void> {
  const items = numberArg('n', 24);
  const concurrency = numberArg('concurrency', 3);
  const latencyMs = numberArg('latency-ms', 300);
  const repeats = numberArg('repeats', 3);
  const updateRepeats = numberArg('update-repeats', 10);
  const env = await startBenchEnvironment('control-latency', { faults: { latencyMs } });
  try {
    await env.startWorker();
    const catalogue = await demoCatalogue(env.db);
    const attributeIds = catalogue.slice(0, items).map((a) => a.name);
    const start = async () =>
      (
        await env.jobs.startJob({
          jobType: 'data_profiling_llm_generation',
          owner: OWNER,
          dataSourceId: DEMO_DATA_SOURCE_ID,
          attributeIds,
          llmConcurrency: concurrency,
        })
      ).jobId;
    const stored = async (jobId: string) =>
      (await env.db.selectFrom('attribute_results').select('attribute').where('job_id', '=', jobId).execute()).length;
    const until = async (done: () => Promise<boolean>) => {
      while (!(await done())) await sleep(10);
    };

    const pausedAfter: number[] = [];
    const lastCallAfter: number[] = [];
    const abortedAfter: number[] = [];
    const cancelledAfter: number[] = [];
    for (let i = 0; i < repeats; i++) {
      env.standin.reset();
      const paused = await start();
      await until(async () => (await stored(paused)) >= concurrency);
      const pauseAt = Date.now();
      await env.jobs.pause(principal, paused);
      await until(async () => (await env.jobs.status(principal, paused)).status === 'paused');
      pausedAfter.push(Date.now() - pauseAt);
      await until(async () => (await env.jobs.status(principal, paused)).in_flight === 0);
      lastCallAfter.push(Math.max(0, ...env.standin.calls().map((c) => c.receivedAt - pauseAt)));
      await env.jobs.cancel(principal, paused);
      await env.jobs.waitForJob(paused);

      env.standin.reset();
      const gate = env.standin.gate({});
      const cancelled = await start();
      await gate.waitUntilHeld(concurrency);
      const cancelAt = Date.now();
      await env.jobs.cancel(principal, cancelled);
      await until(async () => gate.aborted() === concurrency);
      abortedAfter.push(Date.now() - cancelAt);
      await until(async () => (await env.jobs.job(cancelled))?.status === 'cancelled');
      cancelledAfter.push(Date.now() - cancelAt);
      log(
        `run ${i + 1}: paused after ${pausedAfter.at(-1)} ms, cancel aborted the held calls after ${abortedAfter.at(-1)} ms`,
      );
    }

    // Update round trips on one job kept running by a gate holding its calls: nothing else moves its history.
    env.standin.reset();
    const gate = env.standin.gate({});
    const held = await start();
    await gate.waitUntilHeld(concurrency);
    const handle = env.jobs.handle(held);
    const timed = async (call: () => Promise<unknown>) => {
      const at = performance.now();
      await call();
      return Math.round((performance.now() - at) * 10) / 10;
    };
    const pauseUpdateMs: number[] = [];
    const resumeUpdateMs: number[] = [];
    const clientPauseMs: number[] = [];
    const clientResumeMs: number[] = [];
    for (let i = 0; i < updateRepeats; i++) {
      pauseUpdateMs.push(await timed(() => handle.executeUpdate(pauseUpdate, { args: [{}] })));
      resumeUpdateMs.push(await timed(() => handle.executeUpdate(resumeUpdate)));
    }
    for (let i = 0; i < updateRepeats; i++) {
      clientPauseMs.push(await timed(() => env.jobs.pause(principal, held)));
      clientResumeMs.push(await timed(() => env.jobs.resume(principal, held)));
    }
    gate.open();
    await env.jobs.cancel(principal, held);
    await env.jobs.waitForJob(held);
    log(
      `pause update answered in a median ${percentile(pauseUpdateMs, 50)} ms, JobsClient.pause in ${percentile(clientPauseMs, 50)} ms`,
    );

    writeResult(
      'control-latency',
      { items, concurrency, latencyMs, repeats, updateRepeats },
      {
        'status paused after pause ms (each run)': pausedAfter,
        'last LLM call started after pause ms (each run)': lastCallAfter,
        'held calls aborted after cancel ms (each run)': abortedAfter,
        'job row cancelled after cancel ms (each run)': cancelledAfter,
        'longest, held calls aborted s': round(Math.max(...abortedAfter) / 1_000, 2),
        'pause update answered ms (each)': pauseUpdateMs,
        'pause update answered ms, median': percentile(pauseUpdateMs, 50),
        'resume update answered ms, median': percentile(resumeUpdateMs, 50),
        'JobsClient.pause returned ms (each)': clientPauseMs,
        'JobsClient.pause returned ms, median': percentile(clientPauseMs, 50),
        'JobsClient.resume returned ms, median': percentile(clientResumeMs, 50),
      },
      [
        'Status paused: timed from calling JobsClient.pause (through the update: applied before it returns) until status says so, polling every 10 ms; "last LLM call" is 0 when no call started after the pause request.',
        'Update round trips: from calling executeUpdate to its answer, on one job whose calls are held (running, nothing else in its history); JobsClient adds its row checks, describe, audit rows and the status it answers with.',
        'Cancel reaches an LLM activity in the answer to a heartbeat (every second, WORKER_HEARTBEAT_THROTTLE_MS), so about 1-2 s.',
      ],
    );
  } finally {
    await env.close();
  }
}

runBench(main);
