// The bearer-token rules on their own: one subject that is both owner and ownership key (refused when it
// would need normalising), a string subject, a required and bounded expiry, one admin claim, and key sets
// fetched from a JWKS endpoint (served here, locally) with issuer and audience checked, on their own and
// through the HTTP API configured with that key set (a job started and listed with a key-set token).

import http from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload, type KeyLike } from 'jose';
import { createAuthenticator } from '../../client/http/auth';
import { createApiServer, listen, type ApiServer } from '../../client/http/server';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, TEST_JWT_SECRET, type Harness } from '../support/harness';

const HOUR = 3_600;
const settings = {
  JWT_SECRET: TEST_JWT_SECRET,
  JWT_JWKS_URL: undefined,
  JWT_ISSUER: undefined,
  JWT_AUDIENCE: undefined,
  JWT_ADMIN_ROLE: 'admin',
  JWT_MAX_LIFETIME_S: 24 * HOUR,
};
const now = () => Math.floor(Date.now() / 1_000);

/** An HS256 token with exactly these claims (no defaults added, so a test can leave out `exp` or `iat`). */
const hs256 = (claims: JWTPayload) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(TEST_JWT_SECRET));
const bearer = (token: string) => `Bearer ${token}`;

describe('bearer tokens signed with the shared secret', () => {
  const authenticate = createAuthenticator(settings);
  const valid = (extra: Record<string, unknown> = {}) =>
    hs256({ sub: 'alice', iat: now(), exp: now() + HOUR, ...extra });

  it('takes the subject as the owner and the ownership key, unchanged', async () => {
    await expect(authenticate(bearer(await valid()))).resolves.toEqual({
      subject: 'alice',
      admin: false,
      service: false,
    });
  });

  it.each([
    ['trailing whitespace', 'victim '],
    ['leading whitespace', ' victim'],
    ['a control character', 'vic\ttim'],
    ['a NUL character', 'victim\u0000'],
    ['a lone surrogate', 'victim\ud800'],
    ['nothing but spaces', '   '],
    ['more than 200 characters', 'v'.repeat(201)],
  ])('refuses a subject with %s rather than normalising it into another owner', async (_name, sub) => {
    await expect(authenticate(bearer(await valid({ sub })))).rejects.toMatchObject({
      httpStatus: 401,
      message: expect.stringContaining('bearer token subject cannot own jobs'),
    });
  });

  it.each([
    ['a number', 42],
    ['an object', { id: 'alice' }],
  ])('refuses a subject that is %s with 401', async (_name, sub) => {
    await expect(authenticate(bearer(await valid({ sub })))).rejects.toMatchObject({
      httpStatus: 401,
      message: 'bearer token subject must be a string',
    });
  });

  it('refuses a token without a subject', async () => {
    await expect(authenticate(bearer(await hs256({ iat: now(), exp: now() + HOUR })))).rejects.toMatchObject({
      httpStatus: 401,
      message: 'bearer token has no subject',
    });
  });

  it('refuses a token without an expiry, which would never expire', async () => {
    await expect(authenticate(bearer(await hs256({ sub: 'alice', iat: now() })))).rejects.toMatchObject({
      httpStatus: 401,
      message: expect.stringMatching(/exp/),
    });
  });

  it('refuses a token living longer than JWT_MAX_LIFETIME_S, counted from iat or, without iat, from now', async () => {
    const longLived = await hs256({ sub: 'alice', iat: now(), exp: now() + 30 * 24 * HOUR });
    await expect(authenticate(bearer(longLived))).rejects.toMatchObject({
      httpStatus: 401,
      message: expect.stringContaining('JWT_MAX_LIFETIME_S'),
    });
    const withoutIat = await hs256({ sub: 'alice', exp: now() + 30 * 24 * HOUR });
    await expect(authenticate(bearer(withoutIat))).rejects.toMatchObject({ httpStatus: 401 });
    // An issue time in the future does not shorten how long the token is good for.
    const futureIat = await hs256({ sub: 'alice', iat: now() + 29 * 24 * HOUR, exp: now() + 30 * 24 * HOUR });
    await expect(authenticate(bearer(futureIat))).rejects.toMatchObject({ httpStatus: 401 });
    await expect(authenticate(bearer(await hs256({ sub: 'alice', exp: now() + 23 * HOUR })))).resolves.toMatchObject({
      subject: 'alice',
    });
  });

  it('refuses an expired token', async () => {
    await expect(
      authenticate(bearer(await hs256({ sub: 'alice', iat: now() - 2 * HOUR, exp: now() - HOUR }))),
    ).rejects.toMatchObject({ httpStatus: 401 });
  });

  it('grants admin only through the documented `roles` array', async () => {
    await expect(authenticate(bearer(await valid({ roles: ['reader', 'admin'] })))).resolves.toEqual({
      subject: 'alice',
      admin: true,
      service: false,
    });
    await expect(authenticate(bearer(await valid({ role: 'admin' })))).resolves.toEqual({
      subject: 'alice',
      admin: false,
      service: false,
    });
    await expect(authenticate(bearer(await valid({ roles: 'admin' })))).resolves.toEqual({
      subject: 'alice',
      admin: false,
      service: false,
    });
  });

  it('grants the service role through the same `roles` array, as JWT_SERVICE_ROLE names it', async () => {
    await expect(authenticate(bearer(await valid({ roles: ['service'] })))).resolves.toEqual({
      subject: 'alice',
      admin: false,
      service: true,
    });
    const custom = createAuthenticator({ ...settings, JWT_SERVICE_ROLE: 'jobs-starter' });
    await expect(custom(bearer(await valid({ roles: ['jobs-starter'] })))).resolves.toMatchObject({ service: true });
    await expect(custom(bearer(await valid({ roles: ['service'] })))).resolves.toMatchObject({ service: false });
  });
});

describe('bearer tokens verified against a key set served at JWT_JWKS_URL', () => {
  let server: http.Server;
  let jwksUrl: string;
  let signingKey: KeyLike;
  let strangerKey: KeyLike;
  const issuer = 'https://idp.example.test/';
  const audience = 'synapse-jobs';

  beforeAll(async () => {
    const [pair, stranger] = await Promise.all([generateKeyPair('RS256'), generateKeyPair('RS256')]);
    [signingKey, strangerKey] = [pair.privateKey, stranger.privateKey];
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: [jwk] }));
    });
    jwksUrl = `${await listen(server, 0)}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const rs256 = (claims: JWTPayload, key = signingKey) =>
    new SignJWT({ sub: 'carol', iat: now(), exp: now() + HOUR, iss: issuer, aud: audience, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(key);
  const authenticator = () =>
    createAuthenticator({
      ...settings,
      JWT_SECRET: undefined,
      JWT_JWKS_URL: jwksUrl,
      JWT_ISSUER: issuer,
      JWT_AUDIENCE: audience,
    });

  it('accepts a token signed by a key of the set, from the configured issuer for the configured audience', async () => {
    await expect(authenticator()(bearer(await rs256({ roles: ['admin'] })))).resolves.toEqual({
      subject: 'carol',
      admin: true,
      service: false,
    });
  });

  it.each([
    ['another issuer', { iss: 'https://elsewhere.example.test/' }],
    ['another audience', { aud: 'some-other-api' }],
  ])('refuses a token from %s', async (_name, claims) => {
    await expect(authenticator()(bearer(await rs256(claims)))).rejects.toMatchObject({ httpStatus: 401 });
  });

  it('refuses a token signed by a key outside the set, and an HS256 token made with a guessed secret', async () => {
    await expect(authenticator()(bearer(await rs256({}, strangerKey)))).rejects.toMatchObject({ httpStatus: 401 });
    await expect(
      authenticator()(bearer(await hs256({ sub: 'carol', iat: now(), exp: now() + HOUR, iss: issuer, aud: audience }))),
    ).rejects.toMatchObject({ httpStatus: 401 });
  });

  it('holds key-set tokens to the same subject and lifetime rules', async () => {
    await expect(authenticator()(bearer(await rs256({ sub: 'carol ' })))).rejects.toMatchObject({ httpStatus: 401 });
    await expect(authenticator()(bearer(await rs256({ exp: now() + 30 * 24 * HOUR })))).rejects.toMatchObject({
      httpStatus: 401,
    });
  });
});

describe('issuer and audience with the shared secret', () => {
  const issuer = 'https://idp.example.test/';
  const audience = 'synapse-jobs';
  const authenticate = createAuthenticator({ ...settings, JWT_ISSUER: issuer, JWT_AUDIENCE: audience });
  const token = (claims: JWTPayload) =>
    hs256({ sub: 'dave', iat: now(), exp: now() + HOUR, iss: issuer, aud: audience, ...claims });

  it('accepts the configured issuer and audience (the audience may be one of several)', async () => {
    await expect(authenticate(bearer(await token({})))).resolves.toEqual({
      subject: 'dave',
      admin: false,
      service: false,
    });
    await expect(authenticate(bearer(await token({ aud: ['other-api', audience] })))).resolves.toMatchObject({
      subject: 'dave',
    });
  });

  it.each([
    ['another issuer', { iss: 'https://elsewhere.example.test/' }, /iss/],
    ['no issuer', { iss: undefined }, /iss/],
    ['another audience', { aud: 'some-other-api' }, /aud/],
    ['no audience', { aud: undefined }, /aud/],
  ])('refuses a token with %s with 401 naming the claim', async (_name, claims, claim) => {
    await expect(authenticate(bearer(await token(claims)))).rejects.toMatchObject({
      httpStatus: 401,
      message: expect.stringMatching(claim),
    });
  });
});

describe('the HTTP API configured with a key set', () => {
  let harness: Harness;
  let jwks: http.Server;
  let apiServer: ApiServer;
  let url: string;
  let keyRequests = 0;
  let signingKey: KeyLike;
  const issuer = 'https://idp.example.test/';
  const audience = 'synapse-jobs';

  beforeAll(async () => {
    harness = await createHarness();
    const pair = await generateKeyPair('ES256');
    signingKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'api-k1', alg: 'ES256', use: 'sig' };
    jwks = http.createServer((_request, response) => {
      keyRequests++;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: [jwk] }));
    });
    const jwksUrl = `${await listen(jwks, 0)}/jwks.json`;
    apiServer = createApiServer(harness.jobs, {
      ...harness.config,
      JWT_SECRET: undefined,
      JWT_JWKS_URL: jwksUrl,
      JWT_ISSUER: issuer,
      JWT_AUDIENCE: audience,
    });
    url = await listen(apiServer, 0);
  });
  afterAll(async () => {
    await apiServer.close();
    await new Promise((resolve) => jwks.close(resolve));
    await harness.close();
  });

  const es256 = (claims: JWTPayload) =>
    new SignJWT({ sub: 'jwks-erin', iat: now(), exp: now() + HOUR, iss: issuer, aud: audience, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'api-k1' })
      .sign(signingKey);
  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: bearer(token), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };

  it('starts and lists a job for the subject of a token signed by a key of the set', async () => {
    const started = await call(await es256({}), 'POST', '/api/v1/jobs', {
      jobType: 'data_profiling_llm_generation',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: ['credit_score'],
    });
    expect(started).toMatchObject({ status: 201, body: { owner: 'jwks-erin', created: true } });
    const listed = await call(await es256({}), 'GET', '/api/v1/jobs');
    expect(listed.body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual([started.body.job_id]);
    // The key came from the key set the API fetched.
    expect(keyRequests).toBeGreaterThan(0);
    await harness.jobs.handle(started.body.job_id).terminate('test over');
  });

  it.each([
    ['another issuer', { iss: 'https://elsewhere.example.test/' }],
    ['another audience', { aud: 'some-other-api' }],
  ])('answers a token from %s with 401, starting nothing', async (_name, claims) => {
    const refused = await call(await es256({ sub: 'jwks-mallory', ...claims }), 'POST', '/api/v1/jobs', {
      jobType: 'data_profiling_llm_generation',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: ['credit_score'],
    });
    expect(refused).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
    expect(await harness.db.selectFrom('jobs').select('id').where('owner', '=', 'jwks-mallory').execute()).toEqual([]);
  });

  it('answers a token made with the shared secret with 401 once a key set is configured', async () => {
    const hsToken = await hs256({ sub: 'jwks-erin', iat: now(), exp: now() + HOUR, iss: issuer, aud: audience });
    expect(await call(hsToken, 'GET', '/api/v1/jobs')).toMatchObject({
      status: 401,
      body: { code: 'unauthorized' },
    });
  });
});
