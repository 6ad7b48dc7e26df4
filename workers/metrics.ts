// Worker metrics and logs: the Temporal runtime (one per process) installed with its Prometheus exporter, which
// also serves the counters our activities and workflows emit through the SDK's metric meters, so one
// scrape of a worker gives both (counter names in docs/operations.md, Metrics), and with the worker's JSON logger
// (workers/logging.ts), to which the Rust core's lines are forwarded too.

import { Runtime, type ActivityInterceptorsFactory, type LogLevel } from '@temporalio/worker';
import type { Config } from '../config';
import { createLogger, logLevelOf, type Logger, type LogLevelName } from '../config/logging';
import { coreLogFilterOf, PinoTemporalLogger } from './logging';

/**
 * Installs the process's Temporal runtime: logging through `logger` (a `worker` logger at LOG_LEVEL on stdout unless
 * given) at `logLevel` (LOG_LEVEL unless given; the SDK's upper-case names are accepted too), the core's lines
 * forwarded to it, and the Prometheus endpoint at WORKER_OPS_HOST:WORKER_METRICS_PORT unless the port is 0. Must run
 * before the first connection or worker.
 */
export function installWorkerRuntime(
  config: Pick<Config, 'WORKER_OPS_HOST' | 'WORKER_METRICS_PORT'>,
  logLevel: LogLevelName | LogLevel = logLevelOf(),
  logger?: Logger,
): Runtime {
  const level = logLevel.toLowerCase() as LogLevelName;
  const bindAddress = `${config.WORKER_OPS_HOST}:${config.WORKER_METRICS_PORT}`;
  try {
    return Runtime.install({
      logger: new PinoTemporalLogger(logger ?? createLogger('worker', { level })),
      telemetryOptions: {
        logging: { filter: coreLogFilterOf(level), forward: {} },
        ...(config.WORKER_METRICS_PORT > 0 ? { metrics: { prometheus: { bindAddress } } } : {}),
      },
    });
  } catch (error) {
    // Name the setting: a second worker on one machine with the default port is the usual cause.
    throw new Error(
      `cannot start the worker's metrics endpoint on ${bindAddress} (set WORKER_METRICS_PORT to a free port, or 0): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Counts activity retries (every attempt after the first) by activity type: a rising rate means a
 * dependency (LLM provider, database) is failing in a way Temporal is papering over.
 */
export const countActivityRetries: ActivityInterceptorsFactory = (context) => {
  if (context.info.attempt > 1)
    context.metricMeter
      .createCounter('synapse_activity_retries', 'attempts', 'Activity attempts after the first')
      .add(1);
  return {};
};
