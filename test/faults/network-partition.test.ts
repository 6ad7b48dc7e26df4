// A worker in its own network namespace is cut off in the middle of an activity: the server notices the
// missing heartbeats, another worker redoes the item, the cut-off worker gives its attempt up, and when the
// link comes back nothing it held is written and nothing is stored twice. Needs root and iproute2 (as CI
// has); skipped otherwise.
//
// No race with the stand-in's speed: the cut item's first call (the isolated worker's) waits at a gate until
// the cut is made, and only then is answered, into the partition. What became of the stale attempt is read,
// with a bound, from the stale worker's own log instead of a fixed 20 s sleep: its SDK, unable to heartbeat
// for longer than the heartbeat timeout, cancels the attempt itself ("Activity completed as cancelled" for
// generateValidationRules), so a late result never reaches the server at all — there is no late completion
// for the server to refuse. The stored rows are then checked unchanged after the link is back.

import { hostname } from 'node:os';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/waiting';
import { endAllSpawnedWorkers, spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { demoAttributes, expectEachItemStoredOnce, itemKey, storedCount, waitUntilFinal } from './support/evidence';
import { describeFacts, jobHistory } from '../support/job-history';
import { activityRunsFor } from './support/history';
import { canIsolateNetwork, createIsolatedNetwork, type IsolatedNetwork } from './support/netns';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';

const describeIfRoot = canIsolateNetwork() ? describe : describe.skip;
const CUT_ITEM = 'credit_limit';
/**
 * The stale attempt is given up one heartbeat timeout (10 s) after its last heartbeat got through; 60 s allows a busy
 * machine.
 */
const STALE_GIVE_UP_BOUND_MS = 60_000;

/**
 * The stale worker's DEBUG log line (one JSON line each, workers/logging.ts) for the cut item's activity ending as
 * cancelled (the SDK's own words).
 */
function staleAttemptCancelled(output: string): string | undefined {
  return output
    .split('\n')
    .find(
      (entry) =>
        entry.includes('"msg":"Activity completed as cancelled"') &&
        entry.includes('"activityType":"generateValidationRules"'),
    );
}

describeIfRoot('a worker cut off from the network mid-activity', () => {
  let harness: Harness;
  let network: IsolatedNetwork;
  const proxies: TcpProxy[] = [];
  let isolated: WorkerProcess | undefined;
  let temporalProxy: TcpProxy | undefined;

  beforeAll(async () => {
    harness = await createHarness();
    network = createIsolatedNetwork();
  });
  afterAll(async () => {
    await endAllSpawnedWorkers();
    for (const proxy of proxies) await proxy.close();
    network?.destroy();
    await harness?.close();
  });

  /** The worker's view of Temporal, PostgreSQL and the LLM: each through a forwarder on the veth address. */
  async function isolatedConfig() {
    const [temporalHost, temporalPort] = harness.config.TEMPORAL_ADDRESS.split(':');
    const database = new URL(harness.config.DATABASE_URL);
    const forward = async (host: string, port: number) => {
      const proxy = await startTcpProxy(network.hostAddress, { host, port });
      proxies.push(proxy);
      return proxy;
    };
    const t = await forward(temporalHost!, Number(temporalPort));
    temporalProxy = t;
    const d = await forward(database.hostname, Number(database.port || 5432));
    const s = await forward('127.0.0.1', harness.standin.port);
    database.hostname = network.hostAddress;
    database.port = String(d.port);
    return {
      ...harness.config,
      TEMPORAL_ADDRESS: `${t.host}:${t.port}`,
      DATABASE_URL: database.toString(),
      OPENAI_BASE_URL: `http://${s.host}:${s.port}/v1`,
      WORKER_DB_POOL_SIZE: 4,
    };
  }

  it('times the activity out on heartbeat, redoes it on another worker, and the cut-off worker gives its attempt up, writing nothing', async () => {
    const t0 = Date.now();
    const phases: string[] = [];
    const phase = (name: string) => phases.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // DEBUG: the SDK says at that level how each activity ended, which is how the stale attempt's end is observed.
    isolated = spawnWorkerProcess(await isolatedConfig(), { wrapper: network.wrapper, logLevel: 'DEBUG' });
    await isolated.ready;
    phase('ready');
    const attributes = await demoAttributes(harness, 6);
    expect(attributes).toContain(CUT_ITEM);
    const gate = harness.standin.gate({ items: [itemKey(CUT_ITEM)], limit: 1 });
    const { jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: 'netns-fault',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: attributes,
      llmConcurrency: 6,
    });

    // Only the isolated worker polls, so the held call is its own. Cut once it is the only work in flight (the
    // other five items stored), then answer it into the partition.
    await gate.waitUntilHeld(1, 30_000);
    await waitFor(
      () => storedCount(harness, jobId),
      (n) => n === attributes.length - 1,
      30_000,
      `the ${attributes.length - 1} other items stored before the cut`,
    );
    network.cut();
    const cutAt = Date.now();
    phase('cut');
    gate.release();
    const rescuer = await harness.startWorker();
    phase('rescuer');

    const storedRow = () =>
      harness.db
        .selectFrom('attribute_results')
        .selectAll()
        .where('job_id', '=', jobId)
        .where('attribute', '=', CUT_ITEM)
        .executeTakeFirst();
    const storedRules = () =>
      harness.db
        .selectFrom('profiling_rules')
        .selectAll()
        .where('job_id', '=', jobId)
        .where('attribute', '=', CUT_ITEM)
        .orderBy('rule_index')
        .execute();
    // The heartbeat timeout (10 s), a retry's back-off and one call, with room for a busy machine.
    const stored = await waitFor(storedRow, (row) => row !== undefined, 90_000, `${CUT_ITEM} stored by the rescuer`);
    const retriedAfterSeconds = (Date.now() - cutAt) / 1000;
    const rulesBefore = await storedRules();
    phase('stored');
    const job = await waitUntilFinal(harness, jobId, 120_000).catch(async (error: Error) => {
      // A lost workflow or activity task shows in the history: say where the job stood.
      const { raw } = await harness.jobs.handle(jobId).describe();
      error.message += `\nhistory: ${describeFacts(await jobHistory(harness.temporal, jobId))}\npending activities: ${JSON.stringify(raw.pendingActivities)}\npending workflow task: ${JSON.stringify(raw.pendingWorkflowTask)}`;
      throw error;
    });
    phase('final');
    expect(job.status).toBe('completed');

    // The stale worker gave its attempt up on its own, while still cut off.
    const cancelled = await waitFor(
      async () => staleAttemptCancelled(isolated!.output()),
      (entry) => entry !== undefined,
      STALE_GIVE_UP_BOUND_MS,
      'the stale worker to give up its attempt at the cut item',
    );
    phase('stale gave up');
    network.restore();
    // Back in contact: the stale worker's RPCs (polls, retried since the cut) reach the server again. TCP
    // retransmissions back off during a partition, so allow a minute.
    const heardBefore = temporalProxy!.bytesFromClients();
    await waitFor(
      async () => temporalProxy!.bytesFromClients(),
      (n) => n > heardBefore,
      60_000,
      'the stale worker talking to Temporal again after the link returned',
    );
    phase('stale back');
    const runs = await activityRunsFor(harness.temporal, jobId, CUT_ITEM);
    const generation = runs.filter((r) => r.activityType === 'generateValidationRules');
    expect(generation).toHaveLength(1);
    expect(generation[0]).toMatchObject({
      completed: true,
      lastTimeoutType: 'TIMEOUT_TYPE_HEARTBEAT',
      identity: `${process.pid}@${hostname()}`,
    });
    expect(generation[0]!.attempt).toBeGreaterThanOrEqual(2);

    // The isolated worker's attempt is the one before the rescuer's: it ran attempt 1 on the stale worker.
    expect((JSON.parse(cancelled!) as { attempt?: number }).attempt).toBe(1);
    // Stored once, by the rescuer, and left as it was after the stale worker came back.
    expect(await storedRow()).toEqual(stored);
    expect(await storedRules()).toEqual(rulesBefore);
    await expectEachItemStoredOnce(harness, jobId, attributes);
    expect(harness.standin.callCount(itemKey(CUT_ITEM))).toBe(2);

    // The stale worker came back: still running, and talking to the server again.
    expect(isolated.process.exitCode).toBeNull();
    console.info(
      `netns figures: stored by attempt ${generation[0]!.attempt} on the rescuer ${retriedAfterSeconds.toFixed(1)} s after the cut; stale attempt ended: ${cancelled!.split('\n')[0]}`,
    );
    await rescuer.stop();
    phase('checked');
    console.info(`netns phases: ${phases.join(', ')}`);
  });
});
