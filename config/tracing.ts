// Tracing, off unless configured: OpenTelemetry's standard OTEL_* settings decide whether a process traces, and only
// then is the SDK loaded (config/tracing-sdk.ts), so an unconfigured process pays nothing and behaves as before. The
// API (client/http/tracing.ts) and the worker (workers/tracing.ts) start it before anything else loads.

import { createLogger, logLevelOf, type Logger } from './logging';
import type * as TracingSdk from './tracing-sdk';
import type { Tracing } from './tracing-sdk';

export type { Tracing };

/** OTLP over HTTP as JSON is what config/tracing-sdk.ts exports; Jaeger, Tempo and the OTel Collector take it. */
const SUPPORTED_PROTOCOL = 'http/json';

/**
 * Where spans go, read from the standard settings: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else
 * OTEL_EXPORTER_OTLP_ENDPOINT with `/v1/traces` appended (as the OpenTelemetry specification says). Undefined, so
 * tracing stays off, when neither is set, when OTEL_SDK_DISABLED=true or when OTEL_TRACES_EXPORTER=none. A protocol
 * other than http/json is refused by name rather than sent where nothing can read it.
 */
export function tracingEndpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? 'otlp').split(',').map((name) => name.trim().toLowerCase());
  if (exporters.includes('none')) return undefined;
  const endpoint = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ?? signalEndpoint(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (endpoint === undefined) return undefined;
  if (!exporters.includes('otlp'))
    throw new Error(`OTEL_TRACES_EXPORTER: only otlp (or none) is supported (got "${env.OTEL_TRACES_EXPORTER}")`);
  for (const key of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const protocol = nonEmpty(env[key]);
    if (protocol === undefined) continue;
    if (protocol !== SUPPORTED_PROTOCOL)
      throw new Error(`${key}: spans are exported as ${SUPPORTED_PROTOCOL} (OTLP over HTTP, JSON); got "${protocol}"`);
    break;
  }
  return endpoint;
}

const nonEmpty = (value: string | undefined) => (value?.trim() ? value.trim() : undefined);

function signalEndpoint(base: string | undefined): string | undefined {
  const root = nonEmpty(base);
  return root === undefined ? undefined : `${root.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * The interceptors module the workflow bundle needs for workflow spans (RunWorkflow, StartActivity). Resolved only,
 * not loaded: the build (scripts/build-dist.ts) bundles it into dist/workflow-bundle-traced.js, and a worker run from
 * source bundles it at start when tracing is on (workers/create-worker.ts).
 */
export const TRACING_WORKFLOW_MODULES: readonly string[] = [
  require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
];

let active: Tracing | undefined;

export interface StartTracingOptions {
  /** The process's service.name unless OTEL_SERVICE_NAME gives one, e.g. `synapse-jobs-api`. */
  serviceName: string;
  /** Where the SDK's own warnings and export failures go (a collector that is down, a refused batch). */
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts tracing for this process when the OTEL_* settings ask for it (tracingEndpoint), once: a second call returns
 * the first call's. Must run before `http` and `pg` are first required: the instrumentations patch modules as they
 * load, and a module loaded earlier is never traced. Returns undefined, having loaded nothing, when tracing is off.
 */
export function startTracing(options: StartTracingOptions): Tracing | undefined {
  if (active) return active;
  const env = options.env ?? process.env;
  const endpoint = tracingEndpoint(env);
  if (endpoint === undefined) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when tracing is on, and synchronously: it must register before http and pg load
  const sdk = require('./tracing-sdk') as typeof TracingSdk;
  active = sdk.startTracingSdk({ endpoint, serviceName: options.serviceName, logger: options.logger });
  options.logger.info(
    { endpoint, serviceName: active.serviceName },
    `tracing on: spans go to ${endpoint} as ${active.serviceName}`,
  );
  return active;
}

/** This process's tracing, when startTracing turned it on; what the Temporal client and worker take their parts from. */
export function currentTracing(): Tracing | undefined {
  return active;
}

/** Exports what is buffered and stops tracing (the process is about to exit); nothing to do when it is off. */
export async function stopTracing(): Promise<void> {
  const tracing = active;
  active = undefined;
  await tracing?.shutdown();
}

/**
 * startTracing for a process's entry point (workers/tracing.ts, client/http/tracing.ts), logging as `logService`. A
 * setting it refuses (an unsupported protocol) ends the process with one fatal JSON line, as an invalid setting does
 * elsewhere; LOG_LEVEL is refused by the process's own configuration a moment later, so an unknown one logs at info.
 */
export function startProcessTracing(serviceName: string, logService: string): Tracing | undefined {
  let level: ReturnType<typeof logLevelOf>;
  try {
    level = logLevelOf();
  } catch {
    level = 'info';
  }
  const logger = createLogger(logService, { level });
  try {
    return startTracing({ serviceName, logger });
  } catch (error) {
    logger.fatal({ err: error }, 'tracing could not start');
    process.exit(1);
  }
}
