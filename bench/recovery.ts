// Benchmark 7, recovery: SIGKILL a worker process mid-job, start another, and measure how long until the
// job makes progress again and how many items were done twice (LLM calls per item at the stand-in).

import { sql } from 'kysely';
import { resolveAttributes } from '../client/profiling/profiling-definition';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { log, startBenchEnvironment, type BenchEnvironment } from './support/environment';
import { numberArg, percentile, round, runBench, sleep, writeResult } from './support/report';

async function main(): Promise<void> {
  const repetitions = numberArg('repetitions', 3);
  const n = numberArg('n', 110);
  const latencyMs = numberArg('latency-ms', 1_000);
  const concurrency = numberArg('concurrency', 10);
  const killAtShare = numberArg('kill-at', 0.3);
  const env = await startBenchEnvironment('recovery', { faults: { latencyMs, latencyJitterMs: 0 } });
  try {
    const attributeIds = (await resolveAttributes(env.db, DEMO_DATA_SOURCE_ID)).slice(0, n).map((a) => a.name);
    const reps = [];
    for (let rep = 1; rep <= repetitions; rep++) {
      log(
        `repetition ${rep}: ${attributeIds.length} attributes, C = ${concurrency}, L = ${latencyMs} ms, kill at ${killAtShare * 100} %`,
      );
      reps.push(await killAndRecover(env, attributeIds, concurrency, killAtShare));
    }
    const toProgress = reps.map((r) => r.secondsToProgress);
    writeResult(
      'recovery',
      { repetitions, attributes: attributeIds.length, latencyMs, concurrency, killAtShare },
      {
        's from SIGKILL to progress again (each)': toProgress.map((s) => round(s, 2)),
        's from SIGKILL to progress again (p50, max)': [
          round(percentile(toProgress, 50), 2),
          round(Math.max(...toProgress), 2),
        ],
        'of which: new worker process start s (each)': reps.map((r) => round(r.workerStartSeconds, 2)),
        'items in flight at the kill (each)': reps.map((r) => r.inFlightAtKill),
        'items asked twice or more (each)': reps.map((r) => r.redone),
        'items with a stored result twice': reps.map((r) => r.duplicateResults),
        's from SIGKILL to the job completed (each)': reps.map((r) => round(r.secondsToDone, 1)),
      },
      [
        'progress again = the first attribute result stored after the kill (only the new worker can store one).',
        'the workflow task stays on the dead worker’s sticky queue until its schedule-to-start timeout (10 s by default) sends it to the shared queue: that, more than the new process start, is the wait before progress.',
        'items in flight on the dead worker are handed to another only when their heartbeat times out (LLM_ACTIVITY heartbeatTimeout 10 s): that, not the restart, bounds the job’s completion.',
      ],
    );
  } finally {
    await env.close();
  }
}

async function killAndRecover(env: BenchEnvironment, attributeIds: string[], concurrency: number, killAtShare: number) {
  env.standin.reset();
  const first = env.spawnWorker();
  await first.ready;
  const { jobId } = await env.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner: 'bench',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds,
    llmConcurrency: concurrency,
    useLlmCache: false,
  });
  const stored = () =>
    env.db
      .selectFrom('attribute_results')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('job_id', '=', jobId)
      .executeTakeFirstOrThrow()
      .then((r) => r.n);
  while ((await stored()) < attributeIds.length * killAtShare) await sleep(20);

  const killedAt = performance.now();
  const killedAtEpoch = Date.now();
  await first.kill('SIGKILL');
  const storedAtKill = await stored();
  const second = env.spawnWorker();
  await second.ready;
  const workerStartSeconds = (performance.now() - killedAt) / 1_000;
  while ((await stored()) <= storedAtKill) await sleep(20);
  const secondsToProgress = (performance.now() - killedAt) / 1_000;
  await env.jobs.waitForJob(jobId);
  const secondsToDone = (performance.now() - killedAt) / 1_000;
  await second.kill('SIGTERM');

  const calls = env.standin.calls();
  const perItem = new Map<string, number>();
  for (const call of calls) if (call.itemKey) perItem.set(call.itemKey, (perItem.get(call.itemKey) ?? 0) + 1);
  const inFlightAtKill = calls.filter(
    (c) => c.receivedAt <= killedAtEpoch && (c.finishedAt === undefined || c.finishedAt > killedAtEpoch),
  ).length;
  const { rows } = await sql<{
    n: number;
  }>`select count(*)::int as n from (select attribute from attribute_results where job_id = ${jobId} group by attribute having count(*) > 1) as d`.execute(
    env.db,
  );
  return {
    secondsToProgress,
    workerStartSeconds,
    secondsToDone,
    inFlightAtKill,
    redone: [...perItem.values()].filter((c) => c > 1).length,
    duplicateResults: rows[0]!.n,
  };
}

runBench(main);
