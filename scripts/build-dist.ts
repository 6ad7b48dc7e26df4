// `npm run build`: the production build. Compiles the runtime folders to dist/ (tsconfig.build.json), copies the
// files the compiled code reads at run time (samples/documents), and prebuilds the workflow bundle
// (dist/workflow-bundle.js), so `npm run start:*` runs plain node from dist/ and a worker never bundles at start.
// `--out-dir <dir>` builds elsewhere (the build test does, so a developer's dist/ is left alone).

import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode } from '@temporalio/worker';

const ROOT = path.resolve(__dirname, '..');

/** Read at run time relative to the compiled code (client/planning/planning-definition.ts: samples/documents). */
const RUNTIME_ASSETS = ['samples/documents'];

/** The file name a worker from dist/ looks for beside its code (workers/create-worker.ts, prebuiltWorkflowBundle). */
export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'out-dir': { type: 'string' } } });
  const outDir = path.resolve(ROOT, values['out-dir'] ?? 'dist');
  // A stale file from an earlier build (a module since removed) must not ship.
  rmSync(outDir, { recursive: true, force: true });

  const started = Date.now();
  execFileSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', outDir],
    { cwd: ROOT, stdio: 'inherit' },
  );
  for (const asset of RUNTIME_ASSETS)
    cpSync(path.join(ROOT, asset), path.join(outDir, asset), { recursive: true, errorOnExist: false });

  // Bundled from the TypeScript sources (the SDK's webpack reads them), the same code tsc just compiled.
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(ROOT, 'workflows'),
    logger: { trace: quiet, debug: quiet, info: quiet, warn: console.warn, error: console.error, log: quiet },
  });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, WORKFLOW_BUNDLE_FILE), code);
  console.log(
    `built ${path.relative(ROOT, outDir) || outDir} in ${((Date.now() - started) / 1000).toFixed(1)} s (workflow bundle ${(code.length / 1024).toFixed(0)} KiB)`,
  );
}

function quiet(): void {}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
