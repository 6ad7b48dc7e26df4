// The Python caller (examples/python) tested against the same dev server, worker and API as every other suite: this
// file opens the harness, makes sure .venv-python exists (scripts/python-venv.sh), and runs the pytest suite in
// examples/python/tests with where everything is in its environment. pytest's failures fail this test, printed whole;
// its counts land in .tmp/pytest-results.xml, which .ci/run adds to Jest's.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, TEST_JWT_SECRET, type Harness, type RunningApi } from '../support/harness';

const root = path.resolve(__dirname, '../..');
/** Building the venv from the pinned wheels takes about 15 s; from a slow index a few minutes. */
const VENV_BOUND_MS = 300_000;
/** The suite takes about 30 s on two cores (its ten job types run at once); 4 minutes is a hang, not a slow run. */
const PYTEST_BOUND_MS = 240_000;

let harness: Harness;
let api: RunningApi;
beforeAll(async () => {
  harness = await createHarness();
  await harness.startWorker();
  api = await harness.startApi();
  const venv = spawnSync(path.join(root, 'scripts/python-venv.sh'), { encoding: 'utf8', timeout: VENV_BOUND_MS });
  if (venv.status !== 0)
    throw new Error(`scripts/python-venv.sh failed (${venv.status ?? venv.signal}):\n${venv.stdout}\n${venv.stderr}`);
}, VENV_BOUND_MS + 60_000);
afterAll(() => harness.close());

/** Runs pytest to the end (asynchronously: the worker and API in this process must keep serving it). */
function pytest(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  mkdirSync(path.join(root, '.tmp'), { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(root, '.venv-python/bin/python'),
      [
        '-m',
        'pytest',
        'examples/python/tests',
        '-q',
        '--junitxml',
        '.tmp/pytest-results.xml',
        '-p',
        'no:cacheprovider',
      ],
      { cwd: root, env: { ...process.env, ...env } },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), PYTEST_BOUND_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test(
  'the Python caller starts every job type by workflow type, controls jobs and reads them through the API (pytest)',
  async () => {
    const { code, output } = await pytest({
      TEMPORAL_ADDRESS: harness.config.TEMPORAL_ADDRESS,
      TEMPORAL_NAMESPACE: harness.config.TEMPORAL_NAMESPACE,
      SYNAPSE_TASK_QUEUE: harness.config.TEMPORAL_TASK_QUEUE,
      SYNAPSE_API_URL: api.url,
      JWT_SECRET: TEST_JWT_SECRET,
      DEMO_DATA_SOURCE_ID,
    });
    if (code !== 0) throw new Error(`pytest exited ${code ?? 'killed after its bound'}:\n${output}`);
    expect(output).toMatch(/\d+ passed/);
  },
  PYTEST_BOUND_MS + 30_000,
);
