// `synapse-jobs`: the command line for people. Start, watch and control jobs, list them, import the legacy
// jobs_storage.json, mint a development token, administer the LLM budget. The commands are in
// client/cli/cli-program.ts; this file runs one command line and exits with its code (docs/cli.md#exit-codes).

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Output } from './cli-output';
import { createProgram } from './cli-program';

/** The version in the project's package.json, found upwards from here (the sources, or a build under dist/). */
function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'synapse-jobs' && pkg.version) return pkg.version;
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

/** `--json` anywhere before a `--` that ends the options: known before commander parses, so its errors are JSON too. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

export async function main(argv: string[]): Promise<number> {
  const out = new Output(wantsJson(argv));
  let code = 0;
  const program = createProgram(out, packageVersion(), (exitCode) => (code = exitCode));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    return out.error(error);
  }
}

// A reader that stops early (`synapse-jobs list | head`) closes the pipe: that ends the command quietly, as for any
// Unix tool, rather than with an unhandled EPIPE trace.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });

void main(process.argv.slice(2)).then((code) => process.exit(code));
