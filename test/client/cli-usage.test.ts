// The `synapse-jobs` command line before any job is involved: help for every command, --version, usage errors
// (exit 2, found before anything connects: Temporal and PostgreSQL are closed ports here), a dependency that does
// not answer named with its address within 5 s, and `token`, whose tokens the API's own authenticator accepts.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import { createAuthenticator } from '../../client/http/auth';
import { freePort } from '../support/ports';

/** The CLI's own bound for naming a dependency that does not answer (docs/cli.md#connections). */
const CONNECTION_ERROR_BOUND_MS = 5_000;
/** A CLI process still running after this is killed, so a hung one fails its test instead of outliving the suite. */
const CLI_TIMEOUT_MS = 60_000;
const SECRET = 'cli-usage-test-secret-0123456789';
const VERSION = (JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string })
  .version;

let closedPort: number;
let closed: { TEMPORAL_ADDRESS: string; DATABASE_URL: string };
beforeAll(async () => {
  closedPort = await freePort();
  closed = {
    TEMPORAL_ADDRESS: `127.0.0.1:${closedPort}`,
    DATABASE_URL: `postgres://cli:hunter2secret@127.0.0.1:${closedPort}/nowhere`,
  };
});

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** From spawning the process to its exit. */
  ms: number;
}

/** Runs the CLI with `env` over the suite's environment (an undefined value unsets it). */
async function run(args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const merged: Record<string, string | undefined> = {
    ...process.env,
    JWT_SECRET: SECRET,
    SYNAPSE_TOKEN: undefined,
    SYNAPSE_CLI_OPERATOR: undefined,
    ...env,
  };
  for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
  const started = Date.now();
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [path.resolve(__dirname, '../../bin/synapse-jobs.js'), ...args],
      { env: merged, timeout: CLI_TIMEOUT_MS },
    );
    return { code: 0, stdout, stderr, ms: Date.now() - started };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr, ms: Date.now() - started };
  }
}

/** Dependencies nothing listens on: a command that connected would say so instead of what is tested. */
const offline = (args: string[], env: Record<string, string | undefined> = {}) => run(args, { ...closed, ...env });

const COMMANDS = [
  'start',
  'status',
  'watch',
  'pause',
  'resume',
  'cancel',
  'priority',
  'list',
  'import-legacy',
  'budget',
  'bulk',
  'token',
];

it('shows help for every command and exits 0, prints the version, and exits 2 with the usage when no command is given', async () => {
  const [helps, [version, bare, helpCommand, budgetSet]] = await Promise.all([
    Promise.all(COMMANDS.map((command) => offline([command, '--help']))),
    Promise.all([
      offline(['--version']),
      offline([]),
      offline(['help', 'watch']),
      offline(['budget', 'set', '--help']),
    ]),
  ]);
  helps.forEach((help, i) => {
    expect({ command: COMMANDS[i], code: help.code, stderr: help.stderr }).toEqual({
      command: COMMANDS[i],
      code: 0,
      stderr: '',
    });
    expect(help.stdout).toMatch(new RegExp(`^Usage: synapse-jobs ${COMMANDS[i]} `));
    // The options every command takes are listed on each command's page.
    expect(help.stdout).toMatch(/--json/);
    expect(help.stdout).toMatch(/--token <jwt>/);
  });
  expect({ code: version.code, stdout: version.stdout.trim() }).toEqual({ code: 0, stdout: VERSION });
  expect(bare.code).toBe(2);
  expect(bare.stderr).toMatch(/^Usage: synapse-jobs \[options\] \[command\]/);
  expect(bare.stderr).toMatch(/Exit codes: 0 done; 1 .*; 2 usage error/s);
  expect(helpCommand).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Usage: synapse-jobs watch /) });
  expect(budgetSet).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Usage: synapse-jobs budget set /) });
});

it('exits 2 on every usage error before connecting to anything, in JSON too', async () => {
  const cases: [string[], RegExp][] = [
    [['stauts', 'x'], /unknown command 'stauts'.*\(Did you mean status\?\)/s],
    [['list', '--bogus'], /unknown option '--bogus'/],
    [['status'], /missing required argument 'job'/],
    [['priority', 'x', 'urgent'], /'urgent' is invalid for argument 'level'\. expected high, normal, low/],
    [['start', 'no_such_type'], /'no_such_type' is invalid for argument 'type'/],
    [['list', '--limit', '0'], /'--limit <n>' argument '0' is invalid\. expected a whole number from 1 to 500/],
    [
      ['start', 'data_profiling', '--params', '{oops'],
      /'--params <json>' argument '\{oops' is invalid\. not valid JSON/,
    ],
    [['start', 'data_profiling', '--metadata', '[1]'], /'--metadata <json>'.*expected a JSON object/],
    [['start', 'data_profiling', '--attributes', 'a'], /invalid start request: dataSourceId: is required/],
    [['start', 'intelligent_sampling', '--data-source', 'd', '--params', '{"confidenceLevel":7}'], /confidenceLevel/],
    [['bulk', 'pause'], /bulk needs --owner or --type/],
    [['import-legacy', 'f.json', '--resubmit'], /--resubmit needs --data-source/],
    [['list', '--as', ' padded'], /cannot own jobs \(has surrounding whitespace\)/],
  ];
  const [runs, asJson, noCommandAsJson] = await Promise.all([
    Promise.all(cases.map(([args]) => offline(args))),
    offline(['stauts', 'x', '--json']),
    offline(['--json']),
  ]);
  runs.forEach((result, i) => {
    const [args, message] = cases[i]!;
    expect({ args, code: result.code }).toEqual({ args, code: 2 });
    expect(result.stderr).toMatch(message);
    // Nothing was dialled: no dependency is named, and no stack trace is printed.
    expect(result.stderr).not.toMatch(/did not answer|Temporal at|PostgreSQL at|^\s+at /m);
  });
  // Well before any connect deadline could have passed, let alone the 10 s a connection attempt used to take.
  expect(runs[0]!.ms).toBeLessThan(CONNECTION_ERROR_BOUND_MS);
  expect(asJson.code).toBe(2);
  expect(asJson.stdout).toBe('');
  expect(JSON.parse(asJson.stderr)).toEqual({
    error: {
      code: 'commander.unknownCommand',
      message: expect.stringMatching(/unknown command 'stauts'/),
      exit_code: 2,
      exit_meaning: expect.stringMatching(/^usage/),
    },
  });
  expect(noCommandAsJson).toMatchObject({ code: 2, stdout: '' });
  expect(JSON.parse(noCommandAsJson.stderr)).toMatchObject({ error: { code: 'usage', exit_code: 2 } });
});

describe('a dependency that does not answer', () => {
  /** Accepts connections and never says a word: a hung server, the case a connect deadline is for. */
  let silent: net.Server;
  let silentPort: number;
  const sockets = new Set<net.Socket>();
  beforeAll(async () => {
    silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('is named with its address within 5 s, exit 1, without a stack trace, whether refused or silent', async () => {
    const jobId = randomUUID();
    // One at a time: each is timed from its own spawn, which processes starting together would slow for each other.
    const temporalClosed = await run(['status', jobId, '--as', 'alice'], { TEMPORAL_ADDRESS: closed.TEMPORAL_ADDRESS });
    const temporalSilent = await run(['watch', jobId, '--as', 'alice', '--json'], {
      TEMPORAL_ADDRESS: `127.0.0.1:${silentPort}`,
    });
    const databaseClosed = await run(['list', '--as', 'alice'], { DATABASE_URL: closed.DATABASE_URL });
    const databaseSilent = await run(['list', '--as', 'alice'], {
      DATABASE_URL: `postgres://cli:hunter2secret@127.0.0.1:${silentPort}/nowhere`,
    });
    for (const result of [temporalClosed, temporalSilent, databaseClosed, databaseSilent]) {
      expect(result.code).toBe(1);
      expect(result.ms).toBeLessThan(CONNECTION_ERROR_BOUND_MS);
      expect(result.stderr).not.toMatch(/^\s+at /m);
      expect(result.stderr).not.toMatch(/hunter2secret/);
    }
    expect(temporalClosed.stderr).toMatch(
      new RegExp(
        `^error: Temporal at 127\\.0\\.0\\.1:${closedPort} \\(TEMPORAL_ADDRESS\\) did not answer within [\\d.]+ s: `,
      ),
    );
    expect(JSON.parse(temporalSilent.stderr)).toEqual({
      error: {
        code: 'dependency_unavailable',
        dependency: 'temporal',
        message: expect.stringMatching(
          new RegExp(`^Temporal at 127\\.0\\.0\\.1:${silentPort} \\(TEMPORAL_ADDRESS\\) did not answer`),
        ),
        exit_code: 1,
        exit_meaning: expect.stringMatching(/^failed/),
      },
    });
    expect(databaseClosed.stderr).toMatch(
      new RegExp(
        `^error: PostgreSQL at postgres://cli:\\*\\*\\*@127\\.0\\.0\\.1:${closedPort}/nowhere \\(DATABASE_URL\\) did not answer`,
      ),
    );
    expect(databaseSilent.stderr).toMatch(
      new RegExp(
        `^error: PostgreSQL at postgres://cli:\\*\\*\\*@127\\.0\\.0\\.1:${silentPort}/nowhere .*no answer within [\\d.]+ s`,
      ),
    );
  });
});

describe('token', () => {
  const settings = {
    JWT_SECRET: SECRET,
    JWT_JWKS_URL: undefined,
    JWT_ISSUER: undefined,
    JWT_AUDIENCE: undefined,
    JWT_ADMIN_ROLE: 'admin',
    JWT_MAX_LIFETIME_S: 86_400,
  };
  const bearer = (token: string) => `Bearer ${token}`;

  it("mints tokens the API's authenticator accepts as the right principal, with no server running", async () => {
    const [admin, plain, scoped] = await Promise.all([
      offline(['token', '--as', 'tok-user', '--role', 'admin', '--ttl', '600', '--json']),
      offline(['token'], { SYNAPSE_USER: 'env-user' }),
      offline(['token', '--sub', 'svc', '--roles', 'reader,writer'], {
        JWT_ISSUER: 'synapse',
        JWT_AUDIENCE: 'jobs-api',
      }),
    ]);
    expect([admin.code, plain.code, scoped.code]).toEqual([0, 0, 0]);
    const minted = JSON.parse(admin.stdout) as { token: string; issued_at: string; expires_at: string };
    expect(minted).toMatchObject({ subject: 'tok-user', roles: ['admin'] });
    expect(Date.parse(minted.expires_at) - Date.parse(minted.issued_at)).toBe(600_000);
    await expect(createAuthenticator(settings)(bearer(minted.token))).resolves.toEqual({
      subject: 'tok-user',
      admin: true,
      service: false,
    });
    // Without --json the token alone, for `export SYNAPSE_TOKEN=$(synapse-jobs token)`.
    expect(plain.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    await expect(createAuthenticator(settings)(bearer(plain.stdout.trim()))).resolves.toEqual({
      subject: 'env-user',
      admin: false,
      service: false,
    });
    const withIssuer = { ...settings, JWT_ISSUER: 'synapse', JWT_AUDIENCE: 'jobs-api' };
    await expect(createAuthenticator(withIssuer)(bearer(scoped.stdout.trim()))).resolves.toEqual({
      subject: 'svc',
      admin: false,
      service: false,
    });
    expect(decodeJwt(scoped.stdout.trim())).toMatchObject({
      iss: 'synapse',
      aud: 'jobs-api',
      roles: ['reader', 'writer'],
    });
  });

  it('explains and exits 2 without JWT_SECRET or beyond JWT_MAX_LIFETIME_S', async () => {
    const [noSecret, tooLong] = await Promise.all([
      offline(['token', '--as', 'a'], { JWT_SECRET: undefined }),
      offline(['token', '--as', 'a', '--ttl', '7200'], { JWT_MAX_LIFETIME_S: '3600' }),
    ]);
    expect(noSecret).toMatchObject({ code: 2, stdout: '', stderr: expect.stringMatching(/JWT_SECRET is not set/) });
    expect(tooLong).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--ttl 7200 s is longer than the API accepts: at most 3600 s/),
    });
  });
});

it('ends quietly with exit 0 when its reader closes the pipe early (`synapse-jobs --help | head -1`)', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [path.resolve(__dirname, '../../bin/synapse-jobs.js'), '--help'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Like `head -1`: read the first chunk, then close our end while the CLI may still be writing.
  child.stdout.once('data', () => child.stdout.destroy());
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
});
