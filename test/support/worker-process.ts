// Runs the real worker entry point (workers/main.ts) as a separate OS process, so a test can SIGKILL it
// the way a crashed machine would stop it. `node --import tsx` keeps it one process: killing it kills it all.
// Every process spawned here is remembered until it exits; a suite that spawns calls endAllSpawnedWorkers()
// in afterEach/afterAll, so a test that fails before its own kill never leaves a worker polling behind it.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Config } from '../../config';

export interface WorkerProcess {
  process: ChildProcess;
  /** Resolves once the worker has announced that it is polling its task queue. */
  ready: Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code (null when ended by a signal) and the signal, once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Processes spawned and not yet seen to exit. */
const spawned = new Set<WorkerProcess>();

/**
 * Also listed where the test environment looks for what a file left open once its last afterAll ran (main's
 * test/support/leftovers.ts registry: a Set under this symbol on the file's global), so a worker spawned by a
 * test that timed out, never reaching its afterEach, is still ended. Kept by symbol, not by import, so this file
 * works with or without that registry.
 */
const LEFTOVERS = Symbol.for('synapse.test.leftovers');
function listAsLeftover(what: string, close: () => Promise<void>): () => void {
  const holder = globalThis as unknown as Record<symbol, Set<{ what: string; close: () => Promise<void> }> | undefined>;
  const entry = { what, close };
  (holder[LEFTOVERS] ??= new Set()).add(entry);
  return () => void holder[LEFTOVERS]?.delete(entry);
}

/**
 * SIGKILLs every worker process this test process spawned that is still running, and waits for each to exit.
 * Safe to call any time, any number of times; returns how many it had to end.
 */
export async function endAllSpawnedWorkers(): Promise<number> {
  const running = [...spawned];
  await Promise.all(running.map((worker) => worker.kill('SIGKILL')));
  return running.length;
}

/** How many spawned worker processes are still running (for a check that a suite cleaned up). */
export const spawnedWorkersRunning = () => spawned.size;

export interface WorkerProcessOptions {
  /** A command the worker runs under, e.g. ['ip', 'netns', 'exec', 'ns1']; it must exec the worker (same pid). */
  wrapper?: string[];
  /** LOG_LEVEL of the worker process; WARN unless given. */
  logLevel?: string;
  /** Environment variables set over the rest (e.g. OTEL_* settings); an undefined value removes one. */
  env?: Record<string, string | undefined>;
}

export function spawnWorkerProcess(config: Config, options: WorkerProcessOptions = {}): WorkerProcess {
  const env = Object.fromEntries(
    Object.entries({ ...process.env, ...config })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]),
  );
  for (const [key, value] of Object.entries(options.env ?? {}))
    if (value === undefined) delete env[key];
    else env[key] = value;
  const [command, ...args] = [
    ...(options.wrapper ?? []),
    process.execPath,
    '--import',
    'tsx',
    path.resolve(__dirname, '../../workers/main.ts'),
  ];
  const child = spawn(command, args, {
    cwd: path.resolve(__dirname, '../..'),
    env: { ...env, LOG_LEVEL: options.logLevel ?? 'WARN' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('synapse-jobs worker: task queue')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready:\n${output}`)));
  });
  ready.catch(() => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'error' covers a process that never started (e.g. the wrapper is missing): it will not exit either.
    child.once('error', () => resolve({ code: child.exitCode, signal: child.signalCode }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const worker: WorkerProcess = {
    process: child,
    ready,
    exited,
    output: () => output,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill(signal);
      if (child.pid !== undefined) await exited;
    },
  };
  spawned.add(worker);
  const unlist = listAsLeftover(`worker process ${child.pid ?? '(not started)'}`, () => worker.kill('SIGKILL'));
  void exited.then(() => {
    spawned.delete(worker);
    unlist();
  });
  return worker;
}
