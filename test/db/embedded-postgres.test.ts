// The embedded database default (db/embedded-postgres.ts), forced on a free port in a temporary data folder since
// this machine's own PostgreSQL answers on 5432: a real PostgreSQL 18 from npm starts, migrates, seeds and answers;
// a second process's resolution reuses it, and two racing ones share one; it stops cleanly and starts again over a crash's stale postmaster.pid.

import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { ensureDatabaseExists, migrateToLatest, openDatabase } from '../../db/connection';
import { DEMO_ROW_COUNT, DEMO_TABLE, seedDemoData } from '../../db/demo-data';
import { answers, loadConfigWithDatabase, stopEmbeddedPostgres } from '../../db/embedded-postgres';
import { trackUntilClosed } from '../support/leftovers';
import { freePort } from '../support/ports';

let folder: string;
let dataDir: string;
let port: number;
let env: NodeJS.ProcessEnv;
let untrack: () => void;

/** What a process started with DATABASE_URL unset and the embedded path forced resolves (in `dir`, on `on`). */
async function resolve(dir = dataDir, on = port): Promise<{ url: string; said: string[] }> {
  const said: string[] = [];
  const config = await loadConfigWithDatabase(
    { ...env, DATABASE_EMBEDDED_DIR: dir, DATABASE_EMBEDDED_PORT: String(on) },
    (line) => said.push(line),
  );
  return { url: config.DATABASE_URL, said };
}

async function postmasterPid(): Promise<number> {
  return Number((await readFile(path.join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'synapse-embedded-'));
  // mkdtemp makes it 0700; run as root, the server runs as an unprivileged user who must enter it.
  await chmod(folder, 0o755);
  dataDir = path.join(folder, 'postgres');
  port = await freePort();
  // The harness's global setup sets DATABASE_URL for every other suite: this one needs it unset.
  env = {
    ...process.env,
    DATABASE_URL: undefined,
    DATABASE_EMBEDDED: 'force',
    DATABASE_EMBEDDED_PORT: String(port),
    DATABASE_EMBEDDED_DIR: dataDir,
  };
  // A test that times out never reaches afterAll: the environment stops the detached server then.
  untrack = trackUntilClosed(`embedded PostgreSQL in ${dataDir}`, () =>
    stopEmbeddedPostgres(dataDir).then(() => undefined),
  );
});

afterAll(async () => {
  await stopEmbeddedPostgres(dataDir);
  untrack();
  await rm(folder, { recursive: true, force: true });
});

test('DATABASE_URL wins when set, and DATABASE_EMBEDDED=off keeps the default URL without starting anything', async () => {
  const given = 'postgres://someone@db.example:6543/jobs';
  expect((await loadConfigWithDatabase({ ...env, DATABASE_URL: given }, () => undefined)).DATABASE_URL).toBe(given);
  const off = await loadConfigWithDatabase({ ...env, DATABASE_EMBEDDED: 'off' }, () => undefined);
  expect(off.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/synapse_jobs');
  expect(await answers('127.0.0.1', port)).toBe(false);
});

test('a port another server holds is refused by name instead of being taken for the embedded one', async () => {
  const other = net.createServer();
  await new Promise<void>((listening) => other.listen(0, '127.0.0.1', listening));
  try {
    const taken = (other.address() as net.AddressInfo).port;
    await expect(resolve(dataDir, taken)).rejects.toThrow(
      `127.0.0.1:${taken} is taken by a server other than the embedded PostgreSQL`,
    );
  } finally {
    await new Promise((closed) => other.close(closed));
  }
});

test('with DATABASE_URL unset, starts PostgreSQL 18 in the data folder, says so, and the database migrates, seeds and reads back', async () => {
  const { url, said } = await resolve();
  expect(url).toBe(`postgres://postgres@127.0.0.1:${port}/synapse_jobs`);
  expect(said).toEqual([expect.stringContaining(`started the embedded PostgreSQL 18 on 127.0.0.1:${port}`)]);
  expect(said[0]).toContain(dataDir);
  expect(said[0]).toContain('DATABASE_URL');

  await ensureDatabaseExists(url);
  const db = openDatabase(url, 1);
  try {
    await migrateToLatest(db);
    expect(await seedDemoData(db)).toEqual({ inserted: DEMO_ROW_COUNT });
    const { rows } = await sql<{
      n: number;
      version: string;
      directory: string;
    }>`select (select count(*)::int from ${sql.table(DEMO_TABLE)}) as n, version() as version,
              current_setting('data_directory') as directory`.execute(db);
    expect(rows[0]).toEqual({
      n: DEMO_ROW_COUNT,
      version: expect.stringMatching(/^PostgreSQL 18\./),
      directory: path.join(dataDir, 'pgdata'),
    });
  } finally {
    await db.destroy();
  }
});

test('a second resolution while it runs reuses the running server instead of starting another', async () => {
  const pid = await postmasterPid();
  const { url, said } = await resolve();
  expect(url).toBe(`postgres://postgres@127.0.0.1:${port}/synapse_jobs`);
  expect(said).toEqual([
    expect.stringContaining(`reusing the embedded PostgreSQL already running on 127.0.0.1:${port}`),
  ]);
  expect(await postmasterPid()).toBe(pid);
});

test('stops cleanly, then starts again over the postmaster.pid a crash leaves, with its data kept', async () => {
  const pid = await postmasterPid();
  const lockFile = await readFile(path.join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8');
  expect(await stopEmbeddedPostgres(dataDir)).toBe(true);
  expect(alive(pid)).toBe(false);
  expect(await answers('127.0.0.1', port)).toBe(false);
  expect(await stopEmbeddedPostgres(dataDir)).toBe(false);

  // What a killed server leaves behind: its lock file naming a pid that no longer runs.
  await writeFile(path.join(dataDir, 'pgdata', 'postmaster.pid'), lockFile);
  expect(await stopEmbeddedPostgres(dataDir)).toBe(false);
  const { url, said } = await resolve();
  expect(said).toEqual([expect.stringContaining('started the embedded PostgreSQL')]);
  const db = openDatabase(url, 1);
  try {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(DEMO_TABLE)}`.execute(db);
    expect(rows[0]?.n).toBe(DEMO_ROW_COUNT);
  } finally {
    await db.destroy();
  }
  const restarted = await postmasterPid();
  expect(await stopEmbeddedPostgres(dataDir)).toBe(true);
  expect(alive(restarted)).toBe(false);
});

test('two processes starting at once on a fresh data folder end up sharing one server', async () => {
  const raceDir = path.join(folder, 'race');
  const racePort = await freePort();
  const stop = trackUntilClosed(`embedded PostgreSQL in ${raceDir}`, () =>
    stopEmbeddedPostgres(raceDir).then(() => undefined),
  );
  try {
    const [first, second] = await Promise.all([resolve(raceDir, racePort), resolve(raceDir, racePort)]);
    expect(first.url).toBe(second.url);
    const said = [...first.said, ...second.said];
    expect(said.filter((line) => line.includes('started the embedded'))).toHaveLength(1);
    expect(said.filter((line) => line.includes('reusing the embedded'))).toHaveLength(1);
  } finally {
    await stopEmbeddedPostgres(raceDir);
    stop();
  }
  expect(await answers('127.0.0.1', racePort)).toBe(false);
});
