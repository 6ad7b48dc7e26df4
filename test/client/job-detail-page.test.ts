// The job page (/jobs/{id}) in headless Chromium (Debian's package, driven by playwright-core) against a real API,
// worker and LLM stand-in: one job of each family run to completion and opened from the jobs list; the DOM and the
// chart.js chart hold the numbers the family's tables hold; a gated job's page follows it live; a screenshot per family.

import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import type { StandinGate } from '../../llm-standin/server';
import { createHarness, type Harness, type RunningApi } from '../support/harness';

/**
 * Where the screenshots go: .tmp/screenshots on every run, so a test run leaves the tracked tree as it was;
 * `SCREENSHOTS_DIR=docs/screenshots` refreshes the ones the docs show (docs/http-api.md, "The job page").
 */
const SCREENSHOTS = path.resolve(__dirname, '../..', process.env.SCREENSHOTS_DIR ?? '.tmp/screenshots');
const OWNER = 'detail-user';
const HOSTILE = '<img src=x onerror=alert(1)>';
/** Not the default: the link must come from configuration. */
const UI_URL = 'http://temporal-ui.example:8080/';

let harness: Harness;
let api: RunningApi;
let browser: Browser;
let page: Page;
const jobIds: Record<'profiling' | 'testExecution' | 'sampling' | 'scoping' | 'mapping' | 'generation', string> = {
  profiling: '',
  testExecution: '',
  sampling: '',
  scoping: '',
  mapping: '',
  generation: '',
};
const PLAN_ID = `detail-plan-${randomUUID()}`;
const PDES = [
  { name: 'Credit Score', description: 'FICO score of the cardholder at last review', dataType: 'integer' },
  { name: 'Annual Percentage Rate', description: 'Yearly interest rate on purchases', dataType: 'numeric' },
  { name: 'Account Status', description: 'Lifecycle status of the account', dataType: 'text' },
];
let liveJobId: string;
let gate: StandinGate;
const pageErrors: string[] = [];
const cspViolations: string[] = [];

/** The page's text as it formats a rate: two decimals of a percentage. */
const pct = (rate: number | null) => (rate === null ? '–' : `${(rate * 100).toFixed(2)} %`);
const close = (a: number | null, b: number | null) => (a === null || b === null ? a === b : Math.abs(a - b) < 1e-9);

interface TableRow {
  key: string | null;
  cells: Record<string, { text: string; value: string | null }>;
}

/** Every row of the results tables: its key attribute and its cells by data-role, in one evaluation. */
async function tableRows(key: string): Promise<TableRow[]> {
  return page.evaluate<
    TableRow[]
  >(`(() => [...document.querySelectorAll('[data-role=results-detail] tr[${key}]')].map((tr) => ({
    key: tr.getAttribute(${JSON.stringify(key)}),
    cells: Object.fromEntries([...tr.querySelectorAll('td[data-role]')].map((td) => [td.getAttribute('data-role'), { text: td.textContent, value: td.getAttribute('data-value') }])),
  })))()`);
}

interface ChartShown {
  type: string;
  labels: string[];
  datasets: { label: string; data: (number | null)[] }[];
  drawn: boolean;
}

/** The chart.js instance on the page's canvas, and whether it has drawn anything. */
async function chartShown(): Promise<ChartShown | null> {
  return page.evaluate<ChartShown | null>(`(() => {
    const canvas = document.querySelector('[data-role=chart]');
    const chart = window.Chart && window.Chart.getChart(canvas);
    if (!chart) return null;
    // Drawn: the canvas has a size and some pixel is not transparent.
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let drawn = false;
    for (let i = 3; i < pixels.length && !drawn; i += 4) drawn = pixels[i] !== 0;
    return {
      type: chart.config.type,
      labels: chart.data.labels.map(String),
      datasets: chart.data.datasets.map((d) => ({ label: d.label, data: d.data.map((v) => (v === undefined ? null : v)) })),
      drawn: canvas.width > 0 && drawn,
    };
  })()`);
}

/** Opens the jobs list, clicks through to the job's page, and waits for its final results. */
async function openFromList(jobId: string): Promise<void> {
  await page.goto(`${api.url}/jobs`);
  const link = page.locator(`[data-job-id="${jobId}"] a[data-role=detail-link]`);
  await link.click();
  await page.waitForURL(`${api.url}/jobs/${jobId}`);
  await page.locator('body[data-results=final]').waitFor({ timeout: 15_000 });
}

async function temporalLinkIsRight(jobId: string): Promise<void> {
  const row = await harness.db
    .selectFrom('jobs')
    .select('workflow_id')
    .where('id', '=', jobId)
    .executeTakeFirstOrThrow();
  expect(await page.locator('[data-role=temporal-link]').getAttribute('href')).toBe(
    `http://temporal-ui.example:8080/namespaces/${harness.config.TEMPORAL_NAMESPACE}/workflows/${row.workflow_id}`,
  );
}

const screenshot = (family: string) =>
  page.screenshot({ path: path.join(SCREENSHOTS, `job-detail-${family}.png`), fullPage: false });

beforeAll(async () => {
  // Eight jobs of one owner run at once here: more than the default quota of five active jobs.
  harness = await createHarness({ config: { TEMPORAL_UI_URL: UI_URL, JOB_MAX_ACTIVE_PER_OWNER: 10 } });
  api = await harness.startApi();
  const start = async (request: Record<string, unknown>) =>
    (await harness.jobs.startJobFromJson({ owner: OWNER, ...request })).jobId;
  jobIds.profiling = await start({
    jobType: 'data_profiling',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: ['credit_score', 'apr_rate', 'annual_income', 'account_status', 'billing_zip', 'email_address'],
    llmConcurrency: 3,
  });
  jobIds.testExecution = await start({
    jobType: 'test_execution',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    checks: [
      { attribute: 'credit_score', rule: { kind: 'range', min: 300, max: 600 }, description: 'a stricter band' },
      // A description is free text from whoever started the job, and the page shows it.
      { attribute: 'email_address', rule: { kind: 'length', max: 200 }, description: HOSTILE },
      { attribute: 'billing_zip', rule: { kind: 'pattern', regex: '([0-9]' }, description: 'a regex that cannot run' },
      { attribute: 'account_status', rule: { kind: 'not_null' } },
    ],
  });
  jobIds.sampling = await start({
    jobType: 'intelligent_sampling',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    confidenceLevel: 0.95,
    marginOfError: 0.05,
    strataColumns: ['product_type'],
    seed: 7,
  });
  jobIds.scoping = await start({
    jobType: 'scoping_recommendations',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: ['credit_score', 'apr_rate', 'annual_income', 'account_status', 'email_address'],
    testBudget: 20,
  });
  jobIds.mapping = await start({
    jobType: 'pde_auto_mapping',
    planId: PLAN_ID,
    dataSourceId: DEMO_DATA_SOURCE_ID,
    pdes: PDES,
  });
  jobIds.generation = await start({
    jobType: 'llm_attribute_generation',
    planId: `detail-generated-${randomUUID()}`,
    documents: [
      {
        name: 'card-accounts.md',
        content:
          // Field lines as regulatory instructions write them (and as the stand-in reads them): name — definition.
          'Account Number — the identifier of the card account, ACC followed by 8 digits.\n' +
          'Credit Limit — the maximum balance allowed on the account, in USD.\n' +
          'Annual Percentage Rate — the yearly interest rate charged on purchases, between 0 and 36.\n',
      },
    ],
  });
  // Its LLM calls wait at the gate until the live test lets them go, one at a time.
  liveJobId = await start({
    jobType: 'data_profiling_llm_generation',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: ['credit_score', 'apr_rate', 'annual_income'],
    llmConcurrency: 1,
  });
  gate = harness.standin.gate({ jobId: liveJobId });
  await harness.startWorker();
  for (const jobId of Object.values(jobIds))
    expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'completed' });

  mkdirSync(SCREENSHOTS, { recursive: true });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('dialog', (dialog) => {
    pageErrors.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  // Every CSP violation of every page this tab opens, kept here across navigations for the last page test.
  await page.exposeFunction('__reportViolation', (violation: string) => cspViolations.push(violation));
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) => window.__reportViolation(e.violatedDirective + ' ' + e.blockedURI));`,
  });
  // Signs in on the list, as a person would: the token stays in the tab's session for the job pages.
  await page.goto(`${api.url}/#token=${await api.tokenFor(OWNER)}`);
  await page.locator(`[data-job-id="${jobIds.profiling}"]`).waitFor();
});

afterAll(async () => {
  gate?.open();
  await browser?.close();
  await harness?.close();
});

describe('the job page', () => {
  it('opens from the list and shows the state, timings and LLM usage the API and the jobs table hold', async () => {
    const jobId = jobIds.profiling;
    await openFromList(jobId);
    const row = await harness.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
    const status = await harness.jobs.status({ subject: OWNER, admin: false }, jobId);
    const text = (role: string) => page.locator(`[data-role=${role}]`).textContent();
    const stamp = (d: Date | null) => `${d!.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
    expect(await text('status')).toBe('completed');
    expect(await text('job-type')).toBe('data_profiling');
    expect(await text('job-id')).toBe(jobId);
    expect(await text('created-at')).toBe(stamp(row.created_at));
    expect(await text('started-at')).toBe(stamp(row.started_at));
    expect(await text('completed-at')).toBe(stamp(row.completed_at));
    expect(await page.locator('[data-role=duration]').getAttribute('data-value')).toBe(
      String(row.completed_at!.getTime() - row.started_at!.getTime()),
    );
    const usage = status.llm_usage!;
    expect(usage.calls).toBeGreaterThan(0);
    expect(await text('llm-calls')).toMatch(new RegExp(`^${usage.calls.toLocaleString('en-US')}\\b`));
    expect(await text('llm-tokens')).toBe(
      `${usage.promptTokens.toLocaleString('en-US')} prompt + ${usage.completionTokens.toLocaleString('en-US')} completion`,
    );
    expect(await page.locator('[data-role=llm-cost]').getAttribute('data-value')).toBe(
      usage.costUsd === null ? '' : String(usage.costUsd),
    );
    await temporalLinkIsRight(jobId);
  });

  it('profiling: the pass rate per attribute and each rule’s are the database’s, and the chart draws them', async () => {
    const jobId = jobIds.profiling;
    const { rows: expected } = await sql<{ attribute: string; checked: string; failed: string }>`
      select a.attribute, coalesce(sum(r.checked_rows) filter (where r.error is null), 0) as checked,
             coalesce(sum(r.failed_rows) filter (where r.error is null), 0) as failed
      from attribute_results a left join rule_results r on r.job_id = a.job_id and r.attribute = a.attribute
      where a.job_id = ${jobId} group by a.attribute order by a.attribute`.execute(harness.db);
    expect(expected).toHaveLength(6);
    const rates = expected.map((e) => (Number(e.checked) > 0 ? 1 - Number(e.failed) / Number(e.checked) : null));
    // Some rule failed some rows, or the chart would only ever show full bars.
    expect(rates.some((r) => r !== null && r < 1)).toBe(true);

    const shown = await tableRows('data-attribute');
    expect(shown.map((r) => r.key)).toEqual(expected.map((e) => e.attribute));
    shown.forEach((r, i) => {
      expect(r.cells.checked!.value).toBe(String(Number(expected[i]!.checked)));
      expect(r.cells.failed!.value).toBe(String(Number(expected[i]!.failed)));
      expect(r.cells['pass-rate']!.text).toBe(pct(rates[i]!));
      expect(close(r.cells['pass-rate']!.value === '' ? null : Number(r.cells['pass-rate']!.value), rates[i]!)).toBe(
        true,
      );
    });

    // Each attribute lists its rules with their own pass rates.
    const rules = await harness.db
      .selectFrom('profiling_rules as p')
      .innerJoin('rule_results as r', (j) =>
        j
          .onRef('r.rules_job_id', '=', 'p.job_id')
          .onRef('r.attribute', '=', 'p.attribute')
          .onRef('r.rule_index', '=', 'p.rule_index'),
      )
      .select(['p.attribute', 'p.rule_index', 'p.description', 'r.pass_rate', 'r.error'])
      .where('r.job_id', '=', jobId)
      .execute();
    expect(rules.length).toBeGreaterThan(6);
    for (const rule of rules) {
      const item = page.locator(`tr[data-attribute="${rule.attribute}"] li[data-rule-index="${rule.rule_index}"]`);
      expect(await item.textContent()).toContain(rule.description);
      expect(await item.textContent()).toContain(
        rule.error === null ? pct(Number(rule.pass_rate)) : `could not run: ${rule.error}`,
      );
    }

    const chart = await chartShown();
    expect(chart).toMatchObject({ type: 'bar', labels: expected.map((e) => e.attribute), drawn: true });
    chart!.datasets[0]!.data.forEach((v, i) => expect(close(v, rates[i] === null ? null : rates[i]! * 100)).toBe(true));
    await screenshot('profiling');
  });

  it('test execution: pass/fail per test case is the database’s, and the chart stacks passing and failing records', async () => {
    const jobId = jobIds.testExecution;
    await openFromList(jobId);
    const expected = await harness.db
      .selectFrom('test_case_results')
      .select(['test_case_id', 'status', 'checked_records', 'failed_records'])
      .where('job_id', '=', jobId)
      .orderBy('attribute')
      .orderBy('test_case_id')
      .execute();
    const count = (status: string) => expected.filter((e) => e.status === status).length;
    // The checks were chosen so that each outcome occurs: a stricter band fails, a long limit passes, a bad regex errs.
    expect([count('pass'), count('fail'), count('error')].every((n) => n > 0)).toBe(true);
    const shown = await tableRows('data-test-case');
    expect(shown.map((r) => r.key)).toEqual(expected.map((e) => e.test_case_id));
    shown.forEach((r, i) => {
      const e = expected[i]!;
      expect(r.cells.outcome!.text.startsWith(e.status)).toBe(true);
      expect(r.cells.checked!.value).toBe(String(e.checked_records));
      expect(r.cells.failed!.value).toBe(String(e.failed_records));
    });
    expect(await page.locator('[data-role=results-summary]').textContent()).toBe(
      `${count('pass')} passed · ${count('fail')} failed · ${count('error')} could not run`,
    );
    const chart = await chartShown();
    expect(chart).toMatchObject({ type: 'bar', labels: expected.map((e) => e.test_case_id), drawn: true });
    expect(chart!.datasets.map((d) => d.data)).toEqual([
      expected.map((e) => e.checked_records - e.failed_records),
      expected.map((e) => e.failed_records),
    ]);
    // The hostile description is text, not markup.
    expect(await page.locator('[data-role=results-detail]').textContent()).toContain(HOSTILE);
    expect(await page.locator('img').count()).toBe(0);
    await temporalLinkIsRight(jobId);
    await screenshot('test-execution');
  });

  it('sampling: each stratum’s population and sample are the database’s, side by side in the chart', async () => {
    const jobId = jobIds.sampling;
    await openFromList(jobId);
    const expected = await harness.db
      .selectFrom('sampling_strata')
      .select(['stratum', 'population', 'allocated', 'selected'])
      .where('job_id', '=', jobId)
      .orderBy('stratum')
      .execute();
    expect(expected.length).toBeGreaterThan(1);
    const shown = await tableRows('data-stratum');
    expect(shown.map((r) => r.key)).toEqual(expected.map((e) => e.stratum));
    shown.forEach((r, i) => {
      expect(r.cells.population!.value).toBe(String(Number(expected[i]!.population)));
      expect(r.cells.allocated!.value).toBe(String(expected[i]!.allocated));
      expect(r.cells.selected!.value).toBe(String(expected[i]!.selected));
    });
    const plan = await harness.db
      .selectFrom('sampling_plans')
      .selectAll()
      .where('job_id', '=', jobId)
      .executeTakeFirstOrThrow();
    expect(await page.locator('[data-role=results-summary]').textContent()).toContain(
      `Sample of ${plan.sample_size.toLocaleString('en-US')} from ${Number(plan.population).toLocaleString('en-US')} records`,
    );
    // A stratum's key is the JSON array of its columns' values; the page shows the values.
    const label = (key: string) =>
      (JSON.parse(key) as (string | number | null)[]).map((v) => (v === null ? '(null)' : String(v))).join(' / ');
    const chart = await chartShown();
    expect(chart).toMatchObject({ labels: expected.map((e) => label(e.stratum)), drawn: true });
    expect(chart!.datasets.map((d) => d.data)).toEqual([
      expected.map((e) => Number(e.population)),
      expected.map((e) => e.selected),
    ]);
    await temporalLinkIsRight(jobId);
    await screenshot('sampling');
  });

  it('scoping: risk scores and the tests chosen are the database’s, highest score first', async () => {
    const jobId = jobIds.scoping;
    await openFromList(jobId);
    const { rows: expected } = await sql<{ attribute: string; score: number | null; risk: string | null }>`
      select attribute, score, risk from scoping_assessments where job_id = ${jobId}
      order by score desc nulls last, attribute`.execute(harness.db);
    expect(expected).toHaveLength(5);
    const shown = await tableRows('data-attribute');
    expect(shown.map((r) => r.key)).toEqual(expected.map((e) => e.attribute));
    shown.forEach((r, i) => {
      expect(r.cells.score!.value).toBe(expected[i]!.score === null ? '' : String(expected[i]!.score));
      expect(r.cells.risk!.text).toBe(expected[i]!.risk);
    });
    const chosen = await harness.db
      .selectFrom('scoping_selection')
      .select(['test_kind', 'cost'])
      .where('job_id', '=', jobId)
      .orderBy('test_kind')
      .execute();
    expect(chosen.length).toBeGreaterThan(0);
    expect(
      await page.locator('tr[data-test-kind]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-test-kind'))),
    ).toEqual(chosen.map((c) => c.test_kind));
    const chart = await chartShown();
    expect(chart).toMatchObject({ labels: expected.map((e) => e.attribute), drawn: true });
    expect(chart!.datasets[0]!.data).toEqual(expected.map((e) => e.score));
    await temporalLinkIsRight(jobId);
    await screenshot('scoping');
  });

  it('planning: PDEs mapped, failed and kept as a person accepted them are the database’s', async () => {
    // A person accepts one mapping; mapping the plan's PDEs again keeps it and maps the others.
    const accepted = await harness.db
      .selectFrom('pde_mappings')
      .select('pde_id')
      .where('job_id', '=', jobIds.mapping)
      .orderBy('pde_id')
      .executeTakeFirstOrThrow();
    await harness.db
      .updateTable('pde_mappings')
      .set({ status: 'accepted' })
      .where('pde_id', '=', accepted.pde_id)
      .execute();
    const { jobId } = await harness.jobs.startJob({
      jobType: 'pde_regeneration',
      owner: OWNER,
      planId: PLAN_ID,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      pdeNames: PDES.map((p) => p.name),
    });
    expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'completed' });
    await openFromList(jobId);
    const expected = await harness.db
      .selectFrom('pde_mapping_outcomes')
      .select(['pde_id', 'outcome'])
      .where('job_id', '=', jobId)
      .orderBy('pde_id')
      .execute();
    const count = (outcome: string) => expected.filter((e) => e.outcome === outcome).length;
    expect([count('mapped'), count('skipped_accepted')]).toEqual([2, 1]);
    const shown = await tableRows('data-pde-id');
    expect(shown.map((r) => [r.key, r.cells.outcome!.text])).toEqual(
      expected.map((e) => [String(e.pde_id), e.outcome]),
    );
    const chart = await chartShown();
    expect(chart).toMatchObject({ labels: ['mapped', 'failed', 'accepted (kept)'], drawn: true });
    expect(chart!.datasets[0]!.data).toEqual([count('mapped'), count('failed'), count('skipped_accepted')]);
    await temporalLinkIsRight(jobId);
    await screenshot('planning');
  });

  it('planning: the chunks read and the plan data elements an attribute generation wrote are the database’s', async () => {
    const jobId = jobIds.generation;
    await openFromList(jobId);
    const chunks = await harness.db
      .selectFrom('attribute_candidates')
      .select(['status', 'candidates'])
      .where('job_id', '=', jobId)
      .execute();
    const elements = await harness.db
      .selectFrom('plan_data_elements')
      .select(['pde_id', 'name'])
      .where('source_job_id', '=', jobId)
      .orderBy('pde_id')
      .execute();
    expect(elements.length).toBeGreaterThan(0);
    const read = chunks.filter((c) => c.status === 'completed').length;
    const failed = chunks.length - read;
    const candidates = chunks.reduce((sum, c) => sum + c.candidates.length, 0);
    expect(await page.locator('[data-role=results-summary]').textContent()).toBe(
      `${read} chunks read, ${failed} failed; ${candidates} candidates merged into ${elements.length} plan data elements.`,
    );
    const shown = await page
      .locator('[data-role=results-detail] tr[data-pde-id]')
      .evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-pde-id'), r.children[1]!.textContent]));
    expect(shown).toEqual(elements.map((e) => [String(e.pde_id), e.name]));
    const chart = await chartShown();
    expect(chart).toMatchObject({ labels: ['chunks read', 'chunks failed'], drawn: true });
    expect(chart!.datasets[0]!.data).toEqual([read, failed]);
  });

  it('follows a running job without a reload, pushed by its event stream: its steps move, and it ends completed with its final results', async () => {
    const asked: string[] = [];
    const track = (request: { url(): string }) => asked.push(new URL(request.url()).pathname);
    page.on('request', track);
    await page.goto(`${api.url}/jobs/${liveJobId}`);
    await gate.waitUntilHeld(1, 30_000);
    // Running, with the results as they stand so far (none of its attributes done yet).
    await page.locator('body[data-status=running][data-results=partial]').waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-role=steps]').textContent()).toMatch(/^0 \/ 3 steps/);
    gate.release(1);
    // One attribute done: the job's event stream brings it, without a reload.
    await page.locator('[data-role=steps]', { hasText: /^1 \/ 3 steps/ }).waitFor({ timeout: 15_000 });
    gate.open();
    await page.locator('body[data-status=completed][data-results=final]').waitFor({ timeout: 30_000 });
    page.off('request', track);
    // Every status came pushed: the stream was opened, and the status was never polled.
    const jobPath = `/api/v1/jobs/${liveJobId}`;
    expect(asked.filter((p) => p === `${jobPath}/events`).length).toBeGreaterThanOrEqual(1);
    expect(asked.filter((p) => p === `${jobPath}/status`)).toEqual([]);
    const expected = await harness.db
      .selectFrom('attribute_results')
      .select(['attribute', 'rules_count'])
      .where('job_id', '=', liveJobId)
      .orderBy('attribute')
      .execute();
    const shown = await tableRows('data-attribute');
    expect(shown.map((r) => [r.key, r.cells['rules-count']!.text])).toEqual(
      expected.map((e) => [e.attribute, String(e.rules_count)]),
    );
  });

  it('profiling: a rule execution lists the attributes whose rules it ran, with the generation job named', async () => {
    // The rules the live test's job generated, run for two of its three attributes.
    const { jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling_rule_execution',
      owner: OWNER,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: ['annual_income', 'credit_score'],
      rulesFromJobId: liveJobId,
    });
    expect(await harness.jobs.waitForJob(jobId)).toMatchObject({ status: 'completed' });
    await openFromList(jobId);
    const { rows: expected } = await sql<{ attribute: string; checked: string; failed: string }>`
      select attribute, sum(checked_rows) filter (where error is null) as checked,
             sum(failed_rows) filter (where error is null) as failed
      from rule_results where job_id = ${jobId} group by attribute order by attribute`.execute(harness.db);
    expect(expected.map((e) => e.attribute)).toEqual(['annual_income', 'credit_score']);
    const shown = await tableRows('data-attribute');
    expect(shown.map((r) => [r.key, r.cells.checked!.value, r.cells.failed!.value])).toEqual(
      expected.map((e) => [e.attribute, String(Number(e.checked)), String(Number(e.failed))]),
    );
    expect(await page.locator('[data-role=results-summary]').textContent()).toContain(`(rules of job ${liveJobId})`);
  });

  it("says so for an unknown job or another owner's, and asks a signed-out visitor to sign in", async () => {
    const other = (
      await harness.jobs.startJobFromJson({
        jobType: 'test_execution',
        owner: 'someone-else',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        checks: [{ attribute: 'credit_score', rule: { kind: 'not_null' } }],
      })
    ).jobId;
    for (const id of [randomUUID(), other]) {
      await page.goto(`${api.url}/jobs/${id}`);
      await page.locator('[data-role=notice]', { hasText: `No such job: not_found` }).waitFor({ timeout: 15_000 });
      expect(await page.locator('[data-role=results]').isHidden()).toBe(true);
      expect(await page.locator('[data-role=job-type]').textContent()).toBe('');
    }
    const signedOut = await browser.newPage();
    try {
      await signedOut.goto(`${api.url}/jobs/${jobIds.profiling}`);
      await signedOut.locator('[data-role=notice]', { hasText: 'Sign in on the jobs page first.' }).waitFor();
      expect(await signedOut.locator('[data-role=who]').textContent()).toBe('Not signed in');
    } finally {
      await signedOut.close();
    }
  });

  it('ran no injected or blocked code: no page error, no CSP violation', () => {
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});

describe('GET /api/v1/jobs/{id}/results', () => {
  it("answers 404 for another owner's job and an unknown one, 400 for a malformed id, 401 without a token", async () => {
    const other = await api.request('someone-else', 'GET', `/api/v1/jobs/${jobIds.profiling}/results`);
    expect(other.status).toBe(404);
    expect(other.body.code).toBe('not_found');
    expect((await api.request(OWNER, 'GET', `/api/v1/jobs/${randomUUID()}/results`)).status).toBe(404);
    const bad = await api.request(OWNER, 'GET', '/api/v1/jobs/not%20an%20id/results');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_request');
    expect((await fetch(`${api.url}/api/v1/jobs/${jobIds.profiling}/results`)).status).toBe(401);
    // An admin may read anyone's.
    const admin = await api.request('admin', 'GET', `/api/v1/jobs/${jobIds.profiling}/results`, undefined, ['admin']);
    expect(admin.status).toBe(200);
    expect(admin.body.results.family).toBe('profiling');
  });

  it('serves chart.js from our own origin with a long cache, and the page pins it', async () => {
    const html = await (await fetch(`${api.url}/jobs/${jobIds.profiling}`)).text();
    const [, src, integrity] = /<script src="([^"]+)" integrity="([^"]+)"><\/script>/.exec(html) ?? [];
    expect(src).toMatch(/^\/assets\/chart\.umd\.min\.js\?v=[0-9a-f]{16}$/);
    const asset = await fetch(`${api.url}${src}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    const body = Buffer.from(await asset.arrayBuffer());
    const { createHash } = await import('node:crypto');
    expect(integrity).toBe(`sha384-${createHash('sha384').update(body).digest('base64')}`);
    expect(body.toString('utf8', 0, 200)).toContain('Chart.js v4');
  });
});
