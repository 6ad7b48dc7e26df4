// The worker's logs: the Temporal runtime's Logger (the SDK's own lines, workflow and activity `log` calls, and the
// Rust core's lines, forwarded) written through the shared pino logger (config/logging.ts), one JSON line per call,
// with the SDK's metadata as flat fields (`jobId`, `workflowType`, `activityType`, `attempt`, `item`) and never a task
// token. An activity interceptor puts the item an activity works on into every line it logs.

import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { Logger, LogLevelName } from '../config/logging';

const PINO_LEVEL_OF: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Metadata keys that never become fields. `taskToken` is the SDK's activity log context: a task token completes or
 * fails the activity from anywhere, so it is dropped here, not only redacted (config/logging.ts redacts it as well).
 * `workflowId` becomes `jobId` (a job's workflow id is its job id), `sdkComponent` stays.
 */
const DROPPED_KEYS = new Set(['taskToken', 'task_token', 'base64TaskToken', 'workflowId']);

/**
 * The Rust core's debug lines print whole task structs as text (`task_token: TaskToken(CiQw...)`): the token is cut
 * out of any text, not only dropped by key.
 */
const TASK_TOKEN_TEXT = /(task_token: )?TaskToken\([^)]*\)(, )?/g;
export const withoutTaskTokens = (text: string) =>
  text.includes('TaskToken(') ? text.replace(TASK_TOKEN_TEXT, '') : text;

/** The SDK's metadata as pino fields: flat, renamed to the job vocabulary, tokens dropped, errors under `err`. */
export function logFieldsOf(meta: LogMetadata | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (!meta) return fields;
  // Object.entries skips symbol keys (the SDK's LogTimestamp): pino stamps each line itself.
  for (const [key, value] of Object.entries(meta)) {
    if (value === undefined || DROPPED_KEYS.has(key)) continue;
    // pino serializes an Error (message, type, stack) only under `err`.
    if (key === 'error' && value instanceof Error) fields.err = value;
    else fields[key] = typeof value === 'string' ? withoutTaskTokens(value) : value;
  }
  // An activity's own `jobId` (from its input) wins; otherwise the workflow's id is the job's id.
  if (fields.jobId === undefined && typeof meta.workflowId === 'string') fields.jobId = meta.workflowId;
  return fields;
}

/** The SDK's Logger interface over a pino logger: what Runtime.install's `logger` is given. */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly logger: Logger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const pinoLevel = PINO_LEVEL_OF[level] ?? 'info';
    // Checked first, so a line below LOG_LEVEL costs no copying of its metadata.
    if (!this.logger.isLevelEnabled(pinoLevel)) return;
    this.logger[pinoLevel](logFieldsOf(meta), withoutTaskTokens(message));
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/** LOG_LEVEL as the SDK names levels; `fatal` and `silent` have no SDK level, ERROR is the closest (pino drops more). */
export function temporalLogLevelOf(level: LogLevelName): LogLevel {
  switch (level) {
    case 'trace':
      return 'TRACE';
    case 'debug':
      return 'DEBUG';
    case 'info':
      return 'INFO';
    case 'warn':
      return 'WARN';
    default:
      return 'ERROR';
  }
}

/**
 * The Rust core's filter for forwarded lines: its own crates at LOG_LEVEL; third-party crates (gRPC, HTTP/2) at WARN
 * or above, because at INFO and below they log every connection event and would drown the worker's lines.
 */
export function coreLogFilterOf(level: LogLevelName): { core: LogLevel; other: LogLevel } {
  const core = temporalLogLevelOf(level);
  return { core, other: core === 'ERROR' ? 'ERROR' : 'WARN' };
}

/**
 * The item a per-item activity works on, from its input: an attribute (profiling, scoping), a plan data element
 * (planning mapping), a document chunk (planning extraction), a sampling scan unit. Undefined for whole-job activities.
 */
export function itemOf(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return undefined;
  const { attribute, pdeId, chunk, unit } = input as Record<string, unknown>;
  if (typeof attribute === 'string') return attribute;
  if (typeof attribute === 'object' && attribute !== null && typeof (attribute as { name?: unknown }).name === 'string')
    return (attribute as { name: string }).name;
  if (typeof pdeId === 'number' || typeof pdeId === 'string') return `pde-${pdeId}`;
  if (typeof chunk === 'object' && chunk !== null) {
    const { documentId, chunkIndex } = chunk as { documentId?: unknown; chunkIndex?: unknown };
    if ((typeof documentId === 'number' || typeof documentId === 'string') && typeof chunkIndex === 'number')
      return `chunk-${documentId}#${chunkIndex}`;
  }
  if (typeof unit === 'object' && unit !== null && typeof (unit as { index?: unknown }).index === 'number')
    return `unit-${(unit as { index: number }).index}`;
  return undefined;
}

/**
 * Every line an activity logs (its own `log` calls and the SDK's "Activity failed") carries its `item`, and none
 * its task token. One interceptor instance per activity execution, so the item it remembers is that execution's.
 */
export const activityLogContext: ActivityInterceptorsFactory = () => {
  let item: string | undefined;
  return {
    inbound: {
      execute(input, next) {
        item = itemOf(input.args[0]);
        return next(input);
      },
    },
    outbound: {
      getLogAttributes(attributes, next) {
        const { taskToken: _dropped, ...rest } = attributes;
        return next(item === undefined || rest.item !== undefined ? rest : { ...rest, item });
      },
    },
  };
};
