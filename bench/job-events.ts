// Benchmark: N concurrent event streams (GET /api/v1/jobs/{id}/events) on one job, served by the API as its own
// process (or several), while the job row is written W times by the real writer (recordJobState, which NOTIFYs in its
// transaction): the delay from each write (the timestamp taken at the write, carried in the progress's updatedAt) to
// the event's arrival at each client, p50 / p99 / max, and how many writes each stream saw as an event of its own.

import { openJobEvents, type JobStreamEvent } from '../client/job-event-stream';
import { createJobActivities } from '../activities/jobs/jobs';
import type { JobProgress } from '../common/progress';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { mintToken } from '../client/cli/cli-token';
import { log, startBenchEnvironment } from './support/environment';
import { spawnApiProcess, type ApiProcess } from './support/processes';
import { aim, numberArg, percentile, round, runBench, sleep, writeResult } from './support/report';

async function main(): Promise<void> {
  const streams = numberArg('streams', 500);
  const writes = numberArg('writes', 60);
  const intervalMs = numberArg('interval-ms', 250);
  const apis = numberArg('apis', 1);
  const env = await startBenchEnvironment('job-events', { faults: { latencyMs: 1_000, latencyJitterMs: 0 } });
  const servers: ApiProcess[] = [];
  try {
    for (let i = 0; i < apis; i++) servers.push(await spawnApiProcess(env.config));
    // A real job whose workflow runs in Temporal, with no worker: nothing but this bench writes its row, and status
    // answers from the stored snapshot (no worker answers a progress query), as it does for any job between queries.
    const { jobId } = await env.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: 'bench',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: ['credit_score'],
    });
    const token = (await mintToken(env.config, { subject: 'bench', roles: [] })).token;

    log(`opening ${streams} event streams on job ${jobId} across ${apis} API process(es)`);
    const delays: number[] = [];
    const seenPerStream: number[] = [];
    let finals = 0;
    let firstEvents = 0;
    let endedEarly = 0;
    /** Per write (by its timestamp): when its event reached the first stream and the last. */
    const perWrite = new Map<number, { first: number; last: number }>();
    // Opened together; each reader's loop is kept as a promise of its own (returned bare, the async function would
    // wait for the stream to end).
    const readers = await Promise.all(
      Array.from({ length: streams }, async (_, i) => {
        const events = await openJobEvents(servers[i % apis]!.url, jobId, token);
        return {
          done: (async () => {
            let seen = 0;
            for await (const event of events as AsyncIterable<JobStreamEvent>) {
              const arrived = Date.now();
              if (seen === 0 && firstEvents++ === 0) log('first event arrived');
              const written = Date.parse(event.status.updated_at);
              // The first event is the state at opening, not a write the bench timed.
              if (event.status.message?.startsWith('bench write')) {
                delays.push(arrived - written);
                const spread = perWrite.get(written) ?? { first: Infinity, last: 0 };
                perWrite.set(written, { first: Math.min(spread.first, arrived), last: Math.max(spread.last, arrived) });
                seen++;
              }
              if (event.event === 'final') finals++;
              if (event.event === 'final') return void seenPerStream.push(seen);
            }
            seenPerStream.push(seen);
            if (endedEarly++ === 0) log('a stream ended before the final event');
          })(),
        };
      }),
    );
    await sleep(1_000);

    const writer = createJobActivities(env.db);
    log(`${writes} writes of the job row, ${intervalMs} ms apart`);
    for (let i = 1; i <= writes; i++) {
      const last = i === writes;
      const writtenAt = new Date();
      const progress: JobProgress = {
        jobId,
        jobType: 'data_profiling_llm_generation',
        status: last ? 'completed' : 'running',
        progressPercentage: Math.round((i / writes) * 100),
        completedSteps: i,
        totalSteps: writes,
        failedSteps: 0,
        inFlight: last ? 0 : 1,
        currentStep: 'Benchmark',
        message: `bench write ${i}`,
        startedAt: null,
        updatedAt: writtenAt.toISOString(),
        etaSeconds: null,
        priority: 3,
        revision: 1_000 + i,
      };
      await writer.recordJobState({
        jobId,
        status: progress.status,
        progress,
        ...(last ? { result: { bench: true }, error: null } : {}),
      });
      if (!last) await sleep(intervalMs);
    }
    await Promise.all(readers.map((r) => r.done));

    const perStream = [...seenPerStream].sort((a, b) => a - b);
    const firstDelays = [...perWrite].map(([written, { first }]) => first - written);
    const spreads = [...perWrite.values()].map(({ first, last }) => last - first);
    writeResult(
      'job-events',
      { streams, writes, intervalMs, apiProcesses: apis },
      {
        'delay write → event p50 / p99 / max ms': [
          round(percentile(delays, 50), 1),
          round(percentile(delays, 99), 1),
          Math.max(...delays),
        ],
        'events timed': delays.length,
        'per write: to the first stream p50 / p99 ms': [
          round(percentile(firstDelays, 50), 1),
          round(percentile(firstDelays, 99), 1),
        ],
        'per write: first to last stream p50 / p99 ms': [
          round(percentile(spreads, 50), 1),
          round(percentile(spreads, 99), 1),
        ],
        'writes seen per stream min / median / max': [
          perStream[0],
          perStream[Math.floor(perStream.length / 2)],
          perStream.at(-1),
        ],
        'streams that got the final event and closed': finals,
        'streams that ended before it': endedEarly,
      },
      [
        "to the first stream is the pipeline (NOTIFY, the status read, the write to a socket, one parse); first to last stream is the fan-out to every stream and the clients' own parsing, one event loop for all of them.",
        'the delay counts from the timestamp taken just before the row write (recordJobState: UPDATE and NOTIFY in one transaction) to the event parsed at the client, all in this process (one clock); the clients share this process, so their own event loop is in the figure.',
        'each API process holds one LISTEN connection and reads the status once per notification for all its streams (activities/jobs/job-events.ts); writes closer together than one read coalesce into the next, so a stream may see fewer events than writes, never an older one.',
      ],
      [
        aim(
          `events: ${streams} streams on one job, delay write → event p99`,
          round(percentile(delays, 99), 1),
          'max',
          250,
          'ms',
        ),
      ],
    );
  } finally {
    for (const server of servers) await server.stop();
    await env.close();
  }
}

runBench(main);
