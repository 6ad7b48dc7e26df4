// How the CLI answers: human text, or with `--json` one JSON document on stdout; errors as one line (or one JSON
// object) on stderr, never a stack trace for a known error; and the exit code each outcome maps to (docs/cli.md).

import { CommanderError } from 'commander';
import { DependencyUnavailableError, InvalidJobRequestError, JobsError, UsageError } from '../errors';

/** The CLI's exit codes: scripts branch on these, so they are part of its contract (docs/cli.md#exit-codes). */
export const EXIT = {
  done: 0,
  /** The job failed or was cancelled, the request was refused, or a dependency (Temporal, PostgreSQL) did not answer. */
  failed: 1,
  /** The command line (or the environment's configuration) is wrong: nothing was asked of any server. */
  usage: 2,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const MEANING: Record<ExitCode, string> = {
  0: 'done',
  1: 'failed: the job failed or was cancelled, the request was refused, or a dependency did not answer',
  2: 'usage: the command line or configuration is wrong; nothing was sent',
};

/** The job ended other than completed: `watch` has printed its outcome already, only the exit code is left. */
export class JobEndedUnsuccessfully extends Error {
  override readonly name = 'JobEndedUnsuccessfully';
}

export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.done : EXIT.usage;
  if (error instanceof UsageError) return EXIT.usage;
  return EXIT.failed;
}

export class Output {
  constructor(readonly json: boolean) {}

  /** The command's answer: `value` as JSON with --json, else `human`'s lines (or `value` pretty-printed). */
  result(value: unknown, human?: () => string): void {
    if (this.json) process.stdout.write(`${JSON.stringify(value)}\n`);
    else process.stdout.write(`${human ? human() : JSON.stringify(value, null, 2)}\n`);
  }

  /** Progress and notes for people: stdout normally, stderr with --json so stdout stays one document. */
  note(text: string): void {
    (this.json ? process.stderr : process.stdout).write(`${text}\n`);
  }

  /** Reports a failure on stderr and returns the exit code it means. */
  error(error: unknown): ExitCode {
    const exitCode = exitCodeOf(error);
    if (error instanceof JobEndedUnsuccessfully) return EXIT.failed;
    if (this.json) {
      process.stderr.write(`${JSON.stringify({ error: describe(error, exitCode) })}\n`);
      return exitCode;
    }
    if (error instanceof CommanderError) return exitCode; // commander has printed its own message
    if (error instanceof JobsError || error instanceof SyntaxError) {
      const hint = error instanceof UsageError ? '\n(synapse-jobs help <command> shows its options)' : '';
      process.stderr.write(`error: ${error.message}${hint}\n`);
    } else {
      // Not one of ours: a bug, so the stack is what the report needs.
      console.error(error);
    }
    return exitCode;
  }
}

function describe(error: unknown, exitCode: ExitCode): Record<string, unknown> {
  const base = { exit_code: exitCode, exit_meaning: MEANING[exitCode] };
  if (error instanceof CommanderError)
    return { code: error.code === 'commander.help' ? 'usage' : error.code, message: error.message, ...base };
  if (error instanceof JobsError) {
    const cause = error.cause;
    const problems =
      error instanceof InvalidJobRequestError
        ? error.problems
        : cause instanceof InvalidJobRequestError
          ? cause.problems
          : undefined;
    return {
      code: error.code,
      message: error.message,
      ...(error instanceof DependencyUnavailableError ? { dependency: error.dependency } : {}),
      ...(problems ? { problems } : {}),
      ...base,
    };
  }
  return { code: 'internal', message: error instanceof Error ? error.message : String(error), ...base };
}
