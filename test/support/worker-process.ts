// Runs the real worker entry point (workers/main.ts) as a separate OS process, so a test can SIGKILL it
// the way a crashed machine would stop it. `node --import tsx` keeps it one process: killing it kills it all.

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
}

export interface WorkerProcessOptions {
  /** A command the worker runs under, e.g. ['ip', 'netns', 'exec', 'ns1']; it must exec the worker (same pid). */
  wrapper?: string[];
  /** LOG_LEVEL of the worker process; WARN unless given. */
  logLevel?: string;
}

export function spawnWorkerProcess(config: Config, options: WorkerProcessOptions = {}): WorkerProcess {
  const env = Object.fromEntries(Object.entries({ ...process.env, ...config }).filter(([, v]) => v !== undefined).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]));
  const [command, ...args] = [...(options.wrapper ?? []), process.execPath, '--import', 'tsx', path.resolve(__dirname, '../../workers/main.ts')];
  const child = spawn(command!, args, {
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
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready:\n${output}`)));
  });
  ready.catch(() => undefined);
  return {
    process: child,
    ready,
    output: () => output,
    kill: (signal) =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}
