// Turning tracing on must not break running jobs: every recorded history (test/histories/, all started untraced)
// replays against a bundle with the tracing workflow interceptors, which add headers and spans, never commands (the
// SDK's flags keep the interceptors' old extra yields off for histories of this SDK version).

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { TRACING_WORKFLOW_MODULES } from '../../config/tracing';
import { HISTORY_DIR } from '../support/histories';

const ignore = () => undefined;
const quietLogger = { trace: ignore, debug: ignore, info: ignore, warn: ignore, error: console.error, log: ignore };

beforeAll(() => {
  // The replay worker's state changes, at INFO, say nothing here; errors still show.
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed by an earlier suite in this process.
  }
});

it('replays every recorded history, all started untraced, with the tracing interceptors in the bundle', async () => {
  const files = readdirSync(HISTORY_DIR).filter((f) => f.endsWith('.json'));
  expect(files.length).toBeGreaterThan(0);
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    workflowInterceptorModules: [...TRACING_WORKFLOW_MODULES],
    logger: quietLogger,
  });
  expect(code).toContain('OpenTelemetryInboundInterceptor');
  const histories = files.map((file) => ({
    workflowId: file,
    history: historyFromJSON(JSON.parse(readFileSync(path.join(HISTORY_DIR, file), 'utf8'))),
  }));
  const results = [];
  // The workflow span sink as a worker that traces has it (spans are not exported during replay).
  const sinks = { exporter: { export: { fn: ignore } } };
  for await (const result of Worker.runReplayHistories({ workflowBundle: { code }, sinks }, histories))
    results.push(result);
  expect(results.map((r) => ({ workflowId: r.workflowId, error: r.error }))).toEqual(
    files.map((workflowId) => ({ workflowId, error: undefined })),
  );
  // A webpack bundle (tens of seconds) and 24 replays, on a machine busy with other suites.
}, 300_000);
