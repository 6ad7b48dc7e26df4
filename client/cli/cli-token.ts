// `synapse-jobs token`: mints a development bearer token from JWT_SECRET, shaped as client/http/auth.ts verifies it
// (HS256, `sub`, a `roles` array, `iat` and `exp` within JWT_MAX_LIFETIME_S, iss/aud when configured), so a person
// can call the API or open the jobs page. Needs neither Temporal nor PostgreSQL.

import { SignJWT } from 'jose';
import type { Config } from '../../config';
import { UsageError } from '../errors';

export type TokenConfig = Pick<
  Config,
  'JWT_SECRET' | 'JWT_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_MAX_LIFETIME_S'
>;

/** A development token lives an hour unless asked otherwise: long enough for a session, short if it leaks. */
export const DEFAULT_TOKEN_TTL_S = 3_600;

export interface MintedToken {
  token: string;
  subject: string;
  roles: string[];
  issued_at: string;
  expires_at: string;
}

export async function mintToken(
  config: TokenConfig,
  request: { subject: string; roles: string[]; ttlSeconds?: number },
): Promise<MintedToken> {
  if (!config.JWT_SECRET)
    throw new UsageError(
      config.JWT_JWKS_URL
        ? 'this deployment verifies tokens with a key set (JWT_JWKS_URL): get a token from its issuer; `token` mints only with JWT_SECRET'
        : 'JWT_SECRET is not set: `token` signs with the same secret the API verifies with (set JWT_SECRET, 16+ characters, for both)',
    );
  const ttl = request.ttlSeconds ?? Math.min(DEFAULT_TOKEN_TTL_S, config.JWT_MAX_LIFETIME_S);
  if (ttl > config.JWT_MAX_LIFETIME_S)
    throw new UsageError(
      `--ttl ${ttl} s is longer than the API accepts: at most ${config.JWT_MAX_LIFETIME_S} s (JWT_MAX_LIFETIME_S)`,
    );
  const issuedAt = Math.floor(Date.now() / 1_000);
  let jwt = new SignJWT({ roles: request.roles })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(request.subject)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + ttl);
  if (config.JWT_ISSUER) jwt = jwt.setIssuer(config.JWT_ISSUER);
  if (config.JWT_AUDIENCE) jwt = jwt.setAudience(config.JWT_AUDIENCE);
  return {
    token: await jwt.sign(new TextEncoder().encode(config.JWT_SECRET)),
    subject: request.subject,
    roles: request.roles,
    issued_at: new Date(issuedAt * 1_000).toISOString(),
    expires_at: new Date((issuedAt + ttl) * 1_000).toISOString(),
  };
}
