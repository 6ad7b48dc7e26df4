// `npm run build`: the production build. Compiles the runtime folders to dist/ (tsconfig.build.json), copies the
// files the compiled code reads at run time (samples/documents), and prebuilds the workflow bundles
// (dist/workflow-bundle.js, and dist/workflow-bundle-traced.js with the tracing interceptors), so `npm run start:*`
// runs plain node from dist/ and a worker never bundles at start.
// `--out-dir <dir>` builds elsewhere (the build test does, so a developer's dist/ is left alone).

import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode } from '@temporalio/worker';
import { TRACING_WORKFLOW_MODULES } from '../config/tracing';
import { workflowBundleFile } from '../workers/workflow-bundle';

const ROOT = path.resolve(__dirname, '..');

/** Read at run time relative to the compiled code (client/planning/planning-definition.ts: samples/documents). */
const RUNTIME_ASSETS = ['samples/documents'];

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

  // Bundled from the TypeScript sources (the SDK's webpack reads them), the same code tsc just compiled; once as is,
  // once with the interceptors a worker that traces needs (workers/workflow-bundle.ts).
  mkdirSync(outDir, { recursive: true });
  const sizes: string[] = [];
  for (const traced of [false, true]) {
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.join(ROOT, 'workflows'),
      workflowInterceptorModules: traced ? [...TRACING_WORKFLOW_MODULES] : [],
      logger: { trace: quiet, debug: quiet, info: quiet, warn: console.warn, error: console.error, log: quiet },
    });
    writeFileSync(path.join(outDir, workflowBundleFile(traced)), code);
    sizes.push(`${(code.length / 1024).toFixed(0)} KiB`);
  }
  console.log(
    `built ${path.relative(ROOT, outDir) || outDir} in ${((Date.now() - started) / 1000).toFixed(1)} s (workflow bundles ${sizes.join(', traced ')})`,
  );
}

function quiet(): void {}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
