// `npm run bench:all`: every benchmark in sequence, each in its own process (each starts and stops its own dev
// server and database); goes on after a failure. Then one table of every figure held to an aim (the `aims` each
// benchmark wrote into bench/results/<name>.json), met or missed, printed and written to bench/results/aims.md,
// which docs/benchmarks.md carries. `--only efficiency,overhead` runs some; `--table` only prints the table from the
// results already there.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { aimMet, type Aim } from './support/report';

/** In the order they run; the fleet budget's two windows last, as they take longest. */
const BENCHES: { name: string; script: string; args?: string[] }[] = [
  { name: 'efficiency', script: 'efficiency.ts' },
  { name: 'overhead', script: 'overhead.ts' },
  { name: 'legacy', script: 'legacy.ts' },
  { name: 'status-api', script: 'status-api.ts' },
  { name: 'job-events', script: 'job-events.ts' },
  { name: 'scale', script: 'scale.ts' },
  { name: 'rule-execution', script: 'rule-execution.ts' },
  { name: 'recovery', script: 'recovery.ts' },
  { name: 'llm-budget', script: 'llm-budget.ts' },
];

const RESULTS = path.resolve(__dirname, 'results');

interface ResultFile {
  benchmark: string;
  aims?: Aim[];
  machine?: { date?: string; cpus?: number; node?: string; loadAverageAtEnd?: number[] };
}

function main(): void {
  const onlyIndex = process.argv.indexOf('--only');
  const only = onlyIndex >= 0 ? new Set(process.argv[onlyIndex + 1]?.split(',')) : undefined;
  const tableOnly = process.argv.includes('--table');
  const startedAt = new Date();
  const failed: string[] = [];
  if (!tableOnly) {
    for (const bench of BENCHES.filter((b) => !only || only.has(b.name))) {
      console.log(`\n=== bench:${bench.name} ===`);
      const run = spawnSync(
        process.execPath,
        ['--import', 'tsx', path.resolve(__dirname, bench.script), ...(bench.args ?? [])],
        { stdio: 'inherit', cwd: path.resolve(__dirname, '..') },
      );
      if (run.status !== 0) failed.push(bench.name);
    }
  }
  const table = aimsTable(tableOnly ? undefined : startedAt);
  console.log(`\n${table}`);
  writeFileSync(path.join(RESULTS, 'aims.md'), `${table}\n`);
  console.log(failed.length ? `\nfailed: ${failed.join(', ')}` : '\nfigures in bench/results/; the table in aims.md');
  process.exit(failed.length ? 1 : 0);
}

/** Every aim in the results files, as a Markdown table; a result older than `since` is marked as not from this run. */
export function aimsTable(since?: Date): string {
  const rows: string[] = [];
  let met = 0;
  let total = 0;
  for (const file of readdirSync(RESULTS)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const result = JSON.parse(readFileSync(path.join(RESULTS, file), 'utf8')) as ResultFile;
    for (const a of result.aims ?? []) {
      total++;
      if (aimMet(a)) met++;
      const date = result.machine?.date?.slice(0, 16).replace('T', ' ') ?? '?';
      const stale = since && result.machine?.date && new Date(result.machine.date) < since ? ' (earlier run)' : '';
      const load = result.machine?.loadAverageAtEnd?.[0];
      rows.push(
        `| ${a.figure} | ${a.value}${a.unit ?? ''} | ${a.direction === 'max' ? '≤' : '≥'} ${a.limit}${a.unit ?? ''} | ${aimMet(a) ? 'met' : '**missed**'} | \`${result.benchmark}\`, ${date} UTC, load ${load ?? '?'}${stale} |`,
      );
    }
  }
  return [
    `Aims: ${met} of ${total} met (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown'}, Node ${process.version}).`,
    '',
    '| figure | measured | aim | | from |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

if (require.main === module) main();
