// The LLM misbehaving: 429 storms with Retry-After, 5xx bursts, hangs, refusals and malformed output.
// Jobs finish; what cannot be answered ends as a failed attribute with a readable reason.

import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness({ config: { LLM_REQUEST_TIMEOUT_MS: 1_500 } });
  await harness.startWorker();
});
afterAll(() => harness.close());
beforeEach(() => harness.standin.reset());

const item = (attribute: string) => `${DEMO_DATA_SOURCE_ID}.${attribute}`;

async function runJob(attributeIds: string[]) {
  const { jobId } = await harness.jobs.startJob({ jobType: 'data_profiling_llm_generation', owner: 'faults', dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds, llmConcurrency: 10 });
  const job = await harness.jobs.waitForJob(jobId);
  const results = await harness.db.selectFrom('attribute_results').selectAll().where('job_id', '=', jobId).orderBy('attribute').execute();
  return { job, results };
}

const attributes = ['credit_score', 'apr_rate', 'credit_limit', 'account_status', 'billing_zip', 'email_address', 'phone_number', 'cardholder_age'];

describe('LLM faults', () => {
  it('waits at least the Retry-After of every 429 before asking again, and completes', async () => {
    harness.standin.setFaults({ rules: [{ kind: 'rate_limit', firstCallsPerItem: 2, retryAfterSeconds: 2 }] });
    const { job, results } = await runJob(attributes);
    expect(job?.status).toBe('completed');
    expect(results.every((r) => r.status === 'completed')).toBe(true);
    for (const attribute of attributes) {
      const calls = harness.standin.calls().filter((c) => c.itemKey === item(attribute));
      expect(calls.map((c) => c.outcome)).toEqual(['rate_limited', 'rate_limited', 'ok']);
      for (let i = 1; i < calls.length; i++) expect(calls[i]!.receivedAt - calls[i - 1]!.receivedAt).toBeGreaterThanOrEqual(2_000);
    }
  });

  it('rides out 5xx bursts and hung requests', async () => {
    harness.standin.setFaults({
      rules: [
        { kind: 'server_error', items: [item('credit_score'), item('apr_rate')], firstCallsPerItem: 2, status: 503 },
        { kind: 'hang', items: [item('credit_limit')], firstCallsPerItem: 1 },
      ],
    });
    const { job, results } = await runJob(attributes);
    expect(job?.status).toBe('completed');
    expect(results.filter((r) => r.status === 'completed')).toHaveLength(attributes.length);
    expect(harness.standin.callCount(item('credit_score'))).toBe(3);
    const hung = harness.standin.calls().filter((c) => c.itemKey === item('credit_limit'));
    expect(hung.map((c) => c.outcome)).toEqual(['client_aborted', 'ok']);
  });

  it('records malformed and wrongly shaped output as failed attributes with the reason, and completes the rest', async () => {
    harness.standin.setFaults({
      rules: [
        { kind: 'malformed', items: [item('credit_score')] },
        { kind: 'wrong_shape', items: [item('apr_rate')] },
      ],
    });
    const { job, results } = await runJob(attributes);
    expect(job?.status).toBe('completed');
    expect(job?.error).toMatch(/^2 of 8 attributes failed: /);
    const failed = results.filter((r) => r.status === 'failed');
    expect(failed.map((r) => r.attribute)).toEqual(['apr_rate', 'credit_score']);
    expect(failed.find((r) => r.attribute === 'credit_score')?.failure_reason).toMatch(/invalid LLM output after 3 attempts: not JSON/);
    expect(failed.find((r) => r.attribute === 'apr_rate')?.failure_reason).toMatch(/invalid LLM output after 3 attempts: does not match the schema \(rules: /);
    // Re-asking is bounded: three tries, no more.
    expect(harness.standin.callCount(item('credit_score'))).toBe(3);
    expect(job?.result).toMatchObject({ attributesFailed: 2, attributesProfiled: 6 });
  });

  it('does not retry a request the provider rejects, and says why', async () => {
    harness.standin.setFaults({ rules: [{ kind: 'server_error', items: [item('billing_zip')], status: 400 }] });
    const { job, results } = await runJob(attributes);
    expect(job?.status).toBe('completed');
    expect(harness.standin.callCount(item('billing_zip'))).toBe(1);
    expect(results.find((r) => r.attribute === 'billing_zip')).toMatchObject({ status: 'failed', failure_reason: expect.stringMatching(/LLM rejected the request \(400\)/) });
  });

  it('fails the job when every attribute fails, with the reasons', async () => {
    harness.standin.setFaults({ rules: [{ kind: 'malformed' }] });
    const { job } = await runJob(['credit_score', 'apr_rate']);
    expect(job?.status).toBe('failed');
    expect(job?.error).toMatch(/2 of 2 attributes failed/);
  });
});
