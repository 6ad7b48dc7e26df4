// The shared fault check (support/evidence.ts expectEachItemStoredOnce) can fail: on its own, over evidence
// written out by hand, and against a real job whose one item is asked twice before it is stored (a second
// execution's call, sent to the real stand-in with the job's id while the first execution's call is held at
// a gate) — the double call a primary key on the stored row can never show.

import { createOpenAiClient } from '../../activities/llm/llm';
import { VALIDATION_RULES_TASK } from '../../activities/profiling/profiling-prompts';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import type { CallRecord } from '../../llm-standin/server';
import { createHarness, type Harness, type RunningWorker } from '../support/harness';
import {
  demoAttributes,
  expectEachItemStoredOnce,
  itemCallBreaches,
  itemKey,
  storedEvidence,
  waitUntilFinal,
  type CallEvidence,
} from './support/evidence';

describe('the per-item call rule on its own', () => {
  const call = (callNumber: number, item: string, extra: Partial<CallRecord> = {}): CallRecord => ({
    itemKey: item,
    jobId: 'job-1',
    callNumber,
    receivedAt: 1_000 + callNumber,
    outcome: 'ok',
    status: 200,
    promptTokens: 10,
    ...extra,
  });
  const evidence = (calls: CallRecord[], attempts: Record<string, number>, storedAt = 10_000): CallEvidence => ({
    jobId: 'job-1',
    calls,
    stored: Object.keys(attempts).map((item) => ({ itemKey: item, storedAt })),
    executions: new Map(Object.entries(attempts).map(([item, n]) => [item, { attempts: n, completed: 1 }])),
  });

  it('passes one answered call per attempt, and calls that paid for nothing (429, 5xx, aborted) or were for another job', () => {
    const calls = [
      call(1, 'a'),
      call(2, 'b', { outcome: 'rate_limited', status: 429 }),
      call(3, 'b', { outcome: 'server_error', status: 503 }),
      call(4, 'b', { outcome: 'client_aborted', status: undefined }),
      call(5, 'b'),
      call(6, 'c'),
      call(7, 'c'),
      call(8, 'a', { jobId: 'job-2' }),
    ];
    expect(itemCallBreaches(evidence(calls, { a: 1, b: 1, c: 2 }))).toEqual([]);
  });

  it('fails an item answered twice on one attempt, and one asked after its result was stored', () => {
    expect(itemCallBreaches(evidence([call(1, 'a'), call(2, 'a')], { a: 1 }))).toEqual([
      'a: answered 2 times (calls 1, 2) for 1 attempt(s) in the history (0 cut short)',
    ]);
    expect(
      itemCallBreaches(
        evidence([call(1, 'a'), call(2, 'a', { outcome: 'rate_limited', status: 429, receivedAt: 20_000 })], { a: 1 }),
      ),
    ).toEqual(['a: asked 1 time(s) after its result was stored (calls 2)']);
  });
});

describe('the check against a real job', () => {
  let harness: Harness;
  let worker: RunningWorker;
  beforeAll(async () => {
    harness = await createHarness();
    worker = await harness.startWorker();
  });
  afterAll(async () => {
    await worker?.stop();
    await harness?.close();
  });

  it('passes a clean job, and fails once one item was asked twice before it was stored, naming only that item', async () => {
    const attributes = await demoAttributes(harness, 4);
    const clean = await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: 'double-call',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: attributes,
      llmConcurrency: 4,
    });
    expect((await waitUntilFinal(harness, clean.jobId)).status).toBe('completed');
    await expectEachItemStoredOnce(harness, clean.jobId, attributes);

    // The job's first call for the victim waits at the gate; meanwhile a second execution asks for the same item.
    const victim = attributes[2]!;
    const gate = harness.standin.gate({ items: [itemKey(victim)], limit: 1 });
    const { jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: 'double-call',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: attributes,
      llmConcurrency: 4,
    });
    await gate.waitUntilHeld(1, 30_000);
    const [column] = await harness.db
      .selectFrom('data_source_attributes')
      .select(['name', 'data_type as dataType', 'description'])
      .where('data_source_id', '=', DEMO_DATA_SOURCE_ID)
      .where('name', '=', victim)
      .execute();
    const openai = createOpenAiClient({
      apiKey: harness.config.OPENAI_API_KEY,
      baseURL: harness.standin.url,
      timeoutMs: 30_000,
    });
    await openai.chat.completions.create(
      {
        model: harness.config.OPENAI_MODEL,
        messages: [
          {
            role: 'user',
            content: [
              `TASK: ${VALIDATION_RULES_TASK}`,
              `ITEM: ${itemKey(victim)}`,
              'Column:',
              JSON.stringify(column),
            ].join('\n'),
          },
        ],
      },
      { headers: { 'x-synapse-job-id': jobId, 'x-synapse-call-id': 'second-execution' } },
    );
    gate.open();
    expect((await waitUntilFinal(harness, jobId)).status).toBe('completed');

    // Real rows: the victim is stored once (its primary key would allow nothing else), and that alone proves nothing.
    const stored = await harness.db
      .selectFrom('attribute_results')
      .select('attribute')
      .where('job_id', '=', jobId)
      .execute();
    expect(stored.map((r) => r.attribute).sort()).toEqual([...attributes].sort());
    const asked = harness.standin
      .calls()
      .filter((c) => c.jobId === jobId && c.itemKey === itemKey(victim) && c.outcome === 'ok');
    expect(asked).toHaveLength(2);
    expect((await storedEvidence(harness, jobId)).breaches).toEqual([
      `${itemKey(victim)}: answered 2 times (calls ${asked.map((c) => c.callNumber).join(', ')}) for 1 attempt(s) in the history (0 cut short)`,
    ]);
    await expect(expectEachItemStoredOnce(harness, jobId, attributes)).rejects.toThrow(
      new RegExp(`${itemKey(victim).replace(/\./g, '\\.')}: answered 2 times .* for 1 attempt\\(s\\)`),
    );
  }, 120_000);
});
