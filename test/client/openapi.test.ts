// The OpenAPI document: the one the API serves at /openapi.json validates as OpenAPI 3.1 (with
// @seriousme/openapi-schema-validator, run as its CLI: the package is ESM-only); the committed schemas/openapi.json
// and client types (client/http/openapi-types.d.ts, from openapi-typescript) are what the generator makes now; and a typed call of every route (test/client/openapi-calls.ts,
// type-checked by `npm run typecheck`) runs against the live server with the answers the document names.
// Also the reference page at /docs: served from this server (no CDN) under a strict CSP.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { DOCS_CSP } from '../../client/http/server';
import { launchChromium } from '../support/chromium';
import { createHarness, type Harness, type RunningApi } from '../support/harness';
import { callEveryRoute } from './openapi-calls';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const OPENAPI_FILE = path.join(ROOT, 'schemas/openapi.json');
const VALIDATOR_CLI = path.resolve(
  __dirname,
  '../../node_modules/@seriousme/openapi-schema-validator/bin/validate-api-cli.js',
);

let harness: Harness;
let api: RunningApi;
let served: { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
beforeAll(async () => {
  harness = await createHarness();
  api = await harness.startApi();
  const response = await fetch(`${api.url}/openapi.json`);
  expect(response.status).toBe(200);
  served = (await response.json()) as typeof served;
});
afterAll(() => harness.close());

describe('the OpenAPI document', () => {
  it('validates as OpenAPI 3.1', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'openapi-'));
    try {
      const file = path.join(dir, 'openapi.json');
      writeFileSync(file, JSON.stringify(served));
      const { stdout } = await run(process.execPath, [VALIDATOR_CLI, file]);
      expect(JSON.parse(stdout)).toEqual({ valid: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect((served as unknown as { openapi: string }).openapi).toBe('3.1.0');
  });

  it('is the committed schemas/openapi.json, and the committed client types are what openapi-typescript makes of it', async () => {
    // In a process of its own: openapi-typescript and prettier load ESM modules Jest's CommonJS runtime cannot.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/generate-openapi.ts', '--check'], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'silent' },
    });
    expect(stdout).toMatch(/are current/);
    // The served one uses the test configuration's limits; its routes and operations are the same.
    const committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as typeof served;
    expect(Object.keys(served.paths)).toEqual(Object.keys(committed.paths));
  });

  it('names the bearer scheme and a problem+json answer for every refusal', () => {
    const document = served as unknown as {
      components: { securitySchemes: Record<string, unknown> };
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, { content?: object }> }>>;
    };
    expect(document.components.securitySchemes.bearerAuth).toEqual({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    for (const [route, operations] of Object.entries(document.paths))
      for (const [method, operation] of Object.entries(operations)) {
        if (route.startsWith('/api/')) {
          expect([`${method} ${route}`, operation.security]).toEqual([`${method} ${route}`, [{ bearerAuth: [] }]]);
          expect(Object.keys(operation.responses)).toContain('401');
        }
        for (const [status, answer] of Object.entries(operation.responses))
          if (Number(status) >= 400 && route !== '/readyz')
            expect([`${method} ${route} ${status}`, Object.keys(answer.content ?? {})]).toEqual([
              `${method} ${route} ${status}`,
              ['application/problem+json'],
            ]);
      }
  });

  it('answers a typed call of every route, each with a status the document names for it', async () => {
    const calls = await callEveryRoute(
      api.url,
      { owner: await api.tokenFor('openapi-owner'), admin: await api.tokenFor('openapi-admin', ['admin']) },
      DEMO_DATA_SOURCE_ID,
    );
    const documented = Object.entries(served.paths).flatMap(([route, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${route}`),
    );
    // Every documented operation is called, and nothing else.
    expect(calls.map((call) => call.route).sort()).toEqual([...documented].sort());
    for (const call of calls) {
      const [method, route] = call.route.split(' ') as [string, string];
      const statuses = Object.keys(served.paths[route]![method.toLowerCase()]!.responses);
      expect([call.route, statuses.includes(String(call.status))]).toEqual([call.route, true]);
    }
    expect(Object.fromEntries(calls.map((call) => [call.route, call.status]))).toEqual({
      'POST /api/v1/jobs': 201,
      'GET /api/v1/jobs': 200,
      'GET /api/v1/jobs/{id}': 200,
      'GET /api/v1/jobs/{id}/status': 200,
      'GET /api/v1/jobs/{id}/history': 200,
      'GET /api/v1/jobs/{id}/results': 200,
      'GET /api/v1/jobs/{id}/events': 200,
      'POST /api/v1/jobs/{id}/pause': 202,
      'POST /api/v1/jobs/{id}/resume': 202,
      'POST /api/v1/jobs/{id}/priority': 202,
      'PATCH /api/v1/jobs/{id}/priority': 202,
      'POST /api/v1/jobs/{id}/cancel': 202,
      'GET /api/v1/llm-budget': 200,
      'PUT /api/v1/llm-budget/{model}': 200,
      'PATCH /api/v1/llm-budget/{model}': 200,
      'POST /api/v1/admin/jobs/{action}': 202,
      'GET /healthz': 200,
      'GET /readyz': 200,
      'GET /metrics': 200,
    });
  });
});

describe('the reference page at /docs', () => {
  it('is served from this server under a strict CSP, its scripts and styles local', async () => {
    const page = await fetch(`${api.url}/docs/`, { redirect: 'follow' });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(DOCS_CSP);
    const html = await page.text();
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(sources.length).toBeGreaterThan(2);
    for (const source of sources) expect(source).not.toMatch(/^(https?:)?\/\//);
    const bundle = await fetch(`${api.url}/docs/static/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-security-policy')).toBe(DOCS_CSP);
    const initializer = await (await fetch(`${api.url}/docs/static/swagger-initializer.js`)).text();
    expect(initializer).toContain('/openapi.json');
  });

  it('renders every operation in headless Chromium, nothing but the bundle’s one inline style blocked, no request leaving this server', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const outside: string[] = [];
      page.on('request', (request) => {
        if (!request.url().startsWith(api.url) && !request.url().startsWith('data:')) outside.push(request.url());
      });
      await page.addInitScript({
        content: `window.__violations = [];
          document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile));`,
      });
      await page.goto(`${api.url}/docs/`);
      await page.locator('.opblock-summary-path', { hasText: '/api/v1/jobs/{id}/status' }).first().waitFor();
      const shown = await page.locator('.opblock').count();
      expect(shown).toBe(19);
      // Swagger UI's bundle tries one inline <style> that never reaches the page's DOM (no style element is ever
      // added to it); the CSP blocks it with no effect on the page, which renders every operation above. Anything
      // else blocked (a script, a connection, an image, a style from elsewhere) fails here.
      const violations = await page.evaluate<string[]>('window.__violations');
      expect(
        violations.filter((v) => !/^style-src-elem inline .*\/docs\/static\/swagger-ui-bundle\.js$/.test(v)),
      ).toEqual([]);
      expect(outside).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
