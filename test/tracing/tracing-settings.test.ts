// Whether a process traces, from OpenTelemetry's standard settings alone (config/tracing.ts), and that a process
// whose settings leave it off loads none of the OpenTelemetry SDK: no cost and no new behaviour unless configured.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { tracingEndpoint } from '../../config/tracing';

const root = path.resolve(__dirname, '../..');

describe('tracingEndpoint', () => {
  it('is off with no OTLP endpoint set, or an empty one', () => {
    expect(tracingEndpoint({})).toBeUndefined();
    expect(tracingEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' })).toBeUndefined();
  });

  it('sends to the traces path under the all-signals endpoint, or to the traces endpoint as given', () => {
    expect(tracingEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(
      tracingEndpoint({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/otlp/v1/traces',
      }),
    ).toBe('http://tempo:4318/otlp/v1/traces');
  });

  it('stays off when the SDK is disabled or the traces exporter is none', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(tracingEndpoint({ ...endpoint, OTEL_SDK_DISABLED: 'TRUE' })).toBeUndefined();
    expect(tracingEndpoint({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
    expect(tracingEndpoint({ ...endpoint, OTEL_SDK_DISABLED: 'false' })).toBe('http://collector:4318/v1/traces');
  });

  it('refuses, by name, a protocol or exporter it does not send', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(tracingEndpoint({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toBeDefined();
    expect(() => tracingEndpoint({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      /OTEL_EXPORTER_OTLP_PROTOCOL: .*http\/json.*"grpc"/,
    );
    // The traces-only setting is the one that counts when both are given.
    expect(
      tracingEndpoint({
        ...endpoint,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      }),
    ).toBeDefined();
    expect(() => tracingEndpoint({ ...endpoint, OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(/OTEL_TRACES_EXPORTER/);
  });
});

/** Starts tracing in a fresh Node process with `env`, and says whether it is on and which SDK packages it loaded. */
function startTracingIn(env: Record<string, string>): { on: boolean; loaded: string[] } {
  const script = `
    const { startProcessTracing, stopTracing } = require('./config/tracing');
    const tracing = startProcessTracing('synapse-jobs-test', 'test');
    const loaded = [...new Set(Object.keys(require.cache)
      .map((file) => /node_modules\\/(@opentelemetry\\/[^/]+|@temporalio\\/interceptors-opentelemetry)\\//.exec(file)?.[1])
      .filter(Boolean))].sort();
    console.log(JSON.stringify({ on: tracing !== undefined, loaded }));
    stopTracing();`;
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_')));
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: root,
    env: { ...base, LOG_LEVEL: 'silent', ...env },
    encoding: 'utf8',
    // Node with tsx loading a few modules: about a second; a minute covers a machine busy with other suites.
    timeout: 60_000,
  });
  if (run.status !== 0) throw new Error(`node exited ${run.status}:\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as { on: boolean; loaded: string[] };
}

it('loads none of the OpenTelemetry SDK when tracing is off, and the SDK and instrumentations when it is on', () => {
  expect(startTracingIn({})).toEqual({ on: false, loaded: [] });
  const on = startTracingIn({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
  expect(on.on).toBe(true);
  expect(on.loaded).toEqual(
    expect.arrayContaining([
      '@opentelemetry/sdk-trace-node',
      '@opentelemetry/exporter-trace-otlp-http',
      '@opentelemetry/instrumentation-http',
      '@opentelemetry/instrumentation-pg',
      '@opentelemetry/instrumentation-undici',
      '@temporalio/interceptors-opentelemetry',
    ]),
  );
});
