// `npm run schemas` writes schemas/<job type>.schema.json, the published contract of each job type's start request
// (the body of POST /api/v1/jobs, and the one argument of its workflow), from the very zod schema that admits it
// (client/start-request.ts), with scripts/schema-examples.ts's words and examples. `npm run schemas:check` (in
// .ci/run's static checks) exits 1 naming every file that differs, so the contract cannot drift from the code.

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { JobType, TASK_QUEUE, WORKFLOW_TYPES } from '../common/jobs';
import { loadConfig } from '../config';
import { startRequestSchema, type StartRequestSettings } from '../client/start-request';
import { PLACEHOLDERS, SCHEMA_EXTRAS } from './schema-examples';

export const SCHEMAS_DIR = path.resolve(__dirname, '../schemas');

/**
 * The limits a schema states (maximum attributes, LLM concurrency, metadata size) are the configuration's defaults,
 * read from an empty environment so the files do not depend on the machine that writes them.
 */
function defaultSettings(): StartRequestSettings {
  const config = loadConfig({});
  return {
    JOB_DEFAULT_USE_LLM_CACHE: config.JOB_DEFAULT_USE_LLM_CACHE,
    JOB_MAX_METADATA_BYTES: config.JOB_MAX_METADATA_BYTES,
    JOB_MAX_METADATA_DEPTH: config.JOB_MAX_METADATA_DEPTH,
    JOB_DEFAULT_LLM_CONCURRENCY: config.JOB_DEFAULT_LLM_CONCURRENCY,
    JOB_MAX_LLM_CONCURRENCY: config.JOB_MAX_LLM_CONCURRENCY,
    JOB_MAX_ATTRIBUTES: config.JOB_MAX_ATTRIBUTES,
    JOB_START_COUNT_TIMEOUT_MS: config.JOB_START_COUNT_TIMEOUT_MS,
    CALLBACK_ALLOWED_HOSTS: config.CALLBACK_ALLOWED_HOSTS,
    CALLBACK_SECRET: config.CALLBACK_SECRET,
  };
}

export const schemaFileName = (jobType: JobType) => `${jobType}.schema.json`;

/** The placeholders an example uses, each with what to put in its place. */
function placeholdersIn(examples: unknown[]): Record<string, string> {
  const text = JSON.stringify(examples);
  return Object.fromEntries(Object.entries(PLACEHOLDERS).filter(([name]) => text.includes(`"${name}"`)));
}

/** One job type's schema as an object: the zod schema's input side, then what the caller needs to know. */
export function jobSchema(jobType: JobType, settings = defaultSettings()): Record<string, unknown> {
  const { does, examples } = SCHEMA_EXTRAS[jobType];
  const workflowType = WORKFLOW_TYPES[jobType];
  const placeholders = placeholdersIn(examples);
  const generated = z.toJSONSchema(startRequestSchema(jobType, settings), {
    io: 'input',
    target: 'draft-2020-12',
    // Checks JSON Schema cannot say (unstorable text, metadata depth, cross-field rules) are enforced on start anyway.
    unrepresentable: 'any',
  });
  const { $schema, ...fields } = generated;
  const description = [
    `Start request of a ${jobType} job. ${does}`,
    `It is the body of POST /api/v1/jobs, and the one argument of workflow type ${workflowType} (task queue ` +
      `${TASK_QUEUE}) when a Temporal client starts the job directly; the job id is the workflow id. Starting by ` +
      `workflow type, jobType may be left out (if given, it must be ${jobType}).`,
    'Fields are camelCase; unknown fields are refused. A request that breaks the schema, names data that does not ' +
      'exist, or fails a check JSON Schema cannot express fails the workflow at once with failure type ' +
      'InvalidJobInput naming every offending field.',
    ...(Object.keys(placeholders).length > 0
      ? [`The examples hold placeholders (x-placeholders): replace each with the value it describes before starting.`]
      : []),
  ].join('\n\n');
  return {
    $schema,
    $id: `urn:synapse-jobs:schemas:${schemaFileName(jobType)}`,
    title: `${jobType} start request`,
    description,
    'x-job-type': jobType,
    'x-workflow-type': workflowType,
    'x-task-queue': TASK_QUEUE,
    ...(Object.keys(placeholders).length > 0 ? { 'x-placeholders': placeholders } : {}),
    ...fields,
    examples,
  };
}

/** Every schema file's name and exact text, as `npm run schemas` writes it. */
export function generateSchemas(): Map<string, string> {
  const settings = defaultSettings();
  return new Map(
    Object.values(JobType).map((jobType) => [
      schemaFileName(jobType),
      `${JSON.stringify(jobSchema(jobType, settings), null, 2)}\n`,
    ]),
  );
}

/** The files that differ from what the generator writes, or that it would not write at all. */
export function staleSchemaFiles(dir = SCHEMAS_DIR): string[] {
  const expected = generateSchemas();
  const stale = [...expected].filter(([file, text]) => {
    const full = path.join(dir, file);
    return !existsSync(full) || readFileSync(full, 'utf8') !== text;
  });
  const extra = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.schema.json') && !expected.has(f)) : [];
  return [...stale.map(([file]) => file), ...extra];
}

function main(): void {
  if (process.argv.includes('--check')) {
    const stale = staleSchemaFiles();
    if (stale.length > 0) {
      console.error(
        `schemas/ is out of date with client/start-request.ts or scripts/schema-examples.ts: ${stale.join(', ')}\n` +
          'run `npm run schemas` and commit the result',
      );
      process.exit(1);
    }
    console.log(`schemas/: all ${Object.values(JobType).length} start-request schemas are current`);
    return;
  }
  mkdirSync(SCHEMAS_DIR, { recursive: true });
  for (const [file, text] of generateSchemas()) writeFileSync(path.join(SCHEMAS_DIR, file), text);
  console.log(`wrote ${Object.values(JobType).length} schemas to schemas/`);
}

if (require.main === module) main();
