// The API as its own process (`node --import tsx client/http/main.ts`), so the load generator and the
// server it measures do not share an event loop; and a process's peak resident memory from /proc.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config';

export interface ApiProcess {
  url: string;
  stop(): Promise<void>;
}

export async function spawnApiProcess(config: Config): Promise<ApiProcess> {
  const env = Object.fromEntries(
    Object.entries({ ...process.env, ...config, API_PORT: 0 })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../../client/http/main.ts')], {
    cwd: path.resolve(__dirname, '../..'),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    // Until the API says where it listens, its output is kept (for the error if it exits first); after that, its
    // output (a log line per request) is read and dropped: kept and searched whole, it grew by megabytes and cost
    // the load generator, in this same process, more time with every chunk.
    const keep = (chunk: Buffer) => (output += chunk.toString());
    child.stdout.on('data', (chunk: Buffer) => {
      keep(chunk);
      const match = /API on (http:\/\/[^\s]+)/.exec(output);
      if (!match) return;
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      child.stderr.removeAllListeners('data');
      child.stderr.resume();
      resolve(match[1]!);
    });
    child.stderr.on('data', keep);
    child.once('exit', (code) => reject(new Error(`API exited (${code}) before listening:\n${output}`)));
  });
  return { url, stop: () => stopProcess(child) };
}

function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Peak resident set size (VmHWM) of a live process, in MB; undefined once it is gone or off Linux. */
export function peakRssMb(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
