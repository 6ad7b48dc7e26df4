// Every refusal the API answers as RFC 9457 problem details (application/problem+json): type, title, status,
// detail and instance, with the error's code (client/errors.ts) as the `code` member, and `field` and `problems`
// for an invalid request. Also the headers some refusals carry: Retry-After (503), WWW-Authenticate (401).

import type { z } from 'zod';
import {
  asDependencyFailure,
  DependencyUnavailableError,
  InvalidJobRequestError,
  JobsError,
  UnauthorizedError,
  type FieldProblem,
} from '../errors';
import type { problem as problemSchema } from './api-schemas';

export type Problem = z.infer<typeof problemSchema>;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** The realm a 401's WWW-Authenticate names (RFC 6750). */
export const AUTH_REALM = 'synapse-jobs';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export interface ProblemAnswer {
  status: number;
  body: Problem;
  headers: Record<string, string>;
}

/** The problem answer for `error`; an error the API does not know is a 500 whose detail says nothing of it. */
export function problemOf(error: unknown, instance: string): ProblemAnswer & { unexpected: boolean } {
  const known = error instanceof JobsError ? error : asDependencyFailure(error);
  if (!known) {
    return {
      ...problemAnswer(500, 'internal', 'internal error; see the server log', instance),
      unexpected: true,
    };
  }
  const answer = problemAnswer(known.httpStatus, known.code, known.message, instance);
  if (known instanceof InvalidJobRequestError)
    Object.assign(answer.body, { field: known.field, problems: known.problems satisfies FieldProblem[] });
  if (known instanceof DependencyUnavailableError) answer.headers['retry-after'] = String(known.retryAfterSeconds);
  if (known instanceof UnauthorizedError) answer.headers['www-authenticate'] = wwwAuthenticate(known.invalidToken);
  return { ...answer, unexpected: false };
}

export function problemAnswer(status: number, code: string, detail: string, instance: string): ProblemAnswer {
  return {
    status,
    body: {
      type: `urn:synapse-jobs:problem:${code}`,
      title: TITLES[status] ?? 'Error',
      status,
      detail,
      instance,
      code,
    },
    headers: {},
  };
}

/** RFC 6750's challenge: error="invalid_token" when a token was given and refused; bare when none was given. */
export function wwwAuthenticate(invalidToken: boolean): string {
  return `Bearer realm="${AUTH_REALM}"${invalidToken ? ', error="invalid_token"' : ''}`;
}
