// The API and the LLM stand-in as processes of their own (client/http/main.ts, llm-standin/main.ts), so a load
// generator and what it measures do not share an event loop; and a process's peak resident memory from /proc.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config';
import type { CallRecord, StandinStats } from '../../llm-standin/server';

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
  const { child, url } = await spawnListening('API', 'client/http/main.ts', [], env, /API on (http:\/\/[^\s]+)/);
  return { url, stop: () => stopProcess(child) };
}

/**
 * `node --import tsx <script>` from the repository's root, once it has printed the address it listens on (the first
 * group of `listening`). Until then its output is kept (for the error if it exits first); after that it is read and
 * dropped: kept and searched whole, the API's log line per request grew by megabytes and cost the load generator, in
 * this same process, more time with every chunk.
 */
async function spawnListening(
  name: string,
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  listening: RegExp,
): Promise<{ child: ChildProcess; url: string }> {
  const root = path.resolve(__dirname, '../..');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, script), ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const keep = (chunk: Buffer) => (output += chunk.toString());
    child.stdout.on('data', (chunk: Buffer) => {
      keep(chunk);
      const match = listening.exec(output);
      if (!match) return;
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      child.stderr.removeAllListeners('data');
      child.stderr.resume();
      resolve(match[1]!);
    });
    child.stderr.on('data', keep);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening:\n${output}`)));
  });
  return { child, url };
}

/**
 * The LLM stand-in as its own process (`node --import tsx llm-standin/main.ts`), answering every call in `latencyMs`:
 * a provider is never in the worker's process, and one sharing the worker's event loop makes each answer and each next
 * call wait on the worker's own work, and the worker's work wait on the stand-in's. Its call log is read over HTTP.
 */
export interface StandinProcess {
  /** Base URL for the openai client (OPENAI_BASE_URL). */
  url: string;
  reset(): Promise<void>;
  calls(): Promise<CallRecord[]>;
  stop(): Promise<void>;
}

export async function spawnStandinProcess(latencyMs: number): Promise<StandinProcess> {
  const { child, url } = await spawnListening(
    'LLM stand-in',
    'llm-standin/main.ts',
    ['--latency-ms', String(latencyMs)],
    process.env,
    /listening on (http:\/\/[^\s]+)/,
  );
  const control = new URL('/_standin/', url);
  const send = async (endpoint: string, method: string) => {
    const response = await fetch(new URL(endpoint, control), { method });
    if (!response.ok) throw new Error(`LLM stand-in: ${method} ${endpoint} answered ${response.status}`);
    return response;
  };
  return {
    url,
    reset: async () => void (await send('reset', 'POST')),
    calls: async () => ((await (await send('stats', 'GET')).json()) as StandinStats).calls,
    stop: () => stopProcess(child),
  };
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
