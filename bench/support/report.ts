// Parameters from the command line or environment, figures printed and written to bench/results/<name>.json
// with a note on the machine they came from. Benchmarks print figures; they never assert times.

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** `--n 100` on the command line, else BENCH_N in the environment, else the fallback. */
export function numberArg(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const raw = index >= 0 ? process.argv[index + 1] : process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`--${name} expects a number, got ${raw}`);
  return value;
}

export function flagArg(name: string): boolean {
  return process.argv.includes(`--${name}`) || process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] === 'true';
}

export function machineNote() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
    loadAverageAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function writeResult(
  name: string,
  parameters: Record<string, unknown>,
  figures: Record<string, unknown>,
  notes: string[] = [],
): string {
  const dir = path.resolve(__dirname, '../results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ benchmark: name, parameters, figures, notes, machine: machineNote() }, null, 2)}\n`,
  );
  console.log(`\n${name}: figures`);
  for (const [key, value] of Object.entries(figures))
    console.log(
      `  ${key.padEnd(40)} ${typeof value === 'string' || typeof value === 'number' ? value : JSON.stringify(value)}`,
    );
  for (const note of notes) console.log(`  note: ${note}`);
  console.log(`written to ${path.relative(process.cwd(), file)}`);
  return file;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a bench's main, exits non-zero when it threw (after its own cleanup). */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
