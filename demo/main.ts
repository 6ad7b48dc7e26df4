// `npm run demo`: one real data-profiling job end to end. Starts (or reuses) the Temporal dev server,
// prepares the database, starts the LLM stand-in (unless OPENAI_BASE_URL points at a real endpoint) and a
// worker, runs `data_profiling` over every attribute of the demo table with a live progress bar.

import { Client } from '@temporalio/client';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { JobsClient } from '../client';
import { llmUsageOf } from '../client/llm-usage';
import { ProgressBar } from '../client/cli/progress-bar';
import { FINAL_STATUSES, type JobStatus, type ProfilingJobResult } from '../common/jobs';
import { temporalUiLink } from '../config/temporal-ui';
import { DEMO_DATA_SOURCE_ID, DEMO_TABLE } from '../db/demo-data';
import { loadConfigWithDatabase } from '../db/embedded-postgres';
import { defaultResponders } from '../llm-standin/responders/index';
import { startLlmStandin } from '../llm-standin/server';
import { createJobsWorker } from '../workers/create-worker';
import { connectToTemporal, prepareDatabase } from './services';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<number> {
  const startedAt = Date.now();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  // DATABASE_URL, or with it unset whatever answers on 127.0.0.1:5432, or the embedded PostgreSQL (started if need be).
  const config = await loadConfigWithDatabase();

  const connection = await connectToTemporal(config.TEMPORAL_ADDRESS);
  const { db, inserted } = await prepareDatabase(config.DATABASE_URL);
  console.log(
    `Database ${new URL(config.DATABASE_URL).pathname.slice(1)} ready (${inserted ? `seeded ${inserted} rows` : 'demo data already seeded'})`,
  );

  // A real endpoint is one variable away; by default the local stand-in answers, at a model-like pace.
  const standin = config.OPENAI_BASE_URL
    ? undefined
    : await startLlmStandin({ responders: defaultResponders, faults: { latencyMs: 600, latencyJitterMs: 400 } });
  const workerConfig = { ...config, OPENAI_BASE_URL: config.OPENAI_BASE_URL ?? standin?.url };
  console.log(
    `LLM: ${standin ? `local stand-in at ${standin.url}` : workerConfig.OPENAI_BASE_URL} (model ${config.OPENAI_MODEL})`,
  );

  console.log('Starting a worker (bundling workflow code takes a few seconds)…');
  const { worker, close } = await createJobsWorker(workerConfig);
  const running = worker.run();

  const jobs = new JobsClient(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), db, config);
  const { jobId } = await jobs.startJob({
    jobType: 'data_profiling',
    owner: 'demo',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    llmConcurrency: 16,
    useLlmCache: false,
    metadata: { cycle_id: 1, report_id: 1 },
  });
  console.log(`\nJob ${jobId} (data_profiling of every attribute of ${DEMO_TABLE})`);
  console.log(`Web UI: ${temporalUiLink(config, jobId)}\n`);

  const bar = new ProgressBar();
  for (;;) {
    const progress = await jobs.progress(jobId);
    if (progress) bar.update(progress);
    if (progress && FINAL_STATUSES.includes(progress.status)) break;
    await sleep(300);
  }
  bar.done();

  const job = await jobs.job(jobId);
  // A data_profiling job's row: its result is its workflow's ProfilingJobResult.
  const result = (job?.result ?? null) as ProfilingJobResult | null;
  const usage = await llmUsageOf(db, jobId, config.LLM_PRICES);
  const worstRules = await db
    .selectFrom('rule_results as rr')
    .innerJoin('profiling_rules as pr', (join) =>
      join
        .onRef('pr.job_id', '=', 'rr.rules_job_id')
        .onRef('pr.attribute', '=', 'rr.attribute')
        .onRef('pr.rule_index', '=', 'rr.rule_index'),
    )
    .select(['rr.attribute', 'pr.rule', 'rr.failed_rows', 'rr.pass_rate'])
    .where('rr.job_id', '=', jobId)
    .where('rr.failed_rows', '>', 0)
    .orderBy('rr.failed_rows', 'desc')
    .limit(8)
    .execute();
  worker.shutdown();
  await running;
  await close();
  await db.destroy();
  await standin?.close();
  await connection.close();

  printSummary(job?.status as JobStatus, result, job?.error ?? null, (Date.now() - startedAt) / 1000);
  const cost = usage.costUsd === null ? '' : ` ≈ $${usage.costUsd.toFixed(4)} at ${config.OPENAI_MODEL} prices`;
  console.log(
    `  LLM usage            ${usage.calls} calls, ${usage.promptTokens.toLocaleString('en')} prompt + ${usage.completionTokens.toLocaleString('en')} completion tokens${cost}`,
  );
  if (worstRules.length) {
    console.log('\n  rules with the most failing rows:');
    for (const r of worstRules)
      console.log(
        `    ${`${r.attribute}: ${JSON.stringify(r.rule)}`.padEnd(72)} ${String(r.failed_rows).padStart(5)} rows  pass ${((r.pass_rate ?? 0) * 100).toFixed(2)} %`,
      );
  }
  return job?.status === 'completed' ? 0 : 1;
}

function printSummary(
  status: JobStatus,
  result: ProfilingJobResult | null,
  error: string | null,
  seconds: number,
): void {
  console.log(`\nJob ${status} in ${seconds.toFixed(1)} s (whole demo)`);
  if (result) {
    const passRate = result.overallPassRate === null ? 'n/a' : `${(result.overallPassRate * 100).toFixed(2)} %`;
    console.log(
      `  attributes profiled  ${result.attributesProfiled} of ${result.attributesTotal} (${result.attributesFailed} failed)`,
    );
    console.log(`  rules generated      ${result.rulesGenerated}`);
    console.log(
      `  rules executed       ${result.rulesExecuted} of ${result.rulesTotal} over ${result.rowsChecked.toLocaleString('en')} row checks`,
    );
    console.log(`  overall pass rate    ${passRate} (over ${result.passRateScope})`);
  }
  if (error) console.log(`  error                ${error}`);
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
