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

/**
 * A figure held to an aim (issue 13's list): `bench:all` gathers every result file's aims into one table, and the
 * docs' benchmark page carries the same table. `value` is the figure as measured, `aim` how it is judged.
 */
export interface Aim {
  /** What is measured, as a reader would name it ("efficiency: wall / N·L/C"). */
  figure: string;
  value: number;
  /** The figure must be at most (`max`) or at least (`min`) `limit`. */
  limit: number;
  direction: 'max' | 'min';
  unit?: string;
}

/** `value` measured against `limit`: at most when `direction` is max, at least when min. */
export function aim(figure: string, value: number, direction: Aim['direction'], limit: number, unit?: string): Aim {
  return { figure, value, direction, limit, ...(unit ? { unit } : {}) };
}

export const aimMet = (a: Aim): boolean => (a.direction === 'max' ? a.value <= a.limit : a.value >= a.limit);

export function writeResult(
  name: string,
  parameters: Record<string, unknown>,
  figures: Record<string, unknown>,
  notes: string[] = [],
  aims: Aim[] = [],
): string {
  const dir = path.resolve(__dirname, '../results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ benchmark: name, parameters, figures, aims, notes, machine: machineNote() }, null, 2)}\n`,
  );
  console.log(`\n${name}: figures`);
  for (const [key, value] of Object.entries(figures))
    console.log(
      `  ${key.padEnd(40)} ${typeof value === 'string' || typeof value === 'number' ? value : JSON.stringify(value)}`,
    );
  for (const note of notes) console.log(`  note: ${note}`);
  for (const a of aims)
    console.log(
      `  aim: ${a.figure} = ${a.value}${a.unit ?? ''} (${a.direction === 'max' ? '≤' : '≥'} ${a.limit}${a.unit ?? ''}): ${aimMet(a) ? 'met' : 'MISSED'}`,
    );
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
