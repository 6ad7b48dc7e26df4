// A Temporal dev server of the test's own, on its own port with a SQLite file, that can be killed and
// started again on the same file: what a restart of the server (or its host) looks like to a running job.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SearchAttributeType } from '@temporalio/common';
import { ALL_SEARCH_ATTRIBUTES } from '../../../common/search-attributes';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../../../config/dev-server';
import { temporalCliPath } from '../../support/temporal-cli';
import { sleep } from '../../support/waiting';
import { freePort } from '../../support/ports';

// Same dynamic config and search attributes as test/global-setup.ts and temporal-dev.sh.
const CLI_TYPE: Partial<Record<string, string>> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
};
const SEARCH_ATTRIBUTES = ALL_SEARCH_ATTRIBUTES.map((key) => `${key.name}=${CLI_TYPE[key.type]}`);

export interface RestartableDevServer {
  address: string;
  start(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  dispose(): Promise<void>;
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
    socket.on('error', () => resolve(false));
  });
}

export async function createDevServer(): Promise<RestartableDevServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'synapse-faults-temporal-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const args = [
    'server',
    'start-dev',
    '--headless',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--db-filename',
    path.join(dir, 'temporal.sqlite'),
    '--log-level',
    'error',
  ];
  for (const value of DEV_SERVER_DYNAMIC_CONFIG) args.push('--dynamic-config-value', value);
  for (const attribute of SEARCH_ATTRIBUTES) args.push('--search-attribute', attribute);
  const kill = async (signal: NodeJS.Signals) => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise((resolve) => {
      running.once('exit', resolve);
      running.kill(signal);
    });
  };
  return {
    address: `127.0.0.1:${port}`,
    async start() {
      child = spawn(temporalCliPath(), args, { stdio: 'ignore' });
      const deadline = Date.now() + 60_000;
      while (!(await answers(port))) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`dev server on port ${port} did not start`);
        await sleep(200);
      }
      // The port opens before the namespace is served; give the frontend a moment.
      await sleep(1_000);
    },
    kill,
    async dispose() {
      await kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
