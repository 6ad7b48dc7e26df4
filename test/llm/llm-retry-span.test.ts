// Transient LLM failures are retried by time, not by attempts: a 429 storm longer than the old ten attempts is
// waited out inside the attempt (with and without the fleet budget), heartbeating what it waits for, and the job
// completes; a storm outlasting LLM_RETRY_SPAN_MS fails its attributes non-retryably, naming the error class.

import { defaultPayloadConverter } from '@temporalio/common';
import type { LlmActivityHeartbeat } from '../../common/llm';
import type { Config } from '../../config';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { demoAttributes, expectEachItemStoredOnce, itemKey } from '../faults/support/evidence';
import { activityRunsFor } from '../faults/support/history';
import { createHarness, type Harness, type RunningWorker } from '../support/harness';
import { waitFor } from '../support/waiting';

let harness: Harness;
let worker: RunningWorker | undefined;
beforeAll(async () => {
  harness = await createHarness({ config: { LLM_REQUEST_TIMEOUT_MS: 1_500 } });
});
beforeEach(() => harness.standin.reset());
afterEach(async () => {
  await worker?.stop();
  worker = undefined;
});
afterAll(() => harness.close());

/**
 * LLM_ACTIVITY's maximumAttempts before transient failures were retried by time: a storm this long failed every
 * attribute.
 */
const OLD_ATTEMPTS = 10;

const budgetOn: Partial<Config> = {
  LLM_BUDGET_ENABLED: true,
  OPENAI_MODEL: 'retry-span-budget-model',
  LLM_RPM_LIMIT: 1_000,
  LLM_TPM_LIMIT: 10_000_000,
  LLM_BUDGET_WINDOW_MS: 3_000,
};

const rateLimitedCalls = (attribute: string) =>
  harness.standin.calls().filter((c) => c.itemKey === itemKey(attribute) && c.outcome === 'rate_limited').length;

/** The heartbeat details and attempt of each LLM activity the job has pending, as the status API reads them. */
async function pendingLlmActivities(jobId: string): Promise<{ attempt: number; details?: LlmActivityHeartbeat }[]> {
  const { raw } = await harness.jobs.handle(jobId).describe();
  return (raw.pendingActivities ?? [])
    .filter((a) => a.activityType?.name === 'generateValidationRules')
    .map((a) => {
      const payload = a.heartbeatDetails?.payloads?.[0];
      return {
        attempt: a.attempt ?? 0,
        details: payload ? defaultPayloadConverter.fromPayload<LlmActivityHeartbeat>(payload) : undefined,
      };
    });
}

async function startProfiling(attributes: string[]): Promise<string> {
  const { jobId } = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner: 'retry-span',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: attributes,
    llmConcurrency: attributes.length,
  });
  return jobId;
}

async function expectEveryRunOnItsFirstAttempt(jobId: string, attributes: string[]): Promise<void> {
  for (const attribute of attributes) {
    const runs = await activityRunsFor(harness.temporal, jobId, attribute);
    expect(runs.filter((r) => r.activityType === 'generateValidationRules').map((r) => r.attempt)).toEqual([1]);
  }
}

describe.each([
  ['without a budget', {}],
  ['with the fleet budget', budgetOn],
])('a 429 storm (%s)', (_, budget) => {
  it('is waited out past the old ten attempts on the first attempt, heartbeating why, and the job completes with every attribute stored once', async () => {
    worker = await harness.startWorker({ ...budget, LLM_RETRY_SPAN_MS: 120_000 });
    const attributes = await demoAttributes(harness, 4);
    harness.standin.setFaults({ rules: [{ kind: 'rate_limit', retryAfterSeconds: 1 }] });
    const jobId = await startProfiling(attributes);

    await waitFor(
      async () => attributes.map(rateLimitedCalls),
      (counts) => counts.every((n) => n > OLD_ATTEMPTS),
      60_000,
      `every attribute answered 429 more than ${OLD_ATTEMPTS} times`,
    );
    const pending = await pendingLlmActivities(jobId);
    expect(pending).toHaveLength(attributes.length);
    for (const { attempt, details } of pending) {
      expect(attempt).toBe(1);
      expect(details).toMatchObject({
        item: expect.any(String),
        calls: expect.any(Number),
        waitingFor: expect.stringMatching(/^(budget|llm|retry)$/),
        retries: expect.any(Number),
        lastErrorType: 'LlmRateLimited',
        lastError: expect.stringMatching(/^LLM rate limited \(429\)/),
      });
      // Each retry the heartbeat counts is a 429 the stand-in sent that item (read after the heartbeat, so at least as
      // many).
      expect(details!.retries).toBeGreaterThanOrEqual(OLD_ATTEMPTS);
      expect(details!.retries).toBeLessThanOrEqual(rateLimitedCalls(details!.item.split('.').at(-1)!));
    }
    harness.standin.setFaults({});

    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({
      status: 'completed',
      error: null,
      result: expect.objectContaining({ attributesProfiled: attributes.length, attributesFailed: 0 }),
    });
    await expectEachItemStoredOnce(harness, jobId, attributes);
    for (const attribute of attributes) {
      const outcomes = harness.standin
        .calls()
        .filter((c) => c.itemKey === itemKey(attribute))
        .map((c) => c.outcome);
      expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
      expect(outcomes.at(-1)).toBe('ok');
    }
    await expectEveryRunOnItsFirstAttempt(jobId, attributes);
  }, 120_000);

  it('fails each attribute whose storm outlasts LLM_RETRY_SPAN_MS, non-retryably, naming the error class', async () => {
    worker = await harness.startWorker({ ...budget, LLM_RETRY_SPAN_MS: 8_000 });
    const [limited, unavailable] = (await demoAttributes(harness, 6)).slice(4) as [string, string];
    harness.standin.setFaults({
      rules: [
        { kind: 'server_error', items: [itemKey(unavailable)], status: 503 },
        { kind: 'rate_limit', retryAfterSeconds: 1 },
      ],
    });
    const jobId = await startProfiling([limited, unavailable]);

    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'failed', error: expect.stringMatching(/^2 of 2 attributes failed: /) });
    const results = await harness.db
      .selectFrom('attribute_results')
      .select(['attribute', 'status', 'failure_reason'])
      .where('job_id', '=', jobId)
      .execute();
    const reason = (attribute: string) => results.find((r) => r.attribute === attribute)?.failure_reason;
    expect(reason(limited)).toMatch(
      /^LlmRateLimited for \d+ s, past the 8 s retry span \(LLM_RETRY_SPAN_MS\), after \d+ transient failures; last: LLM rate limited \(429\)/,
    );
    expect(reason(unavailable)).toMatch(
      /^LlmUnavailable for \d+ s, past the 8 s retry span \(LLM_RETRY_SPAN_MS\), after \d+ transient failures; last: LLM server error 503/,
    );
    // The failures the reason counts are exactly the failed calls the stand-in answered for that item: a 429 every
    // second or so for eight seconds; 503s back off 2 s, then 4 s, and the next 8 s would end past the span.
    const counted = (attribute: string) => Number(/after (\d+) transient failures/.exec(reason(attribute) ?? '')?.[1]);
    expect(counted(limited)).toBe(rateLimitedCalls(limited));
    expect(rateLimitedCalls(limited)).toBeGreaterThanOrEqual(5);
    expect(
      harness.standin
        .calls()
        .filter((c) => c.itemKey === itemKey(unavailable))
        .map((c) => c.outcome),
    ).toEqual(['server_error', 'server_error', 'server_error']);
    expect(counted(unavailable)).toBe(3);
    await expectEveryRunOnItsFirstAttempt(jobId, [limited, unavailable]);
  }, 120_000);
});

describe('a run of 5xx answers', () => {
  /**
   * LlmUnavailable backs off 2 s, then 4 s, then 8 s (activities/llm/llm-errors.ts): with a 10 s LLM_RETRY_SPAN_MS the
   * third failure, about 6 s in, would retry past the span (6 + 8 > 10), so an item whose provider keeps failing is
   * asked exactly three times; 10 s sits in the middle of the 6–14 s gap, so a busy machine moves no boundary.
   */
  it('is retried with backoff exactly as many times as fit LLM_RETRY_SPAN_MS, then fails the item as LlmUnavailable; a shorter burst recovers', async () => {
    worker = await harness.startWorker({ LLM_RETRY_SPAN_MS: 10_000 });
    const [down, burst] = (await demoAttributes(harness, 8)).slice(6) as [string, string];
    harness.standin.setFaults({
      rules: [
        { kind: 'server_error', items: [itemKey(down)], status: 502 },
        { kind: 'server_error', items: [itemKey(burst)], firstCallsPerItem: 2, status: 503 },
      ],
    });
    const jobId = await startProfiling([down, burst]);

    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', error: expect.stringMatching(/^1 of 2 attributes failed: /) });
    const results = await harness.db
      .selectFrom('attribute_results')
      .select(['attribute', 'status', 'failure_reason'])
      .where('job_id', '=', jobId)
      .execute();
    expect(results.find((r) => r.attribute === down)).toMatchObject({
      status: 'failed',
      failure_reason: expect.stringMatching(
        /^LlmUnavailable for \d+ s, past the 10 s retry span \(LLM_RETRY_SPAN_MS\), after 3 transient failures; last: LLM server error 502/,
      ),
    });
    expect(results.find((r) => r.attribute === burst)).toMatchObject({ status: 'completed' });
    const callsOf = (attribute: string) => harness.standin.calls().filter((c) => c.itemKey === itemKey(attribute));
    expect(callsOf(down).map((c) => c.status)).toEqual([502, 502, 502]);
    expect(callsOf(burst).map((c) => c.status)).toEqual([503, 503, 200]);
    // The backoff is waited, never shortened: 2 s before the second call, 4 s before the third (lower bounds only;
    // 10 ms for a timer that fires on the millisecond it was due, rounded down).
    const gaps = callsOf(down)
      .slice(1)
      .map((c, i) => c.receivedAt - callsOf(down)[i]!.finishedAt!);
    expect(gaps[0]).toBeGreaterThanOrEqual(1_990);
    expect(gaps[1]).toBeGreaterThanOrEqual(3_990);
    await expectEveryRunOnItsFirstAttempt(jobId, [down, burst]);
  }, 120_000);
});
