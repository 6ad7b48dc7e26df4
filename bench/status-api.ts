// Benchmark 4, the status API under polling: an open-loop 200 requests/s against
// GET /api/v1/jobs/{id}/status for 30 s while a job runs with its worker up, then with every worker down.

import { SignJWT } from 'jose';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { BENCH_JWT_SECRET, log, startBenchEnvironment } from './support/environment';
import { openLoopLoad } from './support/load';
import { spawnApiProcess } from './support/processes';
import { numberArg, runBench, sleep, writeResult } from './support/report';

async function main(): Promise<void> {
  const rate = numberArg('rate', 200);
  const seconds = numberArg('seconds', 30);
  const latencyMs = numberArg('latency-ms', 1_000);
  const env = await startBenchEnvironment('status-api', { faults: { latencyMs, latencyJitterMs: 0 } });
  try {
    const api = await spawnApiProcess(env.config);
    try {
      const worker = env.spawnWorker();
      await worker.ready;
      // Long enough to outlast both phases: one attribute at a time, L each.
      const { jobId } = await env.jobs.startJob({
        jobType: 'data_profiling_llm_generation',
        owner: 'bench',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        llmConcurrency: 1,
        useLlmCache: false,
      });
      await sleep(2_000);
      const token = await new SignJWT({ roles: [] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('bench')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(BENCH_JWT_SECRET));
      const target = {
        url: `${api.url}/api/v1/jobs/${jobId}/status`,
        headers: { authorization: `Bearer ${token}` },
        ratePerSecond: rate,
        seconds,
        countField: 'progress_source',
      };

      log(`${rate} requests/s for ${seconds} s, worker up`);
      const up = await openLoopLoad(target);
      await worker.kill('SIGTERM');
      log(`${rate} requests/s for ${seconds} s, every worker down`);
      const down = await openLoopLoad(target);

      writeResult(
        'status-api',
        { ratePerSecond: rate, seconds, job: 'data_profiling_llm_generation, one attribute at a time' },
        {
          'workers up: p50 / p99 / max ms': [up.p50Ms, up.p99Ms, up.maxMs],
          'workers up: requests, errors': [up.sent, up.errors],
          'workers up: answers by source': up.fieldCounts,
          'workers down: p50 / p99 / max ms': [down.p50Ms, down.p99Ms, down.maxMs],
          'workers down: requests, errors': [down.sent, down.errors],
          'workers down: answers by source': down.fieldCounts,
        },
        [
          'open loop: each latency counts from when its request was due, so queueing in the server is included.',
          'the API runs as its own process (client/http/main.ts); the worker process was stopped with SIGTERM before the second phase.',
        ],
      );
    } finally {
      await api.stop();
    }
  } finally {
    await env.close();
  }
}

runBench(main);
