// How a job started through the Temporal client itself (by workflow type name, the start request as its argument,
// as the stock CLI or the Python SDK start it) fares: the time from a bad start (snake_case keys, a missing field,
// no argument, an unknown attribute) to its failed workflow, and the time from a good start to the job row the
// admission writes, next to JobsClient.startJob's own answer (which returns once the row is written and the
// workflow started).

import { randomUUID } from 'node:crypto';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { log, startBenchEnvironment } from './support/environment';
import { numberArg, percentile, round, runBench, sleep, writeResult } from './support/report';

const OWNER = 'bench-direct';
const request = { owner: OWNER, dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: ['credit_score'] };
const BAD: Record<string, unknown[]> = {
  'snake_case keys': [{ owner: OWNER, data_source_id: DEMO_DATA_SOURCE_ID }],
  'a missing field': [{ owner: OWNER }],
  'no argument': [],
  'an unknown attribute': [{ ...request, attributeIds: ['credit_scor'] }],
};

async function main(): Promise<void> {
  const repeats = numberArg('repeats', 10);
  const env = await startBenchEnvironment('direct-start', { faults: { latencyMs: 50 } });
  try {
    await env.startWorker();
    const start = (args: unknown[]) =>
      env.temporal.workflow.start('dataProfilingLlmGeneration', {
        taskQueue: env.config.TEMPORAL_TASK_QUEUE,
        workflowId: `bench-direct-${randomUUID()}`,
        args,
      });

    const failedAfter: Record<string, number[]> = {};
    for (const [what, args] of Object.entries(BAD)) {
      failedAfter[what] = [];
      for (let i = 0; i < repeats; i++) {
        const startedAt = Date.now();
        const handle = await start(args);
        await handle.result().catch(() => undefined);
        failedAfter[what].push(Date.now() - startedAt);
      }
      log(`${what}: failed after ${failedAfter[what].join(', ')} ms`);
    }

    const rowAfter: number[] = [];
    const clientAnswer: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const startedAt = Date.now();
      const handle = await start([request]);
      while (!(await env.jobs.job(handle.workflowId))) await sleep(5);
      rowAfter.push(Date.now() - startedAt);
      await handle.result();

      const clientAt = Date.now();
      const { jobId } = await env.jobs.startJob({ jobType: 'data_profiling_llm_generation', ...request });
      clientAnswer.push(Date.now() - clientAt);
      await env.jobs.waitForJob(jobId);
    }
    const all = Object.values(failedAfter).flat();
    writeResult(
      'direct-start',
      { repeats },
      {
        'bad direct start to failed workflow, median ms': percentile(all, 50),
        'bad direct start to failed workflow, max ms': Math.max(...all),
        ...Object.fromEntries(Object.entries(failedAfter).map(([what, ms]) => [`${what}: failed after ms`, ms])),
        'good direct start to its job row, median ms': percentile(rowAfter, 50),
        'JobsClient.startJob answer (row written, workflow started), median ms': percentile(clientAnswer, 50),
        'direct start row / JobsClient answer (median)': round(
          percentile(rowAfter, 50) / percentile(clientAnswer, 50),
          2,
        ),
      },
      [
        'Timed from the start call to handle.result() rejecting (bad starts), or to the job row being readable, polled every 5 ms.',
        'A bad start fails in the admission (a local activity), non-retryably, on its first attempt: no activity task, no retry.',
      ],
    );
  } finally {
    await env.close();
  }
}

runBench(main);
