// Bearer-token authentication: a JWT verified with the configured HS256 secret or remote key set. The
// token's subject, exactly as issued, is the owner of the jobs it starts and the key every ownership check
// compares; the admin role (in the `roles` array) sees and controls every job; the service role may start jobs for
// a named owner and follow and control the jobs it started so.

import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../../config';
import { UnauthorizedError } from '../errors';
import { ownerProblem } from '../job-requests';
import type { Principal } from '../jobs-client';

type AuthConfig = Pick<
  Config,
  'JWT_SECRET' | 'JWT_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_ADMIN_ROLE' | 'JWT_MAX_LIFETIME_S'
> &
  Partial<Pick<Config, 'JWT_SERVICE_ROLE'>>;

export function createAuthenticator(config: AuthConfig): (authorization: string | undefined) => Promise<Principal> {
  if (!config.JWT_SECRET && !config.JWT_JWKS_URL)
    throw new Error('The API needs JWT_SECRET or JWT_JWKS_URL to verify bearer tokens');
  const key = config.JWT_JWKS_URL
    ? createRemoteJWKSet(new URL(config.JWT_JWKS_URL))
    : new TextEncoder().encode(config.JWT_SECRET);
  // A token without `exp` would never expire: every token must say when it ends.
  const options = {
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    algorithms: config.JWT_JWKS_URL ? ['RS256', 'ES256', 'EdDSA'] : ['HS256'],
    requiredClaims: ['exp'],
  };

  return async (authorization) => {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new UnauthorizedError('missing bearer token (Authorization: Bearer <jwt>)');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key as Parameters<typeof jwtVerify>[1], options));
    } catch (error) {
      throw new UnauthorizedError(`invalid bearer token: ${(error as Error).message}`, true);
    }
    checkLifetime(payload);
    return {
      subject: subjectOf(payload),
      admin: hasRole(payload, config.JWT_ADMIN_ROLE),
      service: hasRole(payload, config.JWT_SERVICE_ROLE ?? 'service'),
    };
  };

  /** jose checks exp's presence and type and that it has not passed; how far ahead it may lie is ours to bound. */
  function checkLifetime(payload: JWTPayload): void {
    const now = Math.floor(Date.now() / 1_000);
    // Counted from iat, but never from an iat in the future, which would not shorten the token's use.
    const lifetime = payload.exp! - Math.min(payload.iat ?? now, now);
    if (lifetime > config.JWT_MAX_LIFETIME_S)
      throw new UnauthorizedError(
        `bearer token lives ${lifetime} s; at most ${config.JWT_MAX_LIFETIME_S} s (JWT_MAX_LIFETIME_S) are accepted`,
        true,
      );
  }

  /**
   * The subject as issued. One that would need normalising (surrounding whitespace, control characters,
   * unstorable text, too long) is refused rather than normalised: normalising would let the issuer's distinct
   * subjects `"alice "` and `alice` act as one owner, while ownership checks compared the other spelling.
   */
  function subjectOf(payload: JWTPayload): string {
    const subject: unknown = payload.sub;
    if (typeof subject !== 'string')
      throw new UnauthorizedError(
        subject === undefined ? 'bearer token has no subject' : 'bearer token subject must be a string',
        true,
      );
    const problem = ownerProblem(subject);
    if (problem) throw new UnauthorizedError(`bearer token subject cannot own jobs (${problem})`, true);
    return subject;
  }
}

/** One role claim: `roles`, an array holding the role (a singular `role` grants nothing). */
function hasRole(payload: JWTPayload, role: string): boolean {
  return Array.isArray(payload.roles) && payload.roles.includes(role);
}
