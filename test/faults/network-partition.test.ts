// A worker in its own network namespace is cut off in the middle of an activity: the server notices the
// missing heartbeats, another worker redoes the item, and when the link comes back the cut-off worker's
// late result is refused and nothing is stored twice. Needs root and iproute2 (as CI has); skipped otherwise.

import { hostname } from 'node:os';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';
import { sleep, waitFor } from '../support/waiting';
import { spawnWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { demoAttributes, expectEachItemStoredOnce, itemKey, waitUntilFinal } from './support/evidence';
import { activityRunsFor } from './support/history';
import { canIsolateNetwork, createIsolatedNetwork, type IsolatedNetwork } from './support/netns';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';

const describeIfRoot = canIsolateNetwork() ? describe : describe.skip;
const CUT_ITEM = 'credit_limit';
// Long enough that the cut lands while the answer is still being prepared.
const CUT_ITEM_LATENCY_MS = 3_000;
const STALE_SETTLE_MS = 20_000;

describeIfRoot('a worker cut off from the network mid-activity', () => {
  let harness: Harness;
  let network: IsolatedNetwork;
  const proxies: TcpProxy[] = [];
  let isolated: WorkerProcess | undefined;

  beforeAll(async () => {
    harness = await createHarness({ faults: { latencyMs: 100, rules: [{ kind: 'latency', items: [itemKey(CUT_ITEM)], firstCallsPerItem: 1, latencyMs: CUT_ITEM_LATENCY_MS }] } });
    network = createIsolatedNetwork();
  });
  afterAll(async () => {
    await isolated?.kill('SIGKILL');
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
    const d = await forward(database.hostname, Number(database.port || 5432));
    const s = await forward('127.0.0.1', harness.standin.port);
    database.hostname = network.hostAddress;
    database.port = String(d.port);
    return { ...harness.config, TEMPORAL_ADDRESS: `${t.host}:${t.port}`, DATABASE_URL: database.toString(), OPENAI_BASE_URL: `http://${s.host}:${s.port}/v1`, WORKER_DB_POOL_SIZE: 4 };
  }

  it('times the activity out on heartbeat, redoes it on another worker, and refuses the late result', async () => {
    const t0 = Date.now();
    const phases: string[] = [];
    const phase = (name: string) => phases.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    isolated = spawnWorkerProcess(await isolatedConfig(), { wrapper: network.wrapper, logLevel: 'WARN' });
    await isolated.ready;
    phase('ready');
    const attributes = await demoAttributes(harness, 6);
    expect(attributes).toContain(CUT_ITEM);
    const { jobId } = await harness.jobs.startJob({ jobType: 'data_profiling_llm_generation', owner: 'netns-fault', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: attributes, llmConcurrency: 6 });

    // Only the isolated worker polls, so the call in flight is its own.
    await waitFor(async () => harness.standin.callCount(itemKey(CUT_ITEM)), (n) => n === 1, 30_000);
    network.cut();
    const cutAt = Date.now();
    phase('cut');
    const rescuer = await harness.startWorker();
    phase('rescuer');

    const storedRow = () => harness.db.selectFrom('attribute_results').selectAll().where('job_id', '=', jobId).where('attribute', '=', CUT_ITEM).executeTakeFirst();
    const stored = await waitFor(storedRow, (row) => row !== undefined, 90_000);
    const retriedAfterSeconds = (Date.now() - cutAt) / 1000;
    const rulesBefore = await harness.db.selectFrom('profiling_rules').selectAll().where('job_id', '=', jobId).where('attribute', '=', CUT_ITEM).orderBy('rule_index').execute();
    phase('stored');
    const job = await waitUntilFinal(harness, jobId);
    phase('final');

    network.restore();
    // Long enough for the held-back packets to arrive (TCP retransmits back off to tens of seconds) and for
    // the stale worker's next heartbeat to reach the server, which no longer knows its attempt.
    const outputAtRestore = isolated.output().length;
    await sleep(STALE_SETTLE_MS);
    expect(job.status).toBe('completed');
    const runs = await activityRunsFor(harness.temporal, jobId, CUT_ITEM);
    const generation = runs.filter((r) => r.activityType === 'generateValidationRules');
    expect(generation).toHaveLength(1);
    expect(generation[0]).toMatchObject({ completed: true, lastTimeoutType: 'TIMEOUT_TYPE_HEARTBEAT', identity: `${process.pid}@${hostname()}` });
    expect(generation[0]!.attempt).toBeGreaterThanOrEqual(2);

    // Stored once, by the rescuer, and left as it was after the stale worker came back.
    expect(await storedRow()).toEqual(stored);
    expect(await harness.db.selectFrom('profiling_rules').selectAll().where('job_id', '=', jobId).where('attribute', '=', CUT_ITEM).orderBy('rule_index').execute()).toEqual(rulesBefore);
    await expectEachItemStoredOnce(harness, jobId, attributes);
    expect(harness.standin.callCount(itemKey(CUT_ITEM))).toBe(2);

    // The stale worker came back: still running, and its polls stopped failing once the link returned.
    expect(isolated.process.exitCode).toBeNull();
    const afterRestore = isolated.output().slice(outputAtRestore);
    console.info(`netns figures: stored by attempt ${generation[0]!.attempt} on the rescuer ${retriedAfterSeconds.toFixed(1)} s after the cut; stale worker after the link returned: ${afterRestore.trim() ? afterRestore.trim().split('\n').slice(0, 3).join(' | ') : 'nothing logged'}`);
    await rescuer.stop();
    phase('checked');
    console.info(`netns phases: ${phases.join(', ')}`);
  });
});
