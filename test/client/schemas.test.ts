// The published start-request schemas (schemas/<job type>.schema.json) are what the generator writes from the code
// that admits a request, and every example in them is a request that admission accepts; a snake_case request is
// refused naming the camelCase field; the CLI commands in docs/start-from-any-client.md start those examples. That the
// examples also run, to completion, is the Python caller's suite's job.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidJobRequestError } from '../../client/errors';
import { validateStartRequest } from '../../client/start-request';
import { jobTypeOfWorkflow, JobType, WORKFLOW_TYPES } from '../../common/jobs';
import { loadConfig } from '../../config';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { generateSchemas, SCHEMAS_DIR, schemaFileName, staleSchemaFiles } from '../../scripts/generate-schemas';

const settings = loadConfig({});
const jobTypes = Object.values(JobType);

interface PublishedSchema {
  'x-workflow-type': string;
  properties: Record<string, unknown>;
  required: string[];
  additionalProperties: boolean;
  examples: Record<string, unknown>[];
}

const published = (jobType: JobType) =>
  JSON.parse(readFileSync(path.join(SCHEMAS_DIR, schemaFileName(jobType)), 'utf8')) as PublishedSchema;

test('every schema file is exactly what the generator writes, and there is one per job type', () => {
  const generated = generateSchemas();
  expect([...generated.keys()].sort()).toEqual(jobTypes.map(schemaFileName).sort());
  for (const [file, text] of generated) expect(readFileSync(path.join(SCHEMAS_DIR, file), 'utf8')).toBe(text);
  expect(staleSchemaFiles()).toEqual([]);
});

test.each(jobTypes)('%s: every example is a request that admission accepts, with or without its jobType', (jobType) => {
  const schema = published(jobType);
  expect(schema['x-workflow-type']).toBe(WORKFLOW_TYPES[jobType]);
  expect(schema.additionalProperties).toBe(false);
  expect(schema.examples.length).toBeGreaterThan(0);
  for (const example of schema.examples) {
    // The schema itself lists every key an example uses and each key it requires.
    for (const key of Object.keys(example)) expect(Object.keys(schema.properties)).toContain(key);
    for (const key of schema.required) expect(Object.keys(example)).toContain(key);
    expect(validateStartRequest(example, settings)).toMatchObject({ jobType, owner: example.owner });
    // Started by workflow type, the request may leave jobType out.
    const { jobType: _given, ...untyped } = example;
    expect(validateStartRequest(untyped, settings, jobType)).toMatchObject({ jobType });
  }
});

test('a snake_case request is refused, naming each field with its camelCase spelling', () => {
  const request = { owner: 'analyst@example.com', data_source_id: DEMO_DATA_SOURCE_ID, attribute_ids: ['apr_rate'] };
  let error: unknown;
  try {
    validateStartRequest(request, settings, JobType.DataProfiling);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(InvalidJobRequestError);
  const message = (error as Error).message;
  expect(message).toContain('dataSourceId: is required');
  expect(message).toContain('data_source_id: unknown field; did you mean dataSourceId?');
  expect(message).toContain('attribute_ids: unknown field; did you mean attributeIds?');
});

test('the CLI commands in docs/start-from-any-client.md start each job type with its schema example', () => {
  const page = readFileSync(path.resolve(__dirname, '../../docs/start-from-any-client.md'), 'utf8');
  const commands = [...page.matchAll(/--type (\w+) --workflow-id (\S+) \\\n\s+--input '([^']+)'/g)];
  expect(commands.map(([, workflowType]) => jobTypeOfWorkflow(workflowType!)).sort()).toEqual([...jobTypes].sort());
  // The rule-execution command names the profiling command's job id where its example has the placeholder.
  const profilingJobId = commands.find(([, workflowType]) => workflowType === 'dataProfiling')?.[2];
  for (const [, workflowType, , input] of commands) {
    const { jobType: _jobType, ...example } = published(jobTypeOfWorkflow(workflowType!)!).examples[0]!;
    const expected = JSON.parse(JSON.stringify(example).replaceAll('"$DATA_PROFILING_JOB_ID"', `"${profilingJobId}"`));
    expect(JSON.parse(input!)).toEqual(expected);
  }
});
