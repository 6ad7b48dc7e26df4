// How the CLI answers: human text, or with `--json` one JSON document on stdout; errors as one line (or one JSON
// object) on stderr, never a stack trace for a known error; and the exit code each outcome maps to (docs/cli.md).

import { CommanderError } from 'commander';
import type * as Errors from '../errors';

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

export class Output {
  constructor(readonly json: boolean) {}

  /** The command's answer: `value` as JSON with --json, else `human`'s lines, if any (or `value` pretty-printed). */
  result(value: unknown, human?: () => string): void {
    if (this.json) process.stdout.write(`${JSON.stringify(value)}\n`);
    else {
      const text = human ? human() : JSON.stringify(value, null, 2);
      if (text !== '') process.stdout.write(`${text}\n`);
    }
  }

  /** Progress and notes for people: stdout normally, stderr with --json so stdout stays one document. */
  note(text: string): void {
    (this.json ? process.stderr : process.stdout).write(`${text}\n`);
  }

  /**
   * Reports a failure on stderr and returns the exit code it means. The client's error classes are loaded only for a
   * failure that is not commander's, so a usage error never loads them (nor the database driver they import).
   */
  error(error: unknown): ExitCode {
    if (error instanceof CommanderError) {
      const exitCode = error.exitCode === 0 ? EXIT.done : EXIT.usage;
      // Commander has printed its own message (or the help); with --json its text was held back for this.
      if (this.json && exitCode !== EXIT.done) {
        // `commander.help` with a non-zero code: no command was given, and commander showed the help instead.
        const [code, message] =
          error.code === 'commander.help'
            ? ['usage', 'no command given: synapse-jobs --help lists them']
            : [error.code, error.message.replace(/^error: /, '')];
        this.writeError({ code, message }, exitCode);
      }
      return exitCode;
    }
    // require, not import(): tsx's hook (bin/synapse-jobs.js) compiles TypeScript for require only.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const errors = require('../errors') as typeof Errors;
    const known = errors.asDependencyFailure(error) ?? error;
    const exitCode = known instanceof errors.UsageError ? EXIT.usage : EXIT.failed;
    if (!(known instanceof errors.JobsError)) {
      if (this.json)
        this.writeError(
          { code: 'internal', message: known instanceof Error ? known.message : String(known) },
          exitCode,
        );
      // Not one of ours: a bug, so the stack is what the report needs.
      else console.error(known);
      return exitCode;
    }
    if (this.json) {
      const cause = known.cause;
      const problems =
        known instanceof errors.InvalidJobRequestError
          ? known.problems
          : cause instanceof errors.InvalidJobRequestError
            ? cause.problems
            : undefined;
      this.writeError(
        {
          code: known.code,
          message: known.message,
          ...(known instanceof errors.DependencyUnavailableError ? { dependency: known.dependency } : {}),
          ...(problems ? { problems } : {}),
        },
        exitCode,
      );
    } else {
      const hint = known instanceof errors.UsageError ? '\n(synapse-jobs help <command> shows its options)' : '';
      process.stderr.write(`error: ${known.message}${hint}\n`);
    }
    return exitCode;
  }

  /** One JSON object on stderr: what failed, and what the exit code means. */
  private writeError(fields: Record<string, unknown>, exitCode: ExitCode): void {
    process.stderr.write(
      `${JSON.stringify({ error: { ...fields, exit_code: exitCode, exit_meaning: MEANING[exitCode] } })}\n`,
    );
  }
}
