// How long the HTTP API takes to answer while the Temporal server is down (the figures
// test/faults/temporal-outage.test.ts used to bound at 3 s): pause, cancel and start refused with 503, status
// from the snapshot, each timed from the request; then how long after the server is back a control request is
// accepted again. A job of the bench's own holds its LLM call at a stand-in gate throughout.
//   npm run bench:temporal-outage -- [--repeats 3]

import { loadConfig } from '../config';
import { dropDatabase, ensureDatabaseExists, migrateToLatest, openDatabase } from '../db/connection';
import { DEMO_DATA_SOURCE_ID, seedDemoData } from '../db/demo-data';
import { createDevServer } from '../test/faults/support/dev-server';
import { createHarness } from '../test/support/harness';
import { log } from './support/environment';
import { numberArg, percentile, runBench, sleep, writeResult } from './support/report';

const OWNER = 'bench-outage';

async function main(): Promise<void> {
  const repeats = numberArg('repeats', 3);
  const server = await createDevServer();
  const url = new URL(loadConfig(process.env).DATABASE_URL);
  url.pathname = `/synapse_bench_temporal_outage_${Date.now()}`;
  const databaseUrl = url.toString();
  await ensureDatabaseExists(databaseUrl);
  const setupDb = openDatabase(databaseUrl, 2);
  await migrateToLatest(setupDb);
  await seedDemoData(setupDb);
  await setupDb.destroy();
  log('temporal-outage: dev server, fresh database, worker (bundling the workflows), API');
  await server.start();
  const harness = await createHarness({ config: { TEMPORAL_ADDRESS: server.address, DATABASE_URL: databaseUrl } });
  try {
    await harness.startWorker();
    const api = await harness.startApi();
    const timed = async (method: string, path: string, body?: unknown) => {
      const started = performance.now();
      const response = await fetch(`${api.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${await api.tokenFor(OWNER)}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const answer = (await response.json()) as { job_id?: string; status?: string };
      return { status: response.status, body: answer, ms: Math.round(performance.now() - started) };
    };
    const job = (attributeIds: string[]) => ({
      jobType: 'data_profiling_llm_generation',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      llmConcurrency: 1,
    });
    const figures: Record<string, number[]> = {
      'pause 503 ms (first request)': [],
      'cancel 503 ms': [],
      'start 503 ms': [],
      'status from snapshot ms': [],
      'server up -> pause accepted ms': [],
    };

    for (let i = 0; i < repeats; i++) {
      const gate = harness.standin.gate({ itemPattern: 'credit_score' });
      const started = await timed('POST', '/api/v1/jobs', job(['credit_score', 'apr_rate']));
      if (started.status !== 201) throw new Error(`start answered ${started.status}: ${JSON.stringify(started.body)}`);
      const jobId = started.body.job_id as string;
      await gate.waitUntilHeld(1);
      while ((await harness.jobs.job(jobId))?.status !== 'running') await sleep(50);

      await server.kill('SIGKILL');
      for (const [label, method, path, body] of [
        ['pause 503 ms (first request)', 'POST', `/api/v1/jobs/${jobId}/pause`, undefined],
        ['cancel 503 ms', 'POST', `/api/v1/jobs/${jobId}/cancel`, undefined],
        ['start 503 ms', 'POST', '/api/v1/jobs', job(['billing_zip'])],
        ['status from snapshot ms', 'GET', `/api/v1/jobs/${jobId}/status`, undefined],
      ] as const) {
        const answer = await timed(method, path, body);
        const expected = method === 'GET' ? 200 : 503;
        if (answer.status !== expected)
          throw new Error(`${method} ${path} answered ${answer.status} while Temporal was down`);
        figures[label]!.push(answer.ms);
      }

      await server.start();
      const up = performance.now();
      while ((await timed('POST', `/api/v1/jobs/${jobId}/pause`)).status === 503) await sleep(50);
      figures['server up -> pause accepted ms']!.push(Math.round(performance.now() - up));
      while ((await timed('GET', `/api/v1/jobs/${jobId}/status`)).body.status !== 'paused') await sleep(100);
      await timed('POST', `/api/v1/jobs/${jobId}/resume`);
      gate.open();
      while (!['completed', 'failed', 'cancelled'].includes((await harness.jobs.job(jobId))?.status ?? ''))
        await sleep(100);
      log(
        `run ${i + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, v.at(-1)])))}`,
      );
    }
    writeResult(
      'temporal-outage',
      { repeats, temporalRpcTimeoutMs: harness.config.TEMPORAL_RPC_TIMEOUT_MS },
      {
        ...figures,
        'worst 503 or snapshot answer ms': Math.max(
          ...Object.entries(figures)
            .filter(([k]) => !k.startsWith('server up'))
            .flatMap(([, v]) => v),
        ),
        'p50 refused-at-once answers ms': percentile([...figures['cancel 503 ms']!, ...figures['start 503 ms']!], 50),
      },
      [
        'Temporal SIGKILLed while a job runs (its LLM call held at a gate); requests in this order: pause, cancel, start, status',
        'the first request finds Temporal gone (a refused connection, or TEMPORAL_RPC_TIMEOUT_MS); later ones are refused at once while it is known unreachable',
        '"server up -> pause accepted": from the dev server answering on its port until a pause is accepted (the API probes at most once a second)',
      ],
    );
  } finally {
    // A call the API abandoned at its deadline while the server was down (it "settles unobserved") may still be
    // retrying inside the gRPC client; once the connection closes, its next retry throws from a timer. Only that
    // is ignored, and only during teardown.
    process.on('uncaughtException', (error) => {
      if (/Channel has been shut down/.test(error.message))
        return log('teardown: ignored a late gRPC retry on the closed connection');
      console.error(error);
      process.exit(1);
    });
    await harness.close();
    await server.dispose();
    await dropDatabase(databaseUrl).catch((error) => console.error('dropping the bench database:', error));
  }
}

runBench(main);
