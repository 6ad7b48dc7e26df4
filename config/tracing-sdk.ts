// The OpenTelemetry SDK for one process, loaded only when tracing is on (config/tracing.ts): the tracer provider
// exporting OTLP/HTTP JSON in batches, the http (the API's requests, the LLM calls), undici (fetch) and pg
// instrumentations, and the Temporal interceptors that carry one trace from the API request through the workflow to
// each LLM call and statement.

import { diag, DiagLogLevel, trace, type DiagLogger } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { envDetectorSync, Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { ClientInterceptors } from '@temporalio/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  type OpenTelemetrySinks,
} from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { Logger } from './logging';

/** Probes and scrapes answer every few seconds and say nothing about a job: a trace each would bury the jobs'. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** What a process that traces hands to its Temporal client and worker, and how it stops. */
export interface Tracing {
  /** service.name on every span of this process: OTEL_SERVICE_NAME, else the process's own name. */
  serviceName: string;
  /** For the Temporal Client: a workflow start carries the caller's trace context in its headers. */
  clientInterceptors: ClientInterceptors;
  /** For the worker: each activity runs in a span under the workflow's StartActivity span (its headers). */
  activityInterceptors: ActivityInterceptorsFactory[];
  /** For the worker: the sink through which the workflow sandbox hands its spans to this process's exporter. */
  workflowSinks: InjectedSinks<OpenTelemetrySinks>;
  /** Names the HTTP request's span by its route (`POST /api/v1/jobs`), which the HTTP layer does not know. */
  nameRequestSpan(method: string, route: string): void;
  /** Flushes buffered spans and stops the exporter and the instrumentations. */
  shutdown(): Promise<void>;
}

export interface TracingSdkOptions {
  /** Where spans go: the OTLP/HTTP traces URL (config/tracing.ts, tracingEndpoint). */
  endpoint: string;
  /** service.name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES give one. */
  serviceName: string;
  logger: Logger;
}

/**
 * Registers the global tracer provider, context manager and propagator (W3C trace context unless OTEL_PROPAGATORS
 * says otherwise) and the instrumentations. The sampler is OTEL_TRACES_SAMPLER (parent-based, always on, by
 * default), the batch's timing OTEL_BSP_*, the exporter's headers and timeout OTEL_EXPORTER_OTLP_*: the SDK reads them.
 */
export function startTracingSdk(options: TracingSdkOptions): Tracing {
  diag.setLogger(diagLogger(options.logger), DiagLogLevel.WARN);
  const resource = Resource.default()
    .merge(new Resource({ 'service.name': options.serviceName }))
    .merge(envDetectorSync.detect());
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: options.endpoint }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.has((request.url ?? '').split('?')[0]!),
        // The LLM client's calls (node:http, activities/llm/http-transport.ts): one span per LLM HTTP call, under the
        // activity that made it. Outgoing calls outside a request or activity would each start a trace of their own.
        requireParentforOutgoingSpans: true,
      }),
      // fetch, where a caller still uses it (a body the LLM transport leaves to fetch, the job callbacks' requests).
      new UndiciInstrumentation({ requireParentforSpans: true }),
      // Statements outside a request or activity (the reconciler's sweep, the LLM budget's listener) are not a job's
      // work, and would each be a trace of their own.
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  const serviceName = String(resource.attributes['service.name']);
  return {
    serviceName,
    clientInterceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
    activityInterceptors: [
      (context) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(context),
        outbound: new OpenTelemetryActivityOutboundInterceptor(context),
      }),
    ],
    workflowSinks: { exporter: makeWorkflowExporter(spanProcessor, resource) },
    nameRequestSpan(method, route) {
      const span = trace.getActiveSpan();
      span?.updateName(`${method} ${route}`);
      span?.setAttribute('http.route', route);
    },
    async shutdown() {
      unregister();
      await provider.shutdown();
      diag.disable();
    },
  };
}

/** The SDK's own warnings (an export that failed, a collector that refused a batch) as lines of the process's log. */
function diagLogger(logger: Logger): DiagLogger {
  const log = logger.child({ component: 'tracing' });
  const line =
    (level: 'error' | 'warn' | 'info' | 'debug' | 'trace') =>
    (message: string, ...args: unknown[]) =>
      log[level](args.length > 0 ? { details: args.map(String) } : {}, message);
  return { error: line('error'), warn: line('warn'), info: line('info'), debug: line('debug'), verbose: line('trace') };
}
