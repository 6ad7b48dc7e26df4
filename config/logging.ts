// The one logger every process writes through (pino: one JSON object per line on stdout). Its level is
// LOG_LEVEL (trace, debug, info, warn, error, fatal, silent); each process names itself (`service`), and
// what a line is about travels as fields (`jobId`, `item`, `route`), never inside the message text.
// Secrets are redacted by key wherever they appear, so a careless `logger.info({ request })` cannot leak them.

import pino, { type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/**
 * Keys whose values never reach a log line: bearer tokens and cookies (request headers), Temporal task tokens (the
 * SDK's activity and workflow-task log context), API keys, passwords.
 */
const REDACTED_KEYS = ['authorization', 'cookie', 'taskToken', 'token', 'apiKey', 'password', 'secret'];
export const REDACT_PATHS = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

/** LOG_LEVEL as pino names it; an unknown value is refused by name rather than silently logging everything. */
export function logLevelOf(env: NodeJS.ProcessEnv = process.env): LogLevelName {
  const level = (env.LOG_LEVEL ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new Error(`LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')} (got "${env.LOG_LEVEL}")`);
  return level as LogLevelName;
}

/**
 * A process's root logger. `destination` defaults to stdout (fd 1), written synchronously so the last lines before
 * a crash are not lost; tests pass a stream to read the lines back.
 */
export function createLogger(
  service: string,
  options: { level?: LogLevelName; destination?: pino.DestinationStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? logLevelOf(),
      base: { service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
