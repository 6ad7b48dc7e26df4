// The `synapse-jobs` command as people run it: a separate process against the same server and database,
// starting and watching a job, controlling it, listing, and importing the legacy file (and resubmitting
// its interrupted jobs). A job the CLI controls is held mid-work at a stand-in gate, never kept busy by latency.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, TEST_JWT_SECRET, testToken, type Harness } from '../support/harness';
import { waitFor } from '../support/waiting';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness();
  await harness.startWorker();
});
afterAll(() => harness.close());

/**
 * A CLI process still running after this is killed (SIGTERM), so a hung one fails its test instead of outliving the
 * suite.
 */
const CLI_TIMEOUT_MS = 120_000;

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** From spawning the process to its exit. */
  ms: number;
}

/**
 * Runs the CLI as `as` (null: no --as at all) with `env` over the harness's settings (an undefined value unsets
 * it). Asynchronously, so the in-process worker keeps running while the CLI waits on it.
 */
async function run(
  args: string[],
  options: { as?: string | null; env?: Record<string, string | undefined> } = {},
): Promise<CliRun> {
  // The cache off as in the harness: earlier suites' stored answers would otherwise finish these jobs at once.
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATABASE_URL: harness.config.DATABASE_URL,
    TEMPORAL_ADDRESS: harness.config.TEMPORAL_ADDRESS,
    TEMPORAL_TASK_QUEUE: harness.config.TEMPORAL_TASK_QUEUE,
    JOB_DEFAULT_USE_LLM_CACHE: 'false',
    JWT_SECRET: TEST_JWT_SECRET,
    SYNAPSE_TOKEN: undefined,
    SYNAPSE_CLI_OPERATOR: undefined,
    ...options.env,
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  const as = options.as === undefined ? 'cli-user' : options.as;
  const started = Date.now();
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [path.resolve(__dirname, '../../bin/synapse-jobs.js'), ...args, ...(as === null ? [] : ['--as', as])],
      { env, timeout: CLI_TIMEOUT_MS },
    );
    return { code: 0, stdout, stderr, ms: Date.now() - started };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr, ms: Date.now() - started };
  }
}

const cli = (...args: string[]) => run(args);

const tokenFor = testToken;

it('starts a job and watches it to completion with a progress bar', async () => {
  const { code, stdout } = await cli(
    'start',
    'data_profiling',
    '--data-source',
    DEMO_DATA_SOURCE_ID,
    '--attributes',
    'credit_score,apr_rate,billing_zip',
    '--watch',
  );
  expect(code).toBe(0);
  const jobId = /started job (\S+)/.exec(stdout)?.[1];
  expect(jobId).toBeDefined();
  expect(stdout).toMatch(/100% completed/);
  // The outcome after the bar: state and duration, then profiling's key figures.
  expect(stdout).toMatch(new RegExp(`^completed in [\\d.]+ s · job ${jobId}$`, 'm'));
  expect(stdout).toMatch(/^ {2}attributes: 3 of 3 profiled, 0 failed$/m);
  expect(stdout).toMatch(/^ {2}rules: \d+ generated, \d+ of \d+ run over \d+ rows$/m);
  expect(stdout).toMatch(/^ {2}pass rate: [\d.]+% \(.+\)$/m);
  const status = JSON.parse((await cli('status', jobId!)).stdout);
  expect(status).toMatchObject({ job_id: jobId, status: 'completed', completed_steps: 6, owner: 'cli-user' });
  expect((await cli('list')).stdout).toContain(jobId);
});

it('pauses and resumes a job, and says why when an action does not apply', async () => {
  const attributes = ['credit_score', 'apr_rate', 'billing_zip', 'account_status', 'email_address', 'phone_number'];
  // Every call of this job waits at the gate: the job is mid-work for as long as the CLI processes take to boot.
  const gate = harness.standin.gate({ items: attributes.map((a) => `${DEMO_DATA_SOURCE_ID}.${a}`) });
  try {
    const started = await cli(
      'start',
      'data_profiling_llm_generation',
      '--data-source',
      DEMO_DATA_SOURCE_ID,
      '--attributes',
      attributes.join(','),
      '--concurrency',
      '1',
    );
    const jobId = /started job (\S+)/.exec(started.stdout)![1]!;
    await gate.waitUntilHeld(1, 30_000);
    expect((await harness.jobs.progress(jobId))?.status).toBe('running');

    const paused = await cli('pause', jobId);
    expect({ code: paused.code, stderr: paused.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(paused.stdout).job_id).toBe(jobId);
    // The second pause is refused whether or not the workflow has applied the first yet: it counts as requested.
    const refused = await cli('pause', jobId);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/error: cannot pause job .* it is paused/);
    await waitFor(
      async () => (await harness.jobs.progress(jobId))?.status,
      (s) => s === 'paused',
      30_000,
      `job ${jobId} paused`,
    );

    // The held call finishes while the job is paused; no other item starts until the resume.
    gate.release();
    await waitFor(
      async () => (await harness.jobs.progress(jobId))?.inFlight,
      (n) => n === 0,
      30_000,
      'the held call to finish while paused',
    );
    expect(gate.heldTotal()).toBe(1);
    expect((await harness.jobs.progress(jobId))?.status).toBe('paused');

    gate.open();
    const resumed = await cli('resume', jobId);
    expect(resumed.code).toBe(0);
    expect((await cli('watch', jobId)).code).toBe(0);
    expect(await harness.jobs.progress(jobId)).toMatchObject({
      status: 'completed',
      completedSteps: attributes.length,
    });
  } finally {
    gate.open();
  }
});

it('starts any job type with its own fields in --params', async () => {
  const params = JSON.stringify({
    confidenceLevel: 0.95,
    marginOfError: 0.05,
    strataColumns: ['account_status'],
    allocation: 'proportional',
    seed: 5,
  });
  const { code, stdout } = await cli(
    'start',
    'intelligent_sampling',
    '--data-source',
    DEMO_DATA_SOURCE_ID,
    '--params',
    params,
    '--watch',
  );
  expect(code).toBe(0);
  expect(stdout).toMatch(/100% completed/);
  expect(stdout).toMatch(/^ {2}sample: \d+ records \(n = 370 of population \d+, \d+ edge cases added\)$/m);
  const jobId = /started job (\S+)/.exec(stdout)![1]!;
  const status = JSON.parse((await cli('status', jobId)).stdout);
  expect(status).toMatchObject({
    job_type: 'intelligent_sampling',
    status: 'completed',
    result: { seed: 5, sampleSize: { n: 370 } },
  });
});

it('rejects bad input with the field named and exit code 1', async () => {
  const { code, stderr } = await cli('start', 'data_profiling', '--data-source', 'nope');
  expect(code).toBe(1);
  expect(stderr).toMatch(/error: dataSourceId: unknown data source "nope"/);
});

describe('--json, the admin credential and the empty list', () => {
  it('answers each job command with one JSON document, and a refusal with a JSON error and exit 1', async () => {
    const started = await cli(
      'start',
      'data_profiling',
      '--data-source',
      DEMO_DATA_SOURCE_ID,
      '--attributes',
      'credit_score',
      '--json',
    );
    expect({ code: started.code, stderr: started.stderr }).toEqual({ code: 0, stderr: '' });
    const { job_id: jobId, created } = JSON.parse(started.stdout) as { job_id: string; created: boolean };
    expect(created).toBe(true);
    // watch --json draws no bar: its one document is the final status, result included.
    const watched = await cli('watch', jobId, '--json');
    expect(watched.code).toBe(0);
    expect(JSON.parse(watched.stdout)).toMatchObject({
      job_id: jobId,
      status: 'completed',
      result: { attributesTotal: 1, attributesProfiled: 1 },
    });
    const [status, listed, refused] = await Promise.all([
      cli('status', jobId, '--json'),
      cli('list', '--json', '--type', 'data_profiling', '--limit', '500'),
      cli('pause', jobId, '--json'),
    ]);
    expect(JSON.parse(status.stdout)).toMatchObject({ job_id: jobId, status: 'completed', owner: 'cli-user' });
    expect((JSON.parse(listed.stdout) as { job_id: string }[]).map((j) => j.job_id)).toContain(jobId);
    expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code: 1, stdout: '' });
    expect(JSON.parse(refused.stderr)).toEqual({
      error: {
        code: 'wrong_state',
        message: expect.stringMatching(/cannot pause job/),
        exit_code: 1,
        exit_meaning: expect.stringMatching(/^failed/),
      },
    });
  });

  it("refuses --admin, budget and another owner's jobs without an admin credential, and allows them with an admin token or the operator setting", async () => {
    const owner = `cli-other-${randomUUID().slice(0, 8)}`;
    const other = await harness.jobs.startJob({
      jobType: 'data_profiling',
      owner,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: ['credit_score'],
    });
    try {
      // Tokens as `synapse-jobs token` mints them (that round trip is cli-usage.test.ts's): one process fewer each.
      const [admin, user] = await Promise.all([tokenFor('cli-user', ['admin']), tokenFor('cli-user', [])]);
      const [adminAlone, budgetAlone, othersAlone, userTokenAdmin, asDisagrees] = await Promise.all([
        cli('list', '--admin'),
        cli('budget'),
        cli('list', '--owner', owner),
        run(['list', '--admin', '--token', user], { as: null }),
        run(['list', '--token', admin], { as: 'someone-else' }),
      ]);
      for (const refused of [adminAlone, budgetAlone, othersAlone, userTokenAdmin]) {
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(
          /needs an admin credential: a bearer token holding the admin role .*SYNAPSE_CLI_OPERATOR=true/,
        );
      }
      expect(userTokenAdmin.stderr).toMatch(/the token of cli-user does not hold the admin role/);
      expect(asDisagrees).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/--as someone-else disagrees with the token, whose subject is cli-user/),
      });

      const [byToken, byOperator, budget] = await Promise.all([
        run(['list', '--all', '--json', '--limit', '500', '--token', admin], { as: null }),
        run(['list', '--admin', '--owner', owner, '--json'], { env: { SYNAPSE_CLI_OPERATOR: 'true' } }),
        run(['budget', '--json'], { env: { SYNAPSE_TOKEN: admin } }),
      ]);
      for (const allowed of [byToken, byOperator, budget]) expect(allowed).toMatchObject({ code: 0, stderr: '' });
      for (const listed of [byToken, byOperator])
        expect((JSON.parse(listed.stdout) as { job_id: string }[]).map((j) => j.job_id)).toContain(other.jobId);
      expect(Array.isArray(JSON.parse(budget.stdout))).toBe(true);
    } finally {
      await harness.jobs.waitForJob(other.jobId);
    }
  });

  it('ends watching a job that did not complete with its state and exit 1', async () => {
    // Its one call waits at the gate, so the job is still running when it is cancelled.
    const gate = harness.standin.gate({ items: [`${DEMO_DATA_SOURCE_ID}.email_address`] });
    let jobId: string | undefined;
    try {
      ({ jobId } = await harness.jobs.startJob({
        jobType: 'data_profiling_llm_generation',
        owner: 'cli-user',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        attributeIds: ['email_address'],
      }));
      await gate.waitUntilHeld(1, 30_000);
      await harness.jobs.cancel({ subject: 'cli-user', admin: false }, jobId);
    } finally {
      gate.open();
    }
    const watched = await cli('watch', jobId);
    expect(watched.code).toBe(1);
    expect(watched.stdout).toMatch(new RegExp(`^cancelled in [\\d.]+ s · job ${jobId}$`, 'm'));
  });

  it('says whose jobs it looked for when the list is empty, on stderr with --json', async () => {
    const nobody = `cli-nobody-${randomUUID().slice(0, 8)}`;
    const [human, json] = await Promise.all([run(['list'], { as: nobody }), run(['list', '--json'], { as: nobody })]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      new RegExp(
        `^no jobs owned by ${nobody}; other owners' jobs: --owner NAME or --all with an admin credential .*--as`,
        'm',
      ),
    );
    expect(json).toMatchObject({
      code: 0,
      stdout: '[]\n',
      stderr: expect.stringMatching(`no jobs owned by ${nobody}`),
    });
  });
});

it('imports a legacy file and reports the counts', async () => {
  // Its own small file: the shared sample's ids belong to the legacy-import suite's exact counts.
  const jobId = randomUUID();
  const legacy = {
    [jobId]: {
      job_id: jobId,
      job_type: 'data_profiling',
      status: 'completed',
      progress_percentage: 100,
      total_steps: 4,
      completed_steps: 4,
      created_at: '2025-01-10T14:48:00Z',
      metadata: { user_id: 7 },
    },
    broken: { job_id: 'broken', job_type: 'data_profiling', status: 'completed', created_at: '2025-01-10T14:48:00Z' },
  };
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'legacy-')), 'jobs_storage.json');
  writeFileSync(file, JSON.stringify(legacy));
  const { code, stdout } = await cli('import-legacy', file);
  expect(code).toBe(0);
  expect(stdout).toMatch(/2 records/);
  expect(stdout).toMatch(/imported\s+1/);
  expect(stdout).toMatch(/rejected\s+1/);
  expect((await harness.jobs.job(jobId))?.source).toBe('legacy');
  // Again with --json: the report as one document, nothing imported twice.
  const again = await cli('import-legacy', file, '--json');
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout)).toMatchObject({
    records: 2,
    imported: [],
    alreadyPresent: [jobId],
    resubmitted: [],
  });
});

describe('import-legacy --resubmit', () => {
  // The shared sample, with every UUID in it replaced by a fresh one (consistently): the same records and damage,
  // but ids of its own, since the legacy-import suite counts the sample's own ids in this database.
  const SAMPLE = path.resolve(__dirname, '../fixtures/legacy/jobs_storage.json');
  // The sample's interrupted (running or pending) records whose job type needs nothing but a data source to run again.
  const RESUBMITTABLE = ['e2257159-4720-471f-8ca8-181166d22876', '0a1fb43b-c6e0-473a-8d2f-29e715c2c81a'];
  // The other interrupted valid records: scoping (2), test execution and sampling (2) need parameters the file lacks.
  const SKIPPED = [
    '43c71b9a-bd87-4865-97b6-fb7ebfeaa155',
    '9fc2d0a1-7b8f-4ab5-b451-d0135675f6ad',
    'df703017-04c9-478d-82b3-359986048719',
    '11f2d44d-cc35-4834-b4fa-941200d93534',
    'ed9bf0b6-ed44-4d4e-ae24-1c43643ab9e2',
  ];
  const admin = { subject: 'ops', admin: true };
  const ids = new Map<string, string>();
  let file: string;
  beforeAll(() => {
    const text = readFileSync(SAMPLE, 'utf8').replace(
      /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g,
      (id) => {
        if (!ids.has(id)) ids.set(id, randomUUID());
        return ids.get(id)!;
      },
    );
    file = path.join(mkdtempSync(path.join(os.tmpdir(), 'legacy-resubmit-')), 'jobs_storage.json');
    writeFileSync(file, text);
  });

  const resubmittedOf = (stdout: string) =>
    Object.fromEntries([...stdout.matchAll(/^(?:already )?resubmitted (\S+) as (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  const rowsFor = (legacyIds: string[]) =>
    harness.db
      .selectFrom('jobs')
      .select(['id', 'type', 'owner', 'source', 'status'])
      .where(sql<string>`metadata->>'legacy_job_id'`, 'in', legacyIds)
      .execute();

  it('starts a running job for each resubmittable interrupted record, skips the rest saying why, and a second run starts none again', async () => {
    const legacyIds = RESUBMITTABLE.map((id) => ids.get(id)!);
    // Every call of the resubmitted jobs waits here, so they are observably running when checked and end by cancel.
    const gate = harness.standin.gate({ itemPattern: `^${DEMO_DATA_SOURCE_ID}\\.` });
    const started: string[] = [];
    try {
      const first = await cli('import-legacy', file, '--resubmit', '--data-source', DEMO_DATA_SOURCE_ID);
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/imported\s+60\n/);
      const resubmitted = resubmittedOf(first.stdout);
      expect(Object.keys(resubmitted).sort()).toEqual([...legacyIds].sort());
      expect(first.stdout).not.toMatch(/already resubmitted/);
      for (const id of SKIPPED) expect(first.stdout).toMatch(new RegExp(`^skipped ${ids.get(id)}: .+`, 'm'));
      started.push(...Object.values(resubmitted));

      // Real jobs: a row of this project (not legacy), owned by the legacy owner, and a workflow making LLM calls.
      const rows = await rowsFor(legacyIds);
      expect(rows.map((r) => r.id).sort()).toEqual([...started].sort());
      const byLegacy = Object.fromEntries(rows.map((r) => [r.id, r]));
      expect(byLegacy[resubmitted[ids.get(RESUBMITTABLE[0]!)!]!]).toMatchObject({
        type: 'data_profiling',
        owner: '1',
        source: 'synapse',
      });
      expect(byLegacy[resubmitted[ids.get(RESUBMITTABLE[1]!)!]!]).toMatchObject({
        type: 'data_profiling_llm_generation',
        owner: 'legacy-unknown',
        source: 'synapse',
      });
      for (const jobId of started) {
        await waitFor(
          () => Promise.resolve(harness.standin.calls().filter((c) => c.jobId === jobId && c.held).length),
          (n) => n > 0,
          30_000,
          `a call of resubmitted job ${jobId} held at the gate`,
        );
        expect((await harness.jobs.handle(jobId).describe()).status.name).toBe('RUNNING');
        expect((await harness.jobs.progress(jobId))?.status).toBe('running');
      }
      // The legacy rows themselves stay as imported.
      for (const id of legacyIds)
        expect(await harness.jobs.job(id)).toMatchObject({ source: 'legacy', status: 'failed' });

      const second = await cli('import-legacy', file, '--resubmit', '--data-source', DEMO_DATA_SOURCE_ID);
      expect(second.code).toBe(0);
      expect(second.stdout).toMatch(/imported\s+0\n/);
      expect(second.stdout).toMatch(/already present\s+60\n/);
      expect(resubmittedOf(second.stdout)).toEqual(resubmitted);
      expect(second.stdout.match(/^already resubmitted /gm)).toHaveLength(legacyIds.length);
      expect((await rowsFor(legacyIds)).map((r) => r.id).sort()).toEqual([...started].sort());
    } finally {
      for (const jobId of started) await harness.jobs.cancel(admin, jobId).catch(() => undefined);
      gate.open();
      for (const jobId of started) await harness.jobs.waitForJob(jobId);
    }
  });
});
