// .env.example lists every setting config/index.ts reads, each with a one-line comment and its real default, and
// compose.yaml hands every setting to its containers: a setting added to the schema and not to these fails here.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_KEYS, loadConfig } from '../../config';

const root = path.resolve(__dirname, '../..');
const lines = readFileSync(path.join(root, '.env.example'), 'utf8').split('\n');
const ENTRY = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/;
const entries = lines.flatMap((line, index) => {
  const match = ENTRY.exec(line);
  return match ? [{ key: match[2]!, value: match[3]!, commented: match[1] !== undefined, index }] : [];
});

/**
 * Listed beside the schema's settings: read outside it (API_HOST, the Temporal profile, OpenTelemetry's own settings,
 * config/tracing.ts) or by compose.yaml only.
 */
const OUTSIDE_THE_SCHEMA = [
  'API_HOST',
  'TEMPORAL_PROFILE',
  'TEMPORAL_CONFIG_FILE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_SDK_DISABLED',
  'WORKER_REPLICAS',
  'SYNAPSE_IMAGE',
  'POSTGRES_PASSWORD',
  'API_PUBLISH_PORT',
  'TEMPORAL_UI_PUBLISH_PORT',
];

it('lists every setting of the config schema, and nothing else but the known extras', () => {
  const listed = entries.map((e) => e.key);
  expect(CONFIG_KEYS.filter((key) => !listed.includes(key))).toEqual([]);
  expect(listed.filter((key) => !(CONFIG_KEYS as string[]).includes(key) && !OUTSIDE_THE_SCHEMA.includes(key))).toEqual(
    [],
  );
  expect(new Set(listed).size).toBe(listed.length);
});

it('gives every setting a comment line above it', () => {
  const uncommented = entries.filter(({ index }) => {
    // Settings that belong together (TEMPORAL_API_KEY, TEMPORAL_TLS) share the comment above the first.
    let above = index - 1;
    while (above >= 0 && ENTRY.test(lines[above]!)) above--;
    return above < 0 || !lines[above]!.startsWith('# ');
  });
  expect(uncommented.map((e) => e.key)).toEqual([]);
});

it("gives each setting's real default, so copying it unchanged changes nothing", () => {
  const env = Object.fromEntries(
    entries.filter((e) => !e.commented).map((e) => [e.key, e.value.replace(/^'(.*)'$/, '$1')]),
  );
  expect(loadConfig(env)).toEqual(loadConfig({}));
  // What is commented out has no default (unset is its default).
  const unset = loadConfig({}) as Record<string, unknown>;
  expect(entries.filter((e) => e.commented && unset[e.key] !== undefined).map((e) => e.key)).toEqual([]);
});

it("hands every setting to compose.yaml's containers", () => {
  const compose = readFileSync(path.join(root, 'compose.yaml'), 'utf8');
  const block = /^x-synapse-settings:.*\n((?: {2}.*\n)+)/m.exec(compose)?.[1] ?? '';
  const passed = [...block.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
  // The image's own prebuilt bundle (dist/workflow-bundle.js) is the one to use in a container; every container is
  // given DATABASE_URL, so the embedded PostgreSQL's settings (development only) never apply there; the CLI's operator
  // setting belongs to an operator's own machine, never to every container.
  const notPassed = [
    'WORKFLOW_BUNDLE_PATH',
    'DATABASE_EMBEDDED',
    'DATABASE_EMBEDDED_PORT',
    'DATABASE_EMBEDDED_DIR',
    'SYNAPSE_CLI_OPERATOR',
  ];
  expect(CONFIG_KEYS.filter((key) => !passed.includes(key) && !notPassed.includes(key))).toEqual([]);
});
