// Bearer-token authentication: a JWT verified with the configured HS256 secret or remote key set. The
// token's subject is the owner of the jobs it starts; the admin role sees and controls every job.

import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../../config';
import { JobsError } from '../errors';
import type { Principal } from '../jobs-client';

export class UnauthorizedError extends JobsError {
  override readonly name = 'UnauthorizedError';
  readonly httpStatus = 401;
  readonly code = 'unauthorized';
}

type AuthConfig = Pick<Config, 'JWT_SECRET' | 'JWT_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_ADMIN_ROLE'>;

export function createAuthenticator(config: AuthConfig): (authorization: string | undefined) => Promise<Principal> {
  if (!config.JWT_SECRET && !config.JWT_JWKS_URL) throw new Error('The API needs JWT_SECRET or JWT_JWKS_URL to verify bearer tokens');
  const key = config.JWT_JWKS_URL ? createRemoteJWKSet(new URL(config.JWT_JWKS_URL)) : new TextEncoder().encode(config.JWT_SECRET);
  const options = { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, algorithms: config.JWT_JWKS_URL ? ['RS256', 'ES256', 'EdDSA'] : ['HS256'] };

  return async (authorization) => {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new UnauthorizedError('missing bearer token (Authorization: Bearer <jwt>)');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key as Parameters<typeof jwtVerify>[1], options));
    } catch (error) {
      throw new UnauthorizedError(`invalid bearer token: ${(error as Error).message}`);
    }
    if (!payload.sub) throw new UnauthorizedError('bearer token has no subject');
    const roles = Array.isArray(payload.roles) ? payload.roles : typeof payload.role === 'string' ? [payload.role] : [];
    return { subject: payload.sub, admin: roles.includes(config.JWT_ADMIN_ROLE) };
  };
}
