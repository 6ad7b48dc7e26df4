// Structured outputs through a whole job, with the real openai client against the stand-in: the LLM call sends its
// answer's strict JSON Schema (the stand-in would refuse a loose one with a 400), a strict answer's nulls are read as
// absent fields, a model set to json_object is asked for JSON only, and an answer that breaks the schema is still
// caught by validation, asked again, and counted in the worker's metrics by response format.

import { VALIDATION_RULES_TASK } from '../../activities/profiling/profiling-prompts';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { installWorkerRuntime } from '../../workers/metrics';
import { createHarness, type Harness } from '../support/harness';
import { sample } from '../support/metrics-text';
import { freePort } from '../support/ports';
import { waitFor } from '../support/waiting';

const itemKey = (attribute: string) => `${DEMO_DATA_SOURCE_ID}.${attribute}`;
// account_open_date gets a date_range with notBefore only: its strict answer writes notAfter as null.
const attributeIds = ['credit_score', 'account_status', 'account_open_date'];
/** A model without structured outputs, as LLM_RESPONSE_FORMATS names it. */
const JSON_OBJECT_MODEL = 'no-structured-outputs';

let harness: Harness;
let metricsUrl: string;

beforeAll(async () => {
  const port = await freePort();
  // The runtime is one per process and must carry the exporter before the harness installs its quiet one.
  installWorkerRuntime({ WORKER_OPS_HOST: '127.0.0.1', WORKER_METRICS_PORT: port }, 'ERROR');
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
  // account_status's first answer of each run breaks the schema (the stand-in is reset between runs).
  harness = await createHarness({
    faults: { rules: [{ kind: 'wrong_shape', items: [itemKey('account_status')], firstCallsPerItem: 1 }] },
  });
});
afterAll(() => harness?.close());

/**
 * Profiles the attributes with a worker of these settings: the job, its calls as the stand-in logged them, and the
 * worker's metrics once its requests under `labels` are all counted (read while the worker runs: the runtime serves
 * them only while it has a worker).
 */
async function profileWith(overrides: Parameters<Harness['startWorker']>[0], labels: Record<string, string>) {
  harness.standin.reset();
  const worker = await harness.startWorker(overrides);
  try {
    const { jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: 'structured-outputs',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds,
      llmConcurrency: 3,
    });
    const job = await harness.jobs.waitForJob(jobId);
    const calls = harness.standin.calls().filter((c) => c.jobId === jobId);
    const metrics = await waitFor(
      async () => (await fetch(metricsUrl)).text(),
      (text) => sample(text, 'synapse_llm_requests', labels) === calls.length,
      10_000, // counters reach the exporter within its export interval: seconds at most
      `synapse_llm_requests ${JSON.stringify(labels)} to count the job's ${calls.length} calls`,
    );
    return { jobId, job, calls, metrics };
  } finally {
    await worker.stop();
  }
}

test('sends each call the strict JSON Schema of its answer, reads absent fields from nulls, and still catches, asks again and counts a broken answer', async () => {
  const labels = { taskQueue: harness.config.TEMPORAL_TASK_QUEUE, response_format: 'json_schema' };
  const { jobId, job, calls, metrics } = await profileWith({}, labels);
  expect(job).toMatchObject({ status: 'completed', result: { attributesTotal: 3, attributesFailed: 0 } });

  // Four calls: one per attribute, and account_status asked again after its wrong-shaped answer.
  expect(calls).toHaveLength(4);
  for (const call of calls) {
    // The stand-in answers 400 to a schema a provider would refuse: 200 says it was strict-valid.
    expect(call).toMatchObject({
      status: 200,
      responseFormat: { type: 'json_schema', name: VALIDATION_RULES_TASK, strict: true },
    });
  }
  expect(
    calls.filter((c) => c.itemKey === itemKey('account_status')).map((c) => [c.outcome, c.answerConforms]),
  ).toEqual([
    ['wrong_shape', false],
    ['ok', true],
  ]);
  expect(calls.filter((c) => c.outcome === 'ok').every((c) => c.answerConforms === true)).toBe(true);

  // The strict answer said notAfter: null; the rule is stored without it, as the rule schema reads it.
  const dateRules = await harness.db
    .selectFrom('profiling_rules')
    .select('rule')
    .where('job_id', '=', jobId)
    .where('attribute', '=', 'account_open_date')
    .execute();
  expect(dateRules.map((r) => r.rule)).toContainEqual({ kind: 'date_range', notBefore: '1990-01-01' });

  expect(sample(metrics, 'synapse_llm_invalid_outputs', labels)).toBe(1);
});

test('asks a model set to json_object for JSON without a schema, and counts its broken answer under json_object', async () => {
  const labels = {
    taskQueue: harness.config.TEMPORAL_TASK_QUEUE,
    model: JSON_OBJECT_MODEL,
    response_format: 'json_object',
  };
  const { job, calls, metrics } = await profileWith(
    { OPENAI_MODEL: JSON_OBJECT_MODEL, LLM_RESPONSE_FORMATS: { [JSON_OBJECT_MODEL]: 'json_object' } },
    labels,
  );
  expect(job).toMatchObject({ status: 'completed', result: { attributesTotal: 3, attributesFailed: 0 } });
  expect(calls).toHaveLength(4);
  for (const call of calls) {
    expect(call.responseFormat).toEqual({ type: 'json_object' });
    expect(call.answerConforms).toBeUndefined();
  }
  expect(sample(metrics, 'synapse_llm_invalid_outputs', labels)).toBe(1);
});
