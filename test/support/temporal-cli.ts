// Where the tests find the Temporal CLI: $TEMPORAL_CLI, or whatever `temporal-dev.sh --install-only`
// installs (the same pinned binary CI uses). @temporalio/testing's own download cannot work offline.

import { execFileSync } from 'node:child_process';
import path from 'node:path';

export function temporalCliPath(): string {
  if (process.env.TEMPORAL_CLI) return process.env.TEMPORAL_CLI;
  const script = path.resolve(__dirname, '../../temporal-dev.sh');
  return execFileSync('bash', [script, '--install-only'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}
