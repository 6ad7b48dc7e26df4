// `npm run compose:check`: the deployment files, checked without a Docker daemon (images cannot be pulled here, so
// nothing is built or run). compose.yaml must pass `docker-compose config` (Debian's docker-compose; .ci/run installs
// it) as it is, with .env.example as its .env, and with the stand-in profile; the Dockerfile gets a small lint of its
// instructions (no daemon means no `docker build --check`); and every dist/… file either names must be the build of
// a source file. Run by .ci/run with the other static checks.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const problems: string[] = [];

function compose(args: string[]): void {
  try {
    execFileSync('docker-compose', [...args, '-f', 'compose.yaml', 'config', '-q'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
      // No .env of a developer's, no COMPOSE_* of the shell: the file alone, as CI sees it.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    });
  } catch (error) {
    const { code, stderr } = error as { code?: string; stderr?: Buffer };
    if (code === 'ENOENT') problems.push('docker-compose is not installed (apt-get install docker-compose)');
    else problems.push(`docker-compose ${args.join(' ')} config: ${stderr?.toString().trim() ?? String(error)}`);
  }
}

compose([]);
compose(['--env-file', '.env.example']);
compose(['--profile', 'standin']);

// The Dockerfile: known instructions, stages named before they are copied from, and a runtime stage that runs as a
// non-root user, has a HEALTHCHECK and an exec-form CMD.
const INSTRUCTIONS = new Set(
  'FROM RUN CMD LABEL EXPOSE ENV ADD COPY ENTRYPOINT VOLUME USER WORKDIR ARG ONBUILD STOPSIGNAL HEALTHCHECK SHELL'.split(
    ' ',
  ),
);
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line, index) => ({ line: line.trim(), number: index + 1 }))
  .filter(({ line }) => line !== '' && !line.startsWith('#'));
const stages: { name: string; instructions: string[] }[] = [];
for (const { line, number } of instructions) {
  const [keyword = '', ...rest] = line.split(/\s+/);
  if (!INSTRUCTIONS.has(keyword)) {
    problems.push(`Dockerfile:${number}: unknown instruction ${keyword}`);
    continue;
  }
  if (keyword === 'FROM') {
    const as = /\sAS\s+(\S+)$/i.exec(line);
    stages.push({ name: as?.[1] ?? String(stages.length), instructions: [] });
  } else if (stages.length === 0) {
    if (keyword !== 'ARG') problems.push(`Dockerfile:${number}: ${keyword} before the first FROM`);
  } else stages.at(-1)!.instructions.push(line);
  const from = /--from=(\S+)/.exec(rest.join(' '));
  if (from && !stages.slice(0, -1).some((stage) => stage.name === from[1]))
    problems.push(`Dockerfile:${number}: COPY --from=${from[1]} names no earlier stage`);
}
const runtime = stages.at(-1);
if (!runtime) problems.push('Dockerfile: no FROM');
else {
  const user = runtime.instructions.filter((i) => i.startsWith('USER ')).at(-1);
  if (!user || /^USER\s+(root|0)(:|\s|$)/.test(user))
    problems.push('Dockerfile: the runtime stage must run as non-root');
  if (!runtime.instructions.some((i) => i.startsWith('HEALTHCHECK ')))
    problems.push('Dockerfile: the runtime stage has no HEALTHCHECK');
  const cmd = runtime.instructions.filter((i) => i.startsWith('CMD ')).at(-1);
  if (!cmd || !/^CMD\s+\[/.test(cmd)) problems.push('Dockerfile: the runtime stage needs an exec-form CMD [...]');
}

// Every built file the image or compose runs is the build of a source file (a renamed entry point breaks both).
for (const file of ['Dockerfile', 'compose.yaml']) {
  const text = readFileSync(path.join(root, file), 'utf8');
  for (const [, built] of text.matchAll(/dist\/([\w/.-]+)\.js/g))
    if (!existsSync(path.join(root, `${built}.ts`)))
      problems.push(`${file}: dist/${built}.js has no source ${built}.ts`);
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`compose.yaml valid (3 ways), Dockerfile: ${stages.length} stages, ${instructions.length} instructions`);
