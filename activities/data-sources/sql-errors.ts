// One reading of PostgreSQL errors for every activity that runs SQL against a data source: which ones a retry
// can mend and which never heal, and the plain reason (with its SQLSTATE) a job records for the latter.

import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../common/failures';

/**
 * SQLSTATE classes that no retry mends, because they describe the statement or the data, not the moment:
 * - 42, syntax error or access rule violation: the table or column is gone (42P01, 42703), no operator or
 *   function fits the column's stored type (42883, 42804, 42846), or the role lacks the grant (42501). Only
 *   a DDL change or a GRANT mends these, and the next attempt plans the same statement against the same schema.
 * - 22, data exception: the rows cannot be read the way the catalogue says (22P02 invalid text representation
 *   from a cast of a stored value, 22003 out of range, 22007/22008 bad dates), or a rule's own value is
 *   refused (2201B invalid regular expression). The same rows and values give the same error every attempt.
 * Everything else is retried within its activity's policy: connection loss (08, or no SQLSTATE at all),
 * serialization and deadlock (40), resources (53), locks (55), operator intervention — a statement timeout or
 * cancel — (57), system and internal errors (58, XX), snapshot too old (72), foreign-data-wrapper (HV).
 */
const PERMANENT_SQLSTATE_CLASSES = new Set(['22', '42']);

/** SQLSTATEs after which no smaller part of the statement can run either: the relation itself is gone. */
const WHOLE_RELATION_SQLSTATES = new Set(['42P01']);

/** The SQLSTATE a PostgreSQL error carries, or undefined (a connection failing carries none). */
export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** What a statement that can never succeed is recorded as: a plain reason naming the SQLSTATE. */
export interface SqlRefusal {
  reason: string;
  sqlstate: string;
  /** True when the relation itself is missing, so no part of the statement can run either. */
  wholeRelation: boolean;
}

/** The refusal `error` stands for, or undefined when the error may pass and is worth retrying. */
export function sqlRefusal(error: unknown, table?: string): SqlRefusal | undefined {
  const sqlstate = sqlStateOf(error);
  if (!sqlstate || !PERMANENT_SQLSTATE_CLASSES.has(sqlstate.slice(0, 2))) return undefined;
  const message = error instanceof Error ? error.message : String(error);
  // PostgreSQL names a missing relation, but not the table a missing column or a type mismatch was met in.
  const missingColumn = /^column (".*") does not exist$/.exec(message);
  const reason =
    !table || message.includes(table)
      ? `${message} (SQLSTATE ${sqlstate})`
      : missingColumn
        ? `column ${missingColumn[1]} of ${table} does not exist (SQLSTATE ${sqlstate})`
        : `${message} (table ${table}, SQLSTATE ${sqlstate})`;
  return { reason, sqlstate, wholeRelation: WHOLE_RELATION_SQLSTATES.has(sqlstate) };
}

/**
 * The non-retryable failure an activity throws for an error that can never heal; other errors are returned as they are.
 */
export function asDataSourceFailure(error: unknown, table?: string): unknown {
  const refusal = sqlRefusal(error, table);
  if (!refusal) return error;
  // No `cause`: a job's reason is read from the innermost cause, and this message is the one to read.
  return ApplicationFailure.create({
    message: refusal.reason,
    type: FailureType.DataSourceError,
    nonRetryable: true,
    details: [{ sqlstate: refusal.sqlstate }],
  });
}
