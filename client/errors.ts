// The closed set of errors the client raises, each with the HTTP status the API answers it with, so
// the API, the CLI and backend services all report a refusal the same way.

import { isLostConnection } from '../db/connection';

export abstract class JobsError extends Error {
  abstract readonly httpStatus: number;
  abstract readonly code: string;
}

/** One offending field of a request and what is wrong with it. */
export interface FieldProblem {
  field: string;
  problem: string;
}

export class InvalidJobRequestError extends JobsError {
  override readonly name = 'InvalidJobRequestError';
  readonly httpStatus = 400;
  readonly code = 'invalid_request';
  /** Every offending field, in the order found; `field` is the first. */
  readonly problems: FieldProblem[];
  constructor(
    readonly field: string,
    problem: string,
    more: FieldProblem[] = [],
  ) {
    const problems = [{ field, problem }, ...more];
    super(problems.map((p) => `${p.field}: ${p.problem}`).join('; '));
    this.problems = problems;
  }

  /** One error naming every problem found (at least one). */
  static of(problems: [FieldProblem, ...FieldProblem[]]): InvalidJobRequestError {
    const [first, ...more] = problems;
    return new InvalidJobRequestError(first.field, first.problem, more);
  }
}

/** No bearer token, or one that does not verify or whose subject cannot own jobs (client/http/auth.ts). */
export class UnauthorizedError extends JobsError {
  override readonly name = 'UnauthorizedError';
  readonly httpStatus = 401;
  readonly code = 'unauthorized';
  constructor(
    message: string,
    /** A token was given but refused: the API's WWW-Authenticate then says error="invalid_token" (RFC 6750). */
    readonly invalidToken = false,
  ) {
    super(message);
  }
}

/** An operator's action (the LLM budget, bulk control) asked for without the admin role. */
export class AdminRequiredError extends JobsError {
  override readonly name = 'AdminRequiredError';
  readonly httpStatus = 403;
  readonly code = 'forbidden';
}

/** Also what a caller gets for someone else's job: its existence is not theirs to learn. */
export class JobNotFoundError extends JobsError {
  override readonly name = 'JobNotFoundError';
  readonly httpStatus = 404;
  readonly code = 'not_found';
  constructor(jobId: string) {
    super(`no job ${jobId}`);
  }
}

export class JobStateError extends JobsError {
  override readonly name = 'JobStateError';
  readonly httpStatus = 409;
  readonly code = 'wrong_state';
}

/** A start whose job id already belongs to a finished job (or one of another type): refused, that job untouched. */
export class JobIdTakenError extends JobsError {
  override readonly name = 'JobIdTakenError';
  readonly httpStatus = 409;
  readonly code = 'job_id_taken';
}

/**
 * An idempotency key given again with a different start request (client/request-hash.ts says what "the same" is):
 * refused, since answering the first job would tell the caller its second request was done.
 */
export class IdempotencyKeyReusedError extends JobsError {
  override readonly name = 'IdempotencyKeyReusedError';
  readonly httpStatus = 422;
  readonly code = 'idempotency_key_reused';
}

export class QuotaExceededError extends JobsError {
  override readonly name = 'QuotaExceededError';
  readonly httpStatus = 429;
  readonly code = 'quota_exceeded';
}

/**
 * The API's own refusals before a route is reached or its body read: no such endpoint, method, body too large or not
 * JSON.
 */
export class HttpError extends JobsError {
  override readonly name = 'HttpError';
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A command line the CLI cannot act on (unknown command, missing argument, an `--as` that cannot own jobs). */
export class UsageError extends JobsError {
  override readonly name = 'UsageError';
  readonly httpStatus = 400;
  readonly code = 'usage';
}

export type Dependency = 'temporal' | 'database';

/**
 * A dependency did not answer (Temporal unreachable or past its deadline, a PostgreSQL connection refused or
 * cut off): nothing is wrong with the request, and the same request may work after `retryAfterSeconds`.
 */
export class DependencyUnavailableError extends JobsError {
  override readonly name = 'DependencyUnavailableError';
  readonly httpStatus = 503;
  readonly code = 'dependency_unavailable';
  constructor(
    readonly dependency: Dependency,
    message: string,
    /** What the API sends as `Retry-After`: about how long a reachability probe takes to notice a recovery. */
    readonly retryAfterSeconds = 2,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The failure as a 503 when a dependency is what failed (a lost PostgreSQL connection); undefined otherwise. */
export function asDependencyFailure(error: unknown): DependencyUnavailableError | undefined {
  if (error instanceof DependencyUnavailableError) return error;
  if (isLostConnection(error))
    return new DependencyUnavailableError('database', `PostgreSQL did not answer: ${(error as Error).message}`, 1, {
      cause: error,
    });
  return undefined;
}
