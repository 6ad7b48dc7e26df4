// Benchmark 1, efficiency against the limit: N attributes profiled at LLM concurrency C with a stand-in
// answering in exactly L: how close the LLM phase comes to N·L/C, and to N/R under a task-queue rate limit R.

import { randomUUID } from 'node:crypto';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { createOpenAiClient } from '../activities/llm/llm';
import { profileColumn } from '../activities/profiling/column-profile';
import { validationRulesPrompt } from '../activities/profiling/profiling-prompts';
import { mostAtOnce } from '../llm-standin/call-log';
import { DEMO_COLUMNS } from '../db/demo-columns';
import { startBenchEnvironment, log, type BenchEnvironment } from './support/environment';
import { createWideDataSource } from './support/data-sources';
import { activitySpans, firstEventMs, runHistories } from './support/histories';
import { runBareWindow, runJob, type TimedJob } from './support/jobs';
import type { CallRecord } from '../llm-standin/server';
import { spawnStandinProcess, type StandinProcess } from './support/processes';
import { cpuMeter, type CpuUse } from './support/cpu';
import { llmSender, redisAnswers, runBullmqFlow, runPlainLoop, type SendItem } from './support/peers';
import { aim, flagArg, numberArg, percentile, round, runBench, writeResult } from './support/report';

const SOURCE = 'bench_wide';

async function main(): Promise<void> {
  const n = numberArg('n', 1_000);
  const latencyMs = numberArg('latency-ms', 1_000);
  const concurrency = numberArg('concurrency', 50);
  const rows = numberArg('rows', 2_000);
  const ratePerSecond = numberArg('rate', 10);
  const withFullProfiling = !flagArg('skip-full');
  const withRateLimit = !flagArg('skip-limited');
  // The machine's noise between back-to-back runs (±0.01 of the ratio) is as large as the effects measured: the job and
  // the bare window each run this many times, and the median run is the figure.
  const repeats = numberArg('repeats', 3);
  const standinInProcess = flagArg('standin-in-process');
  // The peers (a plain loop, the physical limit; a BullMQ flow over Redis) in the same run: --skip-peers leaves them out.
  const withPeers = !flagArg('skip-peers');
  // Column-profile scans at once: about the database's cores (PROFILE_CONCURRENCY), 2 on the machine the figures are from.
  const profileConcurrency = numberArg('profile-concurrency', 2);
  const env = await startBenchEnvironment('efficiency', { faults: { latencyMs, latencyJitterMs: 0 } });
  let standin: StandinProcess | undefined;
  try {
    // The provider in a process of its own, as a real one is never in the worker's: unless --standin-in-process, which
    // gives the stand-in the bench's (and the worker's) event loop as before 2026-12-01.
    standin = standinInProcess ? inProcess(env) : await spawnStandinProcess(latencyMs);
    await createWideDataSource(env.db, SOURCE, n, rows);
    log(`data source ${SOURCE}: ${n} columns × ${rows} rows`);
    const profileMs = await serialProfileQueryMs(env.db, n, env.config.PROFILE_SAMPLE_ROWS);

    const provider = { OPENAI_BASE_URL: standin.url, PROFILE_CONCURRENCY: profileConcurrency };
    let worker = await env.startWorker(provider);
    const request = {
      jobType: 'data_profiling_llm_generation',
      dataSourceId: SOURCE,
      llmConcurrency: concurrency,
      useLlmCache: false,
    } as const;
    // A worker that has served a job before, as a running fleet's workers have: its first HTTP request, first pooled
    // connections and first workflow of the type are paid here, not in the measured job (nor in the bare window after it).
    const warmUp = Math.min(n, 2 * concurrency);
    log(`warm-up (not measured): data_profiling_llm_generation of ${warmUp} attributes on a table of their own`);
    await createWideDataSource(env.db, `${SOURCE}_warm_up`, warmUp, rows);
    await runJob(env.jobs, { ...request, dataSourceId: `${SOURCE}_warm_up` });
    const measured: { job: TimedJob; calls: CallRecord[]; startedAt: number; endedAt: number; cpu: CpuUse }[] = [];
    for (let run = 1; run <= repeats; run++) {
      log(
        `data_profiling_llm_generation of ${n} attributes, C = ${concurrency}, L = ${latencyMs} ms (${run}/${repeats})`,
      );
      await standin.reset();
      const startedAt = Date.now();
      const cpu = cpuMeter();
      const job = await runJob(env.jobs, request);
      const used = cpu();
      measured.push({ job, calls: await standin.calls(), startedAt, endedAt: Date.now(), cpu: used });
    }
    // Every figure below but the list of ratios is the median run's.
    const { job: free, calls: freeCalls, startedAt, endedAt, cpu } = medianBy(measured, (m) => m.job.seconds);
    const bound = (n * latencyMs) / concurrency / 1_000;
    const runs = await runHistories(env.temporal, free.jobId);
    // One attribute per activity, or (llmItemsPerUnit) several: generateValidationRulesBatch.
    const spans = runs
      .flatMap((r) => activitySpans(r.history))
      .filter((s) => s.activityType.startsWith('generateValidationRules'));
    const firstRun = runs.reduce((a, b) => (firstEventMs(a) <= firstEventMs(b) ? a : b));
    const firstLlmActivity = spans.reduce((a, b) => (a.scheduledMs <= b.scheduledMs ? a : b));
    const nonLlmMs = spans.map((s) => s.completedMs - s.startedMs - latencyMs);
    const dispatchMs = spans.map((s) => s.startedMs - s.scheduledMs);
    const turnaroundMs = slotTurnarounds(spans, concurrency);
    const handOffMs = slotHandOffs(freeCalls, concurrency);
    const idle = slotIdle(freeCalls, concurrency, latencyMs);
    const mostInFlight = mostAtOnce(freeCalls);
    const gap = free.seconds - bound;
    const explainedByProfile = nonLlmMs.reduce((a, b) => a + b, 0) / concurrency / 1_000;

    let full: { seconds: number; ruleExecutionSeconds: number; ratios: number[] } | undefined;
    if (withFullProfiling) {
      const fulls: { seconds: number; ruleExecutionSeconds: number }[] = [];
      for (let run = 1; run <= repeats; run++) {
        log(`data_profiling (rules generated and executed) of ${n} attributes (${run}/${repeats})`);
        const both = await runJob(env.jobs, { ...request, jobType: 'data_profiling' });
        log('data_profiling_rule_execution of the rules it generated, alone');
        const rulesAlone = await runJob(env.jobs, {
          jobType: 'data_profiling_rule_execution',
          dataSourceId: SOURCE,
          rulesFromJobId: both.jobId,
        });
        fulls.push({ seconds: both.seconds, ruleExecutionSeconds: rulesAlone.seconds });
      }
      // The median run by the figure held to the aim: the full job less its rules alone.
      full = {
        ...medianBy(fulls, (f) => f.seconds - f.ruleExecutionSeconds),
        ratios: fulls.map((f) => round((f.seconds - f.ruleExecutionSeconds) / bound)),
      };
    }

    await worker.stop();
    const send = llmSender(
      createOpenAiClient({
        apiKey: env.config.OPENAI_API_KEY,
        baseURL: standin.url,
        timeoutMs: env.config.LLM_REQUEST_TIMEOUT_MS,
      }),
      (item) => itemRequest(env, item),
    );
    log(`bare Temporal window: ${n} activities of one LLM call each, C = ${concurrency}, no job control`);
    const bares: number[] = [];
    for (let run = 1; run <= repeats; run++) {
      await standin.reset();
      bares.push(await runBareLlmWindow(env, send, n, concurrency));
    }
    const bare = percentile(bares, 50);
    const peers = withPeers ? await runPeers(standin, send, n, concurrency, repeats) : undefined;
    let limited: { seconds: number; calls: number } | undefined;
    if (withRateLimit) {
      worker = await env.startWorker(provider, { maxTaskQueueActivitiesPerSecond: ratePerSecond });
      log(`again with the task queue limited to ${ratePerSecond} activities/s (${ratePerSecond * 60} requests/min)`);
      await standin.reset();
      // A task queue's rate limits activities, and from a concurrency of 20 an activity carries several attributes:
      // at 19 there is one request an activity, so the queue's rate is the request rate (19 calls/s possible, R allowed).
      const oneCallAnActivity = { ...request, llmConcurrency: Math.min(concurrency, 19) };
      limited = {
        seconds: (await runJob(env.jobs, oneCallAnActivity)).seconds,
        calls: (await standin.calls()).length,
      };
      await worker.stop();
    }
    const limitedBound = n / ratePerSecond;

    writeResult(
      'efficiency',
      {
        attributes: n,
        latencyMs,
        concurrency,
        rows,
        rateLimitPerSecond: ratePerSecond,
        jitterMs: 0,
        profileConcurrency,
        standin: standinInProcess ? 'in process' : 'own process',
        repeats,
      },
      {
        'wall s (llm_generation, no rate limit)': round(free.seconds, 2),
        'bound N·L/C s': round(bound, 2),
        'ratio to N·L/C': round(free.seconds / bound),
        'ratio to N·L/C, every run (the median above)': measured.map((m) => round(m.job.seconds / bound)),
        'bare Temporal window wall s (same calls, same server, no job control)': round(bare, 2),
        'bare window wall s, every run': bares.map((seconds) => round(seconds, 2)),
        'job / bare window': round(free.seconds / bare),
        ...(peers ? peerFigures(peers, free.seconds, bound) : {}),
        'LLM calls span s (first sent → last answered)': round(callSpan(freeCalls), 2),
        'ratio of LLM span to N·L/C': round(callSpan(freeCalls) / bound),
        'job started → first LLM call received, last answered → job ended ms': [
          Math.min(...freeCalls.map((c) => c.receivedAt)) - startedAt,
          endedAt - Math.max(...freeCalls.map((c) => c.finishedAt ?? c.receivedAt)),
        ],
        'job started → workflow started, → first LLM activity scheduled, → started ms': [
          firstEventMs(firstRun) - startedAt,
          firstLlmActivity.scheduledMs - startedAt,
          firstLlmActivity.startedMs - startedAt,
        ],
        'runs (continued as new), LLM activities': [runs.length, spans.length],
        'per-activity work besides the LLM ms (p50, p95)': [
          round(percentile(nonLlmMs, 50), 1),
          round(percentile(nonLlmMs, 95), 1),
        ],
        'activity dispatch scheduled→started ms (p50, p95)': [
          round(percentile(dispatchMs, 50), 1),
          round(percentile(dispatchMs, 95), 1),
        ],
        'LLM slot hand-off: a call answered → the next call received by the stand-in ms (p50, p95)': [
          round(percentile(handOffMs, 50), 1),
          round(percentile(handOffMs, 95), 1),
        ],
        'LLM span past N·L/C, per slot s: ramp-up, hand-offs, tail, calls past L': [
          round(idle.rampUp, 3),
          round(idle.handOffs, 3),
          round(idle.tail, 3),
          round(idle.pastLatency, 3),
        ],
        'most LLM calls in flight at once (the job’s limit C)': [mostInFlight, concurrency],
        'workflow turnaround: an activity completed → the next one scheduled ms (p50, p95)': [
          round(percentile(turnaroundMs, 50), 1),
          round(percentile(turnaroundMs, 95), 1),
        ],
        'worker CPU per attribute ms (this process, every thread)': round(cpu.processMs / n, 2),
        ...(cpu.mainThreadMs !== undefined
          ? {
              'worker main thread s: on a core, runnable but waiting for one': [
                round(cpu.mainThreadMs / 1_000, 2),
                round(cpu.mainThreadWaitingMs! / 1_000, 2),
              ],
            }
          : {}),
        ...(cpu.machineBusy !== undefined ? { 'machine CPU busy during the job': round(cpu.machineBusy, 2) } : {}),
        'column-profile query ms, alone (mean of 20)': round(profileMs, 1),
        'gap to bound s': round(gap, 2),
        'gap explained by non-LLM work s (Σ/C)': round(explainedByProfile, 2),
        ...(full
          ? {
              'wall s (full data_profiling)': round(full.seconds, 2),
              'full data_profiling less its rules alone / N·L/C, every run (the median is the aim’s)': full.ratios,
              'wall s (rule execution alone: data_profiling_rule_execution of its rules)': round(
                full.ruleExecutionSeconds,
                2,
              ),
            }
          : {}),
        ...(limited
          ? {
              'wall s (rate-limited)': round(limited.seconds, 2),
              'bound N/R s': round(limitedBound, 2),
              'ratio to N/R': round(limited.seconds / limitedBound),
            }
          : {}),
        'LLM calls (free, limited)': [freeCalls.length, limited?.calls ?? 0],
      },
      [
        `median of ${repeats} runs back to back, for the job and for the bare window: every figure is the median run's.`,
        'wall = JobsClient.startJob until the workflow result, so it includes workflow start, the first snapshot and the summary activity. The worker has run a warm-up job (2C attributes, a table of their own) first, as a fleet’s running workers have.',
        'LLM span past N·L/C per slot: C × span = Σ call durations + Σ time slots stood empty, split into the ramp-up (each of the first C calls after the first), the hand-offs, the tail (each of the last C answers before the last) and the calls’ time past L, each summed over calls and divided by C.',
        'per-activity non-LLM work = activity started→completed minus L: the column-profile query, the stored-result check, the prompt, the statement storing rules, and (an activity of several attributes, or one scheduled ahead of its call) the wait for one of the job’s LLM slots.',
        'LLM slot hand-off = the k-th call answered → the (C+k)-th call received, from the stand-in’s log: the time a slot of the job’s LLM concurrency stood empty.',
        'worker CPU: this process’s CPU time over the median job (the worker runs in it; the bench itself is idle meanwhile), per attribute; the main thread’s time on a core and its time runnable but waiting for one, from /proc/self/task/<pid>/schedstat: a hand-off waits for the worker’s event loop, and on a machine this busy as much for a core as for the work before it.',
        'bare window = bench/noop-workflow.ts bareWindow on a worker of its own (same dev server, same process): at most C activities, the next scheduled as one completes, each sending the same kind of request (the validation-rules prompt of its attribute, from a fixed profile) through the same openai client; nothing read or stored.',
        'peers (--skip-peers leaves them out), after the bare window, each sending the same requests through the same openai client to the same stand-in from this process: the plain loop keeps C requests in flight with nothing else (the physical limit on this machine); the BullMQ flow adds a parent job with N children to Redis (REDIS_URL) and runs them on a BullMQ worker of concurrency C, wall = flow added → parent processed.',
        `full data_profiling also runs the rules, in batches of 200 attributes over ${rows} rows.`,
        standinInProcess
          ? 'the stand-in ran in this process (--standin-in-process), sharing the event loop of the worker and the bench: each answer and each next call waits on their work, and theirs on its.'
          : 'the stand-in ran as its own process (llm-standin/main.ts), as a provider is never in the worker’s process; its call log is read over its /_standin endpoints. Before 2026-12-01 it ran in this process (--standin-in-process), where it read 0.01-0.03 higher.',
      ],
      [
        aim('efficiency: data_profiling_llm_generation wall / N·L/C', round(free.seconds / bound), 'max', 1.02),
        ...(full
          ? [
              aim(
                'efficiency: data_profiling wall − rule execution alone, / N·L/C',
                round((full.seconds - full.ruleExecutionSeconds) / bound),
                'max',
                1.02,
              ),
            ]
          : []),
        // The first aim's "at least as close to the limit as BullMQ", held against BullMQ run here, now: the peer table
        // it came from was taken on another machine, and this one decides how close anything comes.
        ...(peers?.bullmq
          ? [
              aim(
                'efficiency: data_profiling_llm_generation wall / BullMQ flow, same run',
                round(free.seconds / percentile(peers.bullmq, 50)),
                'max',
                1,
              ),
            ]
          : []),
      ],
    );
  } finally {
    await standin?.stop();
    await env.close();
  }
}

/** The middle one of `values` by `key` (the upper of the two middle ones for an even count). */
function medianBy<T>(values: readonly T[], key: (value: T) => number): T {
  return [...values].sort((a, b) => key(a) - key(b))[Math.floor(values.length / 2)]!;
}

/** The environment's own stand-in, in this process, seen as a StandinProcess. */
function inProcess(env: BenchEnvironment): StandinProcess {
  return {
    url: env.standin.url,
    reset: async () => env.standin.reset(),
    calls: async () => env.standin.calls(),
    stop: async () => undefined,
  };
}

/**
 * The bare baseline: bareWindow (bench/noop-workflow.ts) on a worker of its own task queue, whose activity sends one
 * validation-rules request for item i (its attribute's prompt from a fixed profile) through the same openai client and
 * throws the answer away. Returns the wall time in seconds, start to result.
 */
async function runBareLlmWindow(
  env: BenchEnvironment,
  send: SendItem,
  n: number,
  concurrency: number,
): Promise<number> {
  const taskQueue = `${env.config.TEMPORAL_TASK_QUEUE}-bare`;
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('./noop-workflow'),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
  });
  const connection = await NativeConnection.connect({ address: env.config.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowBundle: { code },
    maxConcurrentActivityTaskExecutions: env.config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    activities: { doNothing: send },
  });
  const running = worker.run();
  try {
    const { seconds } = await runBareWindow(env.temporal, {
      taskQueue,
      n,
      concurrency,
      historyEventBudget: env.config.JOB_HISTORY_EVENT_BUDGET,
      idPrefix: 'bare-llm',
    });
    return seconds;
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
  }
}

/**
 * How long a slot stands empty between one activity completing and the workflow scheduling the next: the
 * first `concurrency` activities fill the slots, and the k-th completion frees the slot the (C+k)-th fills.
 */
function slotTurnarounds(spans: { scheduledMs: number; completedMs: number }[], concurrency: number): number[] {
  const completions = spans.map((s) => s.completedMs).sort((a, b) => a - b);
  const schedules = spans.map((s) => s.scheduledMs).sort((a, b) => a - b);
  return schedules.slice(concurrency).map((scheduledMs, k) => scheduledMs - completions[k]!);
}

/** The k-th call answered → the (C+k)-th call received: how long a slot of the job's LLM concurrency stood empty. */
function slotHandOffs(calls: { receivedAt: number; finishedAt?: number }[], concurrency: number): number[] {
  const received = calls.map((c) => c.receivedAt).sort((a, b) => a - b);
  const answered = calls.map((c) => c.finishedAt ?? c.receivedAt).sort((a, b) => a - b);
  return received.slice(concurrency).map((at, k) => at - answered[k]!);
}

/**
 * Where the LLM span goes past N·L/C, in seconds a slot: C × span = Σ call durations + Σ time slots stood empty, so
 * span = N·L/C + (the first C calls sent after the first) + (hand-offs) + (the last C answered before the last) + (calls
 * lasting past L), each summed and divided by C.
 */
function slotIdle(calls: { receivedAt: number; finishedAt?: number }[], concurrency: number, latencyMs: number) {
  const received = calls.map((c) => c.receivedAt).sort((a, b) => a - b);
  const answered = calls.map((c) => c.finishedAt ?? c.receivedAt).sort((a, b) => a - b);
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0) / concurrency / 1_000;
  const last = answered[answered.length - 1]!;
  return {
    rampUp: sum(received.slice(0, concurrency).map((at) => at - received[0]!)),
    handOffs: sum(slotHandOffs(calls, concurrency).map((ms) => Math.max(0, ms))),
    tail: sum(answered.slice(-concurrency).map((at) => last - at)),
    pastLatency: sum(calls.map((c) => (c.finishedAt ?? c.receivedAt) - c.receivedAt - latencyMs)),
  };
}

function callSpan(calls: { receivedAt: number; finishedAt?: number }[]): number {
  const first = Math.min(...calls.map((c) => c.receivedAt));
  const last = Math.max(...calls.map((c) => c.finishedAt ?? c.receivedAt));
  return (last - first) / 1_000;
}

/** The column-profile query on its own, one at a time, over the first 20 columns of the bench table. */
async function serialProfileQueryMs(
  db: Parameters<typeof profileColumn>[0],
  n: number,
  sampleRows: number,
): Promise<number> {
  const count = Math.min(20, n);
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const demo = DEMO_COLUMNS[i % DEMO_COLUMNS.length]!;
    await profileColumn(
      db,
      SOURCE,
      { ...demo, name: `${demo.name}_${Math.floor(i / DEMO_COLUMNS.length) + 1}` },
      { sampleRows },
    );
  }
  return (performance.now() - started) / count;
}

runBench(main);

/** The validation-rules request for item i of the bare window and the peers: its attribute's prompt from a fixed profile. */
function itemRequest(env: BenchEnvironment, item: number) {
  const demo = DEMO_COLUMNS[item % DEMO_COLUMNS.length]!;
  const attribute = { ...demo, name: `${demo.name}_${Math.floor(item / DEMO_COLUMNS.length) + 1}` };
  const profile = { rows: 2_000, nulls: 0, distinct: 100, min: null, max: null, topValues: [] };
  const prompt = validationRulesPrompt(SOURCE, attribute, profile, env.config.LLM_MAX_PROMPT_TOKENS);
  return {
    model: env.config.OPENAI_MODEL,
    messages: [
      { role: 'system' as const, content: prompt.system },
      { role: 'user' as const, content: prompt.user },
    ],
    response_format: { type: 'json_object' as const },
    max_completion_tokens: env.config.LLM_MAX_OUTPUT_TOKENS,
  };
}

interface PeerRuns {
  plain: number[];
  /** Undefined where no Redis answers (REDIS_URL, default redis://127.0.0.1:6379). */
  bullmq?: number[];
}

/** The peers' wall seconds, `repeats` runs each, back to back after the job's and the bare window's. */
async function runPeers(
  standin: StandinProcess,
  send: SendItem,
  n: number,
  concurrency: number,
  repeats: number,
): Promise<PeerRuns> {
  const runs: PeerRuns = { plain: [] };
  log(`plain loop: ${n} LLM calls, ${concurrency} in flight, in this process`);
  for (let run = 1; run <= repeats; run++) {
    await standin.reset();
    runs.plain.push(await runPlainLoop(send, n, concurrency));
  }
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (!(await redisAnswers(redisUrl))) {
    log(`BullMQ flow skipped: no Redis answers at ${redisUrl}`);
    return runs;
  }
  log(`BullMQ flow: a parent and ${n} children of one LLM call each, worker concurrency ${concurrency}, ${redisUrl}`);
  runs.bullmq = [];
  for (let run = 1; run <= repeats; run++) {
    await standin.reset();
    runs.bullmq.push(await runBullmqFlow(send, n, concurrency, redisUrl, `bench-efficiency-${randomUUID()}`));
  }
  return runs;
}

function peerFigures(peers: PeerRuns, jobSeconds: number, bound: number): Record<string, unknown> {
  const { plain, bullmq } = peers;
  return {
    'plain loop (C in flight, in process) / N·L/C, every run': plain.map((s) => round(s / bound)),
    'plain loop / N·L/C (median)': round(percentile(plain, 50) / bound),
    ...(bullmq !== undefined
      ? {
          'BullMQ flow (parent + N children, worker concurrency C, Redis) / N·L/C, every run': bullmq.map((s) =>
            round(s / bound),
          ),
          'BullMQ flow / N·L/C (median)': round(percentile(bullmq, 50) / bound),
          'job / BullMQ flow': round(jobSeconds / percentile(bullmq, 50)),
        }
      : { 'BullMQ flow': 'skipped: no Redis answered' }),
  };
}
