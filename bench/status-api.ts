// Benchmark 4, the status API under polling: an open-loop 200 requests/s against GET /api/v1/jobs/{id}/status
// while a job runs with its worker up, then for 3 minutes after every worker process is SIGKILLed; it counts the
// answers in which a client would have seen the job's progress go backwards.

import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { endAllSpawnedWorkers } from '../test/support/worker-process';
import { mintToken } from '../client/cli/cli-token';
import { log, startBenchEnvironment } from './support/environment';
import { openLoopLoad, type LoadAnswer } from './support/load';
import { spawnApiProcess } from './support/processes';
import { aim, numberArg, percentile, round, runBench, sleep, writeResult } from './support/report';

/** What one status answer says about progress, as far as the backwards check reads it. */
interface Seen {
  revision: number | undefined;
  steps: number | undefined;
}

/**
 * Watches the answers of one job for progress going backwards, as a client polling it would: an answer counts as
 * backwards when it is older (a lower `progress_revision`, or fewer steps done) than an answer the client had
 * already received when it sent the request. Answers to requests in flight together may arrive in any order, so
 * they are not compared with each other.
 */
class BackwardsWatch {
  private maxRevision = -1;
  private maxSteps = -1;
  backwards = 0;
  /** The first few, to show what went backwards to what. */
  readonly examples: string[] = [];

  observe(): (answer: LoadAnswer) => void {
    const revisionBefore = this.maxRevision;
    const stepsBefore = this.maxSteps;
    return ({ status, body }) => {
      if (status !== 200) return;
      const seen = seenIn(body);
      const older =
        (seen.revision !== undefined && seen.revision < revisionBefore) ||
        (seen.steps !== undefined && seen.steps < stepsBefore);
      if (older) {
        this.backwards++;
        if (this.examples.length < 5)
          this.examples.push(
            `revision ${seen.revision} / ${seen.steps} steps after ${revisionBefore} / ${stepsBefore} (${sourceOf(body)})`,
          );
      }
      this.maxRevision = Math.max(this.maxRevision, seen.revision ?? -1);
      this.maxSteps = Math.max(this.maxSteps, seen.steps ?? -1);
    };
  }
}

function seenIn(body: unknown): Seen {
  const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const number = (value: unknown) => (typeof value === 'number' ? value : undefined);
  return { revision: number(fields.progress_revision), steps: number(fields.completed_steps) };
}

const sourceOf = (body: unknown) => String((body as Record<string, unknown> | undefined)?.progress_source);

/** p50 / p99 / max of each `sliceSeconds` of a phase, by when each request was due. */
class Slices {
  private readonly latencies: number[][] = [];

  constructor(private readonly sliceSeconds: number) {}

  observe(dueMs: number): (answer: LoadAnswer) => void {
    const slice = Math.floor(dueMs / 1_000 / this.sliceSeconds);
    return ({ latencyMs }) => (this.latencies[slice] ??= []).push(latencyMs);
  }

  worstP99(): number {
    return Math.max(...Object.values(this.figures()).map(([, p99]) => p99));
  }

  figures(): Record<string, [number, number, number]> {
    const out: Record<string, [number, number, number]> = {};
    this.latencies.forEach((values, slice) => {
      const from = slice * this.sliceSeconds;
      out[`${from}-${from + this.sliceSeconds} s`] = [
        round(percentile(values, 50), 1),
        round(percentile(values, 99), 1),
        round(Math.max(...values), 1),
      ];
    });
    return out;
  }
}

async function main(): Promise<void> {
  const rate = numberArg('rate', 200);
  const seconds = numberArg('seconds', 30);
  // The aim holds "throughout the 3 minutes after every worker is SIGKILLed"; `--down-seconds 20` makes a
  // smoke run.
  const downSeconds = numberArg('down-seconds', 180);
  const sliceSeconds = numberArg('slice-seconds', 30);
  const latencyMs = numberArg('latency-ms', 1_000);
  const env = await startBenchEnvironment('status-api', { faults: { latencyMs, latencyJitterMs: 0 } });
  try {
    const api = await spawnApiProcess(env.config);
    try {
      const worker = env.spawnWorker();
      await worker.ready;
      // Long enough to outlast the first phase: one attribute at a time, L each; with no worker it stays running.
      const { jobId } = await env.jobs.startJob({
        jobType: 'data_profiling_llm_generation',
        owner: 'bench',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        llmConcurrency: 1,
        useLlmCache: false,
      });
      await sleep(2_000);
      const token = (await mintToken(env.config, { subject: 'bench', roles: [] })).token;
      const target = {
        url: `${api.url}/api/v1/jobs/${jobId}/status`,
        headers: { authorization: `Bearer ${token}` },
        ratePerSecond: rate,
        countField: 'progress_source',
      };
      // One watch over both phases: the switch from live answers to stored ones is where progress used to go back.
      const watch = new BackwardsWatch();

      log(`${rate} requests/s for ${seconds} s, worker up`);
      const up = await openLoopLoad({ ...target, seconds, observe: () => watch.observe() });
      const backwardsUp = watch.backwards;
      const killed = await endAllSpawnedWorkers();
      log(`${killed} worker process(es) SIGKILLed; ${rate} requests/s for ${downSeconds} s, every worker down`);
      const slices = new Slices(sliceSeconds);
      const down = await openLoopLoad({
        ...target,
        seconds: downSeconds,
        observe: (dueMs) => {
          const [sliced, watched] = [slices.observe(dueMs), watch.observe()];
          return (answer) => {
            sliced(answer);
            watched(answer);
          };
        },
      });
      const backwardsDown = watch.backwards - backwardsUp;
      if (watch.examples.length > 0) log(`progress went backwards: ${watch.examples.join('; ')}`);

      writeResult(
        'status-api',
        {
          ratePerSecond: rate,
          upSeconds: seconds,
          downSeconds,
          job: 'data_profiling_llm_generation, one attribute at a time',
        },
        {
          'workers up: p50 / p99 / max ms': [up.p50Ms, up.p99Ms, up.maxMs],
          'workers up: requests, errors': [up.sent, up.errors],
          'workers up: answers by source': up.fieldCounts,
          'workers up: answers older than one seen before': backwardsUp,
          'workers SIGKILLed: processes': killed,
          'workers down: p50 / p99 / max ms': [down.p50Ms, down.p99Ms, down.maxMs],
          [`workers down: p50 / p99 / max ms per ${sliceSeconds} s`]: slices.figures(),
          'workers down: requests, errors': [down.sent, down.errors],
          'workers down: answers by source': down.fieldCounts,
          'workers down: answers older than one seen before': backwardsDown,
        },
        [
          'open loop: each latency counts from when its request was due, so queueing in the server is included.',
          'the API runs as its own process (client/http/main.ts); every worker process was SIGKILLed before the second phase, as a crashed machine would stop it.',
          'an answer counts as older when its progress_revision or completed_steps is below that of an answer the client had received before sending the request.',
          ...(watch.examples.length > 0 ? [`older answers, first few: ${watch.examples.join('; ')}`] : []),
        ],
        [
          aim('status: workers up, p99', up.p99Ms, 'max', 50, 'ms'),
          aim(`status: ${downSeconds} s after every worker is SIGKILLed, p99`, down.p99Ms, 'max', 50, 'ms'),
          aim(`status: workers down, worst ${sliceSeconds} s slice's p99`, slices.worstP99(), 'max', 50, 'ms'),
          aim('status: answers older than one the client saw before', backwardsUp + backwardsDown, 'max', 0),
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
