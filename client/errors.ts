// The closed set of errors the client raises, each with the HTTP status the API answers it with, so
// the API, the CLI and backend services all report a refusal the same way.

export abstract class JobsError extends Error {
  abstract readonly httpStatus: number;
  abstract readonly code: string;
}

export class InvalidJobRequestError extends JobsError {
  override readonly name = 'InvalidJobRequestError';
  readonly httpStatus = 400;
  readonly code = 'invalid_request';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
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

export class QuotaExceededError extends JobsError {
  override readonly name = 'QuotaExceededError';
  readonly httpStatus = 429;
  readonly code = 'quota_exceeded';
}
