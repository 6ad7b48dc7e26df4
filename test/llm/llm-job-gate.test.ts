// The worker-side gate holding a job's LLM calls to its concurrency (activities/llm/job-gate.ts), on the real
// PostgreSQL: two gates stand for two worker processes sharing one job's slots. Never more calls hold slots than the
// job allows, a slot freed goes to a call waiting on the same worker without waiting for a poll, a paused job's waiting
// calls are deferred, an abandoned wait takes nothing with it, and a dead worker's slots come free with its lease. With
// the worker's feed of job changes (LISTEN job_events), a pause is heard as it is written and a hand-over reads nothing.

import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { ApplicationFailure } from '@temporalio/common';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { notifyJobChanged } from '../../activities/jobs/job-notify';
import { callDeferred, PostgresJobGate, watchPauses, type ReleaseSlot } from '../../activities/llm/job-gate';
import { loadConfig } from '../../config';
import { FailureType } from '../../common/failures';
import { openDatabase } from '../../db/connection';
import type { Database } from '../../db/database';

const databaseUrl = loadConfig(process.env).DATABASE_URL;
const db = openDatabase(databaseUrl, 6);
const gates: PostgresJobGate[] = [];
const gate = (options: { pollMs?: number; leaseMs?: number } = {}) => {
  const made = new PostgresJobGate({
    db,
    leaseMs: options.leaseMs ?? 30_000,
    pollMs: options.pollMs ?? 50,
    heartbeatIntervalMs: 1_000,
  });
  gates.push(made);
  return made;
};
const jobIds: string[] = [];
const newJob = () => {
  const id = `gate-test-${randomUUID()}`;
  jobIds.push(id);
  return id;
};
const never = new AbortController().signal;
// Every call of a test listens on this one signal.
setMaxListeners(200, never);
const noBeat = () => undefined;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const closing: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const made of gates) await made.close();
  for (const close of closing) await close();
  await db.deleteFrom('llm_job_slots').where('job_id', 'in', jobIds).execute();
  await db.deleteFrom('jobs').where('id', 'in', jobIds).execute();
  await db.destroy();
});

it('never lets more calls hold slots than the job allows, across two workers, and lets every call through', async () => {
  const jobId = newJob();
  const limit = 4;
  const [a, b] = [gate(), gate()];
  let holding = 0;
  let most = 0;
  const call = async (via: PostgresJobGate, i: number) => {
    const release = await via.acquire(jobId, limit, never, noBeat);
    holding++;
    most = Math.max(most, holding);
    // Held for 5-25 ms, as an LLM call would hold it, then released.
    await sleep(5 + ((i * 7) % 20));
    holding--;
    release();
  };
  await Promise.all(Array.from({ length: 60 }, (_, i) => call(i % 2 === 0 ? a : b, i)));
  expect(most).toBe(limit);
  // Every slot is free again once the calls released theirs.
  await sleep(100);
  const held = await db
    .selectFrom('llm_job_slots')
    .select('slot')
    .where('job_id', '=', jobId)
    .where('holder', 'is not', null)
    .execute();
  expect(held).toEqual([]);
});

it('hands a slot freed on a worker to a call waiting on that worker at once, without a poll', async () => {
  const jobId = newJob();
  // A poll so slow that only the hand-over can grant the waiting call within the test.
  const local = gate({ pollMs: 60_000 });
  const first = await local.acquire(jobId, 1, never, noBeat);
  let granted: ReleaseSlot | undefined;
  const waiting = local.acquire(jobId, 1, never, noBeat).then((release) => (granted = release));
  await sleep(50);
  expect(granted).toBeUndefined();
  const releasedAt = Date.now();
  first();
  await waiting;
  expect(Date.now() - releasedAt).toBeLessThan(1_000);
  granted!();
});

const insertRunningJob = (jobId: string) =>
  db
    .insertInto('jobs')
    .values({
      id: jobId,
      type: 'data_profiling_llm_generation',
      owner: 'gate-test',
      status: 'running',
      workflow_id: jobId,
      metadata: JSON.stringify({}),
      updated_at: new Date(),
    })
    .execute();

it('gives a job’s first calls, arriving together, their slots at once, without a poll', async () => {
  const jobId = newJob();
  // A poll so slow that only claiming for every call in line can grant them within the test.
  const local = gate({ pollMs: 60_000 });
  const limit = 12;
  const releases = await Promise.all(Array.from({ length: limit }, () => local.acquire(jobId, limit, never, noBeat)));
  expect(releases).toHaveLength(limit);
  // One more waits: every slot is held.
  let extra: ReleaseSlot | undefined;
  const waiting = local.acquire(jobId, limit, never, noBeat).then((release) => (extra = release));
  await sleep(50);
  expect(extra).toBeUndefined();
  for (const release of releases) release();
  await waiting;
  extra!();
});

it('defers the calls waiting for a paused job, and sends none of them', async () => {
  const jobId = newJob();
  await insertRunningJob(jobId);
  const local = gate({ pollMs: 60_000 });
  const holding = await local.acquire(jobId, 1, never, noBeat);
  const waiting = [1, 2].map(() => local.acquire(jobId, 1, never, noBeat));
  await db.updateTable('jobs').set({ status: 'paused' }).where('id', '=', jobId).execute();
  // The answer of the call holding the slot comes in: the slot is not handed on, both waiting calls are deferred.
  holding();
  for (const wait of waiting) {
    const failure = await wait.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: FailureType.LlmCallDeferred, nonRetryable: true });
  }
  // A call arriving while the job is paused is deferred before it waits at all.
  await expect(local.acquire(jobId, 1, never, noBeat)).rejects.toMatchObject({ type: FailureType.LlmCallDeferred });
  // Resumed, the job's calls go again.
  await db.updateTable('jobs').set({ status: 'running' }).where('id', '=', jobId).execute();
  (await local.acquire(jobId, 1, never, noBeat))();
  expect(callDeferred(jobId).type).toBe(FailureType.LlmCallDeferred);
});

it('takes an abandoned wait off the queue, so the next slot freed goes to a call still waiting', async () => {
  const jobId = newJob();
  const local = gate({ pollMs: 60_000 });
  const holding = await local.acquire(jobId, 1, never, noBeat);
  const cancel = new AbortController();
  const abandoned = local.acquire(jobId, 1, cancel.signal, noBeat);
  const stillWaiting = local.acquire(jobId, 1, never, noBeat);
  const reason = new Error('cancelled by the test');
  cancel.abort(reason);
  await expect(abandoned).rejects.toBe(reason);
  holding();
  (await stillWaiting)();
});

it('gives a dead worker’s slots to another once their lease has run out', async () => {
  const jobId = newJob();
  // The worker that dies holds both slots; its lease is cut to 300 ms from now.
  const dead = gate({ leaseMs: 300 });
  await dead.acquire(jobId, 2, never, noBeat);
  await dead.acquire(jobId, 2, never, noBeat);
  await db
    .updateTable('llm_job_slots')
    .set({ held_until: new Date(Date.now() + 300) })
    .where('holder', '=', dead.holder)
    .execute();
  // Its renewals stop without the slots given back, as when its process is killed.
  clearInterval((dead as unknown as { renewTimer: NodeJS.Timeout }).renewTimer);
  const survivor = gate({ pollMs: 50 });
  const startedAt = Date.now();
  const releases = await Promise.all([1, 2].map(() => survivor.acquire(jobId, 2, never, noBeat)));
  // Not before the lease ran out (300 ms from the update above).
  expect(Date.now() - startedAt).toBeGreaterThanOrEqual(100);
  for (const release of releases) release();
});

it('with the feed of job changes, hears a pause as it is written, and hands slots on without reading the job', async () => {
  const jobId = newJob();
  await insertRunningJob(jobId);
  // The gate's own connections count every read of the jobs table it makes (the feed reads on connections of its own).
  let jobReads = 0;
  const gateDb = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: databaseUrl, max: 2 }) }),
    log: (event) => {
      if (event.level === 'query' && /from "jobs"/.test(event.query.sql)) jobReads++;
    },
  });
  const pauses = watchPauses({ db, connectionString: databaseUrl, rereadEveryMs: 60_000, log: console });
  const local = new PostgresJobGate({
    db: gateDb,
    leaseMs: 30_000,
    pollMs: 60_000,
    heartbeatIntervalMs: 1_000,
    pauses,
  });
  closing.push(async () => {
    await local.close();
    await pauses.close();
    await gateDb.destroy();
  });
  let holding = await local.acquire(jobId, 1, never, noBeat);
  // What the feed hears of the job, as the gate hears it (the gate subscribed first, so it has heard it before this).
  const heard: boolean[] = [];
  await pauses.subscribe(jobId, (paused) => heard.push(paused === true));
  expect(pauses.listening).toBe(true);
  const change = async (status: 'running' | 'paused') => {
    const before = heard.length;
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('jobs').set({ status }).where('id', '=', jobId).execute();
      await notifyJobChanged(trx, jobId);
    });
    while (heard.length === before) await sleep(5);
  };
  // Heard once (a change written, say a progress snapshot), then 10 hand-overs 60 ms apart, past any reuse of a read.
  await change('running');
  const readsBefore = jobReads;
  for (let i = 0; i < 10; i++) {
    const next = local.acquire(jobId, 1, never, noBeat);
    await sleep(60);
    holding();
    holding = await next;
  }
  expect(jobReads - readsBefore).toBe(0);
  // Paused: the next hand-over, right after the pause is heard, defers the call waiting instead of sending it.
  const waiting = local.acquire(jobId, 1, never, noBeat);
  await change('paused');
  holding();
  await expect(waiting).rejects.toMatchObject({ type: FailureType.LlmCallDeferred });
});
