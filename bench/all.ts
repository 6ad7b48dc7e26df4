// `npm run bench:all`: every benchmark in sequence, each in its own process (each starts and stops its
// own dev server and database); goes on after a failure and says at the end which ones failed.

import { spawnSync } from 'node:child_process';
import path from 'node:path';

const BENCHES = ['efficiency', 'legacy', 'overhead', 'status-api', 'scale', 'rule-execution', 'recovery'];

const failed: string[] = [];
for (const name of BENCHES) {
  console.log(`\n=== bench:${name} ===`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.resolve(__dirname, `${name}.ts`)], {
    stdio: 'inherit',
    cwd: path.resolve(__dirname, '..'),
  });
  if (run.status !== 0) failed.push(name);
}
console.log(failed.length ? `\nfailed: ${failed.join(', ')}` : '\nevery benchmark ran; figures in bench/results/');
process.exit(failed.length ? 1 : 0);
