// Cancel latency during a rule scan: a rule-execution job reads a data source through a view that sleeps per
// row (a scan of `--scan-seconds`), is cancelled a few seconds into its scan, and we time how long until the
// scan's statement is gone from pg_stat_activity and until the job row says `cancelled`.
// `--label before` names the result file cancel-latency-before.json (to keep a figure of older code beside).

import { sql } from 'kysely';
import { DEMO_DATA_SOURCE_ID, DEMO_TABLE } from '../db/demo-data';
import { log, startBenchEnvironment } from './support/environment';
import { runJob } from './support/jobs';
import { numberArg, round, runBench, sleep, writeResult } from './support/report';

const SOURCE = 'bench_slow_scan';
const COPY = 'bench_slow_scan_rows';
const ATTRIBUTES = ['credit_score', 'account_status', 'apr_rate'];

async function main(): Promise<void> {
  const rows = numberArg('rows', 2_000);
  const scanSeconds = numberArg('scan-seconds', 60);
  const intoScanMs = numberArg('into-scan-ms', 3_000);
  const repeats = numberArg('repeats', 3);
  const labelIndex = process.argv.indexOf('--label');
  const label = labelIndex >= 0 ? process.argv[labelIndex + 1] : undefined;
  const env = await startBenchEnvironment('cancel-latency', { faults: { latencyMs: 0 } });
  try {
    const db = env.db;
    await sql`create table ${sql.table(COPY)} as select * from ${sql.table(DEMO_TABLE)} where row_id <= ${rows}`.execute(
      db,
    );
    await sql`create table bench_scan_delay (delay_s float8 not null)`.execute(db);
    await sql`insert into bench_scan_delay values (0)`.execute(db);
    await sql`create view ${sql.table(SOURCE)} as select * from ${sql.table(COPY)} where pg_sleep((select delay_s from bench_scan_delay)) is not null`.execute(
      db,
    );
    await db
      .insertInto('data_sources')
      .values({ id: SOURCE, table_name: SOURCE, description: 'the demo rows, read slowly', record_id_column: 'row_id' })
      .execute();
    await sql`insert into data_source_attributes (data_source_id, name, data_type, description, position)
      select ${SOURCE}, name, data_type, description, position from data_source_attributes where data_source_id = ${DEMO_DATA_SOURCE_ID}`.execute(
      db,
    );
    await env.startWorker();
    const rules = await runJob(env.jobs, {
      jobType: 'data_profiling_llm_generation',
      dataSourceId: SOURCE,
      attributeIds: ATTRIBUTES,
    });
    await sql`update bench_scan_delay set delay_s = ${scanSeconds / rows}`.execute(db);

    const scanRunning = async () =>
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from pg_stat_activity where state = 'active' and pid <> pg_backend_pid() and query like ${`%${SOURCE}%`}`.execute(
          db,
        )
      ).rows[0]!.n > 0;
    const scanGone: number[] = [];
    const jobCancelled: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const { jobId } = await env.jobs.startJob({
        jobType: 'data_profiling_rule_execution',
        owner: 'bench',
        dataSourceId: SOURCE,
        rulesFromJobId: rules.jobId,
        attributeIds: ATTRIBUTES,
      });
      while (!(await scanRunning())) await sleep(50);
      await sleep(intoScanMs);
      log(`run ${i + 1}: cancelling ${intoScanMs} ms into the scan`);
      const cancelledAt = performance.now();
      await env.jobs.cancel({ subject: 'bench', admin: false }, jobId);
      let gone: number | undefined;
      for (;;) {
        const elapsed = (performance.now() - cancelledAt) / 1_000;
        if (gone === undefined && !(await scanRunning())) gone = elapsed;
        if ((await env.jobs.job(jobId))?.status === 'cancelled') {
          jobCancelled.push(elapsed);
          break;
        }
        await sleep(20);
      }
      scanGone.push(gone ?? jobCancelled.at(-1)!);
      // The next run starts with no scan of this one left behind.
      while (await scanRunning()) await sleep(50);
    }

    writeResult(
      label ? `cancel-latency-${label}` : 'cancel-latency',
      { rows, scanSeconds, intoScanMs, repeats },
      {
        'scan statement gone after cancel s (each run)': scanGone.map((s) => round(s, 2)),
        'job row cancelled after cancel s (each run)': jobCancelled.map((s) => round(s, 2)),
        'longest, job row cancelled s': round(Math.max(...jobCancelled), 2),
      },
      [
        `A ${scanSeconds} s scan (pg_sleep per row in a view), cancelled ${intoScanMs} ms in: without a cancel reaching SQL the job waits out the rest of it.`,
        'Timed from JobsClient.cancel returning, polling every 20 ms.',
      ],
    );
  } finally {
    await env.close();
  }
}

runBench(main);
