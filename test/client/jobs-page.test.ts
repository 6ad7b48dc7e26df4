// The jobs page in headless Chromium (Debian's package, driven by playwright-core) against a real API,
// worker and LLM stand-in: live bars, pause/resume/cancel by click, owner isolation, hostile text.
// The tests run in order on one page and one job, as a user would click through them. That job's LLM calls
// wait at a stand-in gate and go on only when a test releases them, so the bar moves when and as far as the
// test decides, and the job is mid-work whenever a button is clicked, however fast or busy the machine.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { createHarness, type Harness, type RunningApi } from '../support/harness';
import type { StandinGate } from '../../llm-standin/server';
import { whilePaused } from '../support/control-checks';
import { jobHistory } from '../support/job-history';
import { waitFor } from '../support/waiting';

const HOSTILE = '<img src=x onerror=alert(1)>';
const SCREENSHOT = path.resolve(__dirname, '../../.tmp/jobs-page.png');

let harness: Harness;
let api: RunningApi;
let browser: Browser;
let page: Page;
let jobId: string;
let hostileJobId: string;
let otherJobId: string;
let gate: StandinGate;
const dialogs: string[] = [];
const pageErrors: string[] = [];

const row = (id: string): Locator => page.locator(`[data-job-id="${id}"]`);
const button = (id: string, action: 'pause' | 'resume' | 'cancel') => row(id).locator(`button[data-action=${action}]`);

interface Shown {
  status: string | null;
  value: number;
  completed: number;
}

/** What the page shows of one job, read in one evaluation so the values come from the same render. */
async function shown(id: string): Promise<Shown> {
  return page.evaluate<Shown>(`(() => {
    const row = document.querySelector('[data-job-id="' + ${JSON.stringify(id)} + '"]');
    return {
      status: row.getAttribute('data-status'),
      value: Number(row.querySelector('[data-role=progress]').getAttribute('aria-valuenow')),
      completed: Number(row.querySelector('[data-role=completed-steps]').textContent),
    };
  })()`);
}

beforeAll(async () => {
  harness = await createHarness();
  api = await harness.startApi();
  const catalogue = await harness.db
    .selectFrom('data_source_attributes')
    .select('name')
    .where('data_source_id', '=', DEMO_DATA_SOURCE_ID)
    .orderBy('position')
    .limit(40)
    .execute();
  const attributeIds = catalogue.map((a) => a.name);
  const start = (owner: string, ids: string[], metadata: Record<string, unknown> = {}) =>
    harness.jobs
      .startJob({
        jobType: 'data_profiling_llm_generation',
        owner,
        dataSourceId: DEMO_DATA_SOURCE_ID,
        attributeIds: ids,
        llmConcurrency: 2,
        metadata,
      })
      .then((s) => s.jobId);
  otherJobId = await start('someone-else', attributeIds.slice(0, 2));
  // Job ids are the server's UUIDs, but metadata is free text from whoever started the job, and the page shows it.
  hostileJobId = await start('page-user', attributeIds.slice(0, 1), { note: HOSTILE, [HOSTILE]: HOSTILE });
  jobId = await start('page-user', attributeIds);
  // The gate is in place before any worker runs, so every call of the clicked-through job waits at it.
  gate = harness.standin.gate({ jobId });
  await harness.startWorker();

  mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  // Records every job row that is ever in the DOM, however briefly, so "never shown" means never.
  await page.addInitScript({
    content: `window.__seenJobIds = new Set();
      new MutationObserver(() => document.querySelectorAll('[data-job-id]').forEach((el) => window.__seenJobIds.add(el.getAttribute('data-job-id'))))
        .observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-job-id'] });`,
  });
  await page.goto(`${api.url}/#token=${await api.tokenFor('page-user')}`);
});

afterAll(async () => {
  gate?.open();
  await browser?.close();
  await harness?.close();
});

describe('the jobs page', () => {
  it('signs in from the #token fragment, then removes the token from the address bar', async () => {
    await row(jobId).waitFor();
    expect(page.url()).toBe(`${api.url}/`);
    expect(await page.locator('#who').textContent()).toBe('Signed in as page-user');
    expect(await page.evaluate('sessionStorage.length')).toBe(1);
  });

  it("shows the user's job with a progress bar whose value grows", async () => {
    expect(await row(jobId).locator('[data-role=progress]').getAttribute('role')).toBe('progressbar');
    // Two items at once (llmConcurrency 2): let both finish, then one more, and watch the bar follow.
    await gate.waitUntilHeld(2, 30_000);
    gate.release(2);
    const first = await waitFor(
      () => shown(jobId),
      (s) => s.value > 0 && s.completed > 0,
      15_000,
      'the bar to show the first items done',
    );
    expect(first.status).toBe('running');
    await gate.waitUntilHeld(1, 30_000);
    gate.release(1);
    await waitFor(
      () => shown(jobId),
      (s) => s.value > first.value && s.completed > first.completed,
      15_000,
      'the bar to grow past the first items',
    );
    expect(await button(jobId, 'pause').isEnabled()).toBe(true);
    expect(await button(jobId, 'resume').isEnabled()).toBe(false);
    expect(await button(jobId, 'cancel').isEnabled()).toBe(true);
  });

  it('moves the bar from the job’s event stream, without polling its status', async () => {
    const asked: string[] = [];
    const record = (request: { url(): string }) => asked.push(new URL(request.url()).pathname);
    page.on('request', record);
    try {
      await gate.waitUntilHeld(2, 30_000);
      const before = await shown(jobId);
      gate.release(1);
      await waitFor(
        () => shown(jobId),
        (s) => s.completed > before.completed,
        15_000,
        'the bar to move after one more item',
      );
      // Two more rounds of the page's list polling: a page polling this job's status would have asked for it.
      for (let round = 0; round < 2; round++)
        await page.waitForResponse((response) => new URL(response.url()).pathname === '/api/v1/jobs', {
          timeout: 10_000,
        });
      await gate.waitUntilHeld(2, 30_000);
    } finally {
      page.off('request', record);
    }
    // The page still lists jobs (new ones appear), but this job's status came only through its stream.
    expect(asked.filter((p) => p === `/api/v1/jobs/${jobId}/status`)).toEqual([]);
  });

  /** Resolves after `rounds` more answers to the page's list request: each round renders before the next begins. */
  const pageRounds = async (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      // The page asks again a second after each round; 10 s bounds one round even on a busy machine.
      await page.waitForResponse((response) => new URL(response.url()).pathname === '/api/v1/jobs', {
        timeout: 10_000,
      });
    }
  };

  it('Pause turns the row paused, and then the completed-steps count stops changing', async () => {
    await gate.waitUntilHeld(2, 30_000);
    const heldBeforePause = gate.heldTotal();
    await button(jobId, 'pause').click();
    await waitFor(
      () => shown(jobId),
      (s) => s.status === 'paused',
      15_000,
      'the row to show paused',
    );
    // The two items in flight at the pause still finish; nothing else may start.
    gate.release();
    const settled = await waitFor(
      () => harness.jobs.progress(jobId),
      (p) => p?.status === 'paused' && p.inFlight === 0,
      15_000,
      'the items in flight at the pause to finish',
    );
    const last = await waitFor(
      () => shown(jobId),
      (s) => s.status === 'paused' && s.completed === settled!.completedSteps,
      15_000,
      `the page to show the ${settled!.completedSteps} steps done at the pause`,
    );
    // No item started after the pause: none reached the gate, and the history schedules nothing after it reached the
    // workflow (as an update, or a signal).
    expect(gate.heldTotal()).toBe(heldBeforePause);
    expect(whilePaused(await jobHistory(harness.temporal, jobId)).filter((fact) => fact.kind === 'scheduled')).toEqual(
      [],
    );
    // The page keeps polling and keeps showing the same: two more rounds rendered, nothing moved.
    await pageRounds(2);
    expect(await shown(jobId)).toEqual(last);
    expect(last.value).toBeLessThan(100);
    expect(await button(jobId, 'pause').isEnabled()).toBe(false);
    expect(await button(jobId, 'resume').isEnabled()).toBe(true);
    expect((await harness.jobs.progress(jobId))?.status).toBe('paused');
    await page.screenshot({ path: SCREENSHOT.replace('.png', '-paused.png'), fullPage: true });
  });

  it('Resume makes the bar move again', async () => {
    const paused = await shown(jobId);
    await button(jobId, 'resume').click();
    // Resumed, the job starts items again: they reach the gate; one is let through.
    await gate.waitUntilHeld(1, 30_000);
    gate.release(1);
    const resumed = await waitFor(
      () => shown(jobId),
      (s) => s.status === 'running' && s.value > paused.value,
      15_000,
      'the bar to move after resume',
    );
    expect(resumed.completed).toBeGreaterThan(paused.completed);
  });

  it('Cancel ends the job cancelled, with every button disabled', async () => {
    // Its items are still held at the gate: the job is mid-work when the cancel lands.
    expect(gate.held()).toBeGreaterThan(0);
    await button(jobId, 'cancel').click();
    await waitFor(
      () => shown(jobId),
      (s) => s.status === 'cancelled',
      15_000,
      'the row to show cancelled',
    );
    expect((await harness.jobs.waitForJob(jobId))?.status).toBe('cancelled');
    for (const action of ['pause', 'resume', 'cancel'] as const)
      expect(await button(jobId, action).isEnabled()).toBe(false);
  });

  it("shows the API's error in the message area when an action is refused", async () => {
    await waitFor(
      () => shown(hostileJobId),
      (s) => s.status === 'completed',
      30_000,
      'the one-attribute job to show completed',
    );
    // The page offers no refused action, so force the button on and click it as a stale page would.
    await page.evaluate(
      `(() => { const b = document.querySelector('[data-job-id="${hostileJobId}"] button[data-action=cancel]'); b.disabled = false; b.click(); })()`,
    );
    const notice = page.locator('[data-role=notice]');
    await notice.waitFor({ state: 'visible' });
    expect(await notice.textContent()).toContain(`wrong_state: cannot cancel job ${hostileJobId}`);
    expect(await notice.textContent()).toContain(`it is completed`);
  });

  it('renders hostile metadata as text: no element is injected and no script runs', async () => {
    const metadata = await row(hostileJobId).locator('[data-role=metadata]').textContent();
    expect(metadata).toContain(`note: ${HOSTILE}`);
    expect(metadata).toContain(`${HOSTILE}: ${HOSTILE}`);
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('signs in with a pasted token, and says so when the API refuses one', async () => {
    const other = await browser.newPage();
    try {
      await other.goto(`${api.url}/jobs`);
      expect(await other.locator('#who').textContent()).toBe('Not signed in');
      await other.fill('#token', await api.tokenFor('page-user'));
      await other.click('#signin button[type=submit]');
      await other.locator(`[data-job-id="${jobId}"]`).waitFor();
      await other.fill('#token', 'not-a-jwt');
      await other.click('#signin button[type=submit]');
      await other.locator('[data-role=notice]', { hasText: 'unauthorized: invalid bearer token' }).waitFor();
      expect(await other.locator('[data-job-id]').count()).toBe(0);
      expect(await other.locator('#who').textContent()).toBe('Not signed in');
    } finally {
      await other.close();
    }
  });

  it("never shows another owner's job", async () => {
    // The job is there for whoever may see it, so its absence on the page is the owner filter's doing.
    expect(
      (await api.request('admin', 'GET', '/api/v1/jobs', undefined, ['admin'])).body.jobs.map(
        (j: { job_id: string }) => j.job_id,
      ),
    ).toContain(otherJobId);
    const seen = await page.evaluate<string[]>('[...window.__seenJobIds]');
    expect(seen.sort()).toEqual([hostileJobId, jobId].sort());
    expect(seen).not.toContain(otherJobId);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
});
