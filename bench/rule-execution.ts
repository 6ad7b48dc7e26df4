// Benchmark 6, rule execution: every rule of every attribute over a table of a million rows (the demo
// rows 100 times), timed end to end and against one `select count(*)` scan of the same table.

import { sql } from 'kysely';
import { DEMO_DATA_SOURCE_ID, DEMO_ROW_COUNT } from '../db/demo-data';
import { createTallDataSource } from './support/data-sources';
import { log, startBenchEnvironment } from './support/environment';
import { activitySpans, runHistories } from './support/histories';
import { runJob } from './support/jobs';
import { numberArg, round, runBench, writeResult } from './support/report';

const SOURCE = 'bench_tall';

async function main(): Promise<void> {
  const copies = numberArg('copies', 100);
  const ruleBatchSize = numberArg('rule-batch-size', 200);
  const statementTimeoutMs = numberArg('statement-timeout-ms', 900_000);
  const env = await startBenchEnvironment('rule-execution', {
    faults: { latencyMs: 0 },
    config: { RULE_STATEMENT_TIMEOUT_MS: statementTimeoutMs },
  });
  try {
    log(`building ${SOURCE}: the ${DEMO_ROW_COUNT} demo rows × ${copies}`);
    const buildStarted = performance.now();
    const rows = await createTallDataSource(env.db, SOURCE, copies);
    const buildSeconds = (performance.now() - buildStarted) / 1_000;
    const worker = await env.startWorker();
    log('generating rules once on the demo table (same column names; not measured)');
    const rules = await runJob(env.jobs, {
      jobType: 'data_profiling_llm_generation',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      llmConcurrency: 50,
      useLlmCache: false,
    });
    const ruleCount = await env.db
      .selectFrom('profiling_rules')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('job_id', '=', rules.jobId)
      .executeTakeFirstOrThrow();

    const countSeconds = await timeCountScan(env.db);
    log(`data_profiling_rule_execution of ${ruleCount.n} rules over ${rows} rows, batches of ${ruleBatchSize}`);
    const run = await runJob(env.jobs, {
      jobType: 'data_profiling_rule_execution',
      dataSourceId: SOURCE,
      rulesFromJobId: rules.jobId,
      ruleBatchSize,
    });
    const scans = (await runHistories(env.temporal, run.jobId))
      .flatMap((r) => activitySpans(r.history))
      .filter((s) => s.activityType === 'executeRules');
    const scanSeconds = scans.map((s) => (s.completedMs - s.startedMs) / 1_000);
    const countAfter = await timeCountScan(env.db);
    const rowReadSeconds = await timeScan(env.db, sql`select sum(length(t::text)) from ${sql.table(SOURCE)} as t`);
    await worker.stop();

    writeResult(
      'rule-execution',
      { rows, copies, ruleBatchSize, statementTimeoutMs },
      {
        'rules executed': ruleCount.n,
        attributes: 110,
        'scans (executeRules batches)': scans.length,
        'select count(*) s (before, after)': [round(countSeconds, 2), round(countAfter, 2)],
        'rule execution job wall s': round(run.seconds, 2),
        'ratio wall / count(*)': round(run.seconds / Math.min(countSeconds, countAfter), 2),
        'scan activity s (each batch)': scanSeconds.map((s) => round(s, 2)),
        'ratio longest scan / count(*)': round(Math.max(...scanSeconds) / Math.min(countSeconds, countAfter), 2),
        'whole-row read scan s (every column, no rules)': round(rowReadSeconds, 2),
        'ratio wall / whole-row scan': round(run.seconds / rowReadSeconds, 2),
        'table build s (not measured)': round(buildSeconds, 1),
      },
      [
        'wall = JobsClient.startJob until the workflow result; two batches scan at once (workflows/profiling/profiling.ts) on a 2-core machine.',
        `RULE_STATEMENT_TIMEOUT_MS set to ${statementTimeoutMs} for the bench so a slow batch is measured rather than aborted (default 120 000).`,
        'count(*) reads no column values; the whole-row scan reads and formats every column: the rule cost sits between what these two show.',
      ],
    );
  } finally {
    await env.close();
  }
}

type Db = Parameters<typeof createTallDataSource>[0];

const timeCountScan = (db: Db) => timeScan(db, sql`select count(*) from ${sql.table(SOURCE)}`);

async function timeScan(db: Db, query: ReturnType<typeof sql>): Promise<number> {
  const started = performance.now();
  await query.execute(db);
  return (performance.now() - started) / 1_000;
}

runBench(main);
