// The planning jobs end to end (real server, PostgreSQL, the stand-in): attribute generation from the
// sample documents, PDE mapping among pre-filtered columns, regeneration around accepted mappings,
// pause/resume, cancel, the answer cache and continue-as-new. RECORD_HISTORIES=1 saves replay histories.

import { randomUUID } from 'node:crypto';
import { msToNumber } from '@temporalio/common/lib/time';
import { topCandidateColumns } from '../../activities/planning/planning-candidates';
import { JobsClient } from '../../client/jobs-client';
import { InvalidJobRequestError } from '../../client/errors';
import { DEMO_DATA_SOURCE_ID } from '../../db/demo-data';
import { LLM_ACTIVITY } from '../../workflows/control/activity-options';
import { cancelWhileHeld, heldAtGate, pauseWhileHeld } from '../support/control-checks';
import { createHarness, type Harness } from '../support/harness';
import { recordHistoryIfAsked } from '../support/histories';
import { waitFor } from '../support/waiting';

let harness: Harness;

beforeAll(async () => {
  // A 150-event budget: the 90-PDE job below spans several runs, the smaller jobs fit in one.
  harness = await createHarness({ faults: { latencyMs: 20 }, config: { JOB_HISTORY_EVENT_BUDGET: 150 } });
  await harness.startWorker();
});
afterAll(() => harness.close());
beforeEach(() => {
  harness.standin.reset();
  harness.standin.setFaults({ latencyMs: 20 });
});

const recordHistory = (jobId: string, name: string) =>
  recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, jobId, name);

const PDES = [
  { name: 'Customer Email', description: 'Contact email address of the cardholder', dataType: 'text' },
  { name: 'Current Balance', description: 'Outstanding balance in USD', dataType: 'numeric' },
  { name: 'Credit Score', description: 'FICO score of the cardholder at last review', dataType: 'integer' },
  { name: 'Account Identifier', description: 'Unique identifier of the account', dataType: 'text' },
  { name: 'Billing ZIP', description: 'ZIP code of the billing address', dataType: 'text' },
  { name: 'Credit Limit', description: 'Credit limit of the account in USD', dataType: 'decimal' },
  { name: 'Account Status', description: 'Lifecycle status of the account', dataType: 'text' },
  { name: 'Phone Number', description: 'Contact phone of the cardholder', dataType: 'text' },
];

async function startMapping(owner: string, planId: string, extra: Record<string, unknown> = {}) {
  return (
    await harness.jobs.startJob({
      jobType: 'pde_auto_mapping',
      owner,
      planId,
      dataSourceId: DEMO_DATA_SOURCE_ID,
      llmConcurrency: 4,
      ...extra,
    })
  ).jobId;
}

async function pdeIdsOf(planId: string): Promise<Map<string, number>> {
  const rows = await harness.db
    .selectFrom('plan_data_elements')
    .select(['pde_id', 'name'])
    .where('plan_id', '=', planId)
    .execute();
  return new Map(rows.map((r) => [r.name, Number(r.pde_id)]));
}

const mappingsOf = (planId: string) =>
  harness.db.selectFrom('pde_mappings').selectAll().where('plan_id', '=', planId).orderBy('pde_id').execute();

describe('llm_attribute_generation', () => {
  it('turns the sample documents into de-duplicated plan data elements with the provenance of every chunk', async () => {
    const { jobId } = await harness.jobs.startJob({
      jobType: 'llm_attribute_generation',
      owner: 'planner',
      planId: 'plan-gen',
      sampleDocuments: true,
      llmConcurrency: 3,
    });
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', error: null });
    expect(job?.result).toEqual({
      planId: 'plan-gen',
      chunks: 5,
      chunksFailed: 0,
      candidates: 29,
      attributes: 24,
      duplicatesMerged: 5,
      failedChunks: [],
      llm: { calls: 5, cachedCalls: 0, promptTokens: expect.any(Number), completionTokens: expect.any(Number) },
    });
    expect(job?.progress).toMatchObject({ completedSteps: 6, totalSteps: 6, progressPercentage: 100 });

    const pdes = await harness.db
      .selectFrom('plan_data_elements')
      .selectAll()
      .where('plan_id', '=', 'plan-gen')
      .execute();
    expect(pdes.map((p) => p.name).sort()).toEqual(
      [
        'account_number',
        'account_origination_date',
        'account_status',
        'annual_percentage_rate',
        'autopay_flag',
        'billing_zip_code',
        'borrower_state',
        'charge_off_amount',
        'counterparty_id',
        'credit_limit',
        'customer_email',
        'customer_id',
        'cycle_ending_balance',
        'data_owner_email',
        'exposure_amount',
        'last_review_date',
        'minimum_payment_due',
        'outstanding_balance',
        'past_due_days',
        'phone_number',
        'product_type',
        'refreshed_credit_score',
        'risk_grade',
        'social_security_number',
      ].sort(),
    );
    expect(pdes.every((p) => p.source_job_id === jobId)).toBe(true);
    const byName = new Map(pdes.map((p) => [p.name, p]));
    const provenance = (name: string) =>
      (byName.get(name)!.provenance as { document: string; chunk: number; name: string }[]).map(
        (p) => `${p.document}#${p.chunk} ${p.name}`,
      );
    // Abbreviated and synonymous names, similar descriptions, and a line repeated by the chunk overlap.
    expect(provenance('account_number')).toEqual([
      'ffiec-031-loans.md#0 Acct No.',
      'fr-y-14m-credit-card.md#0 Account Number',
    ]);
    expect(provenance('customer_id')).toEqual([
      'customer-contact-standard.md#0 Customer Identifier',
      'fr-y-14m-credit-card.md#0 Customer ID',
    ]);
    expect(provenance('credit_limit')).toEqual([
      'ffiec-031-loans.md#0 Credit Limit',
      'fr-y-14m-credit-card.md#0 Current Credit Limit',
    ]);
    expect(provenance('past_due_days')).toEqual([
      'ffiec-031-loans.md#0 Past Due Days',
      'fr-y-14m-credit-card.md#1 Days Past Due',
    ]);
    expect(provenance('cycle_ending_balance')).toEqual([
      'fr-y-14m-credit-card.md#0 Cycle Ending Balance',
      'fr-y-14m-credit-card.md#1 Cycle Ending Balance',
    ]);
    expect(byName.get('past_due_days')).toMatchObject({ data_type: 'integer', constraints: ['range 0..180'] });
    expect(byName.get('social_security_number')).toMatchObject({
      data_type: 'text',
      constraints: ['format NNN-NN-NNNN', 'required'],
    });
    for (const chunk of ['fr-y-14m-credit-card.md#0', 'fr-y-14m-credit-card.md#1', 'ffiec-031-loans.md#0'])
      expect(harness.standin.callCount(`plan-gen/${chunk}`)).toBe(1);
    recordHistory(jobId, 'planning-attribute-generation');
  });

  it('records a cancel that arrives before the documents are split as cancelled, with no LLM call made', async () => {
    // A queue no worker polls yet, so the cancel is in the workflow's history before its first step.
    const queue = `planning-early-cancel-${randomUUID()}`;
    const jobs = new JobsClient(harness.temporal, harness.db, { ...harness.config, TEMPORAL_TASK_QUEUE: queue });
    const { jobId } = await jobs.startJob({
      jobType: 'llm_attribute_generation',
      owner: 'planner',
      planId: 'plan-early-cancel',
      sampleDocuments: true,
    });
    await jobs.cancel({ subject: 'planner', admin: false }, jobId);
    const worker = await harness.startWorker({ TEMPORAL_TASK_QUEUE: queue });
    try {
      expect(await jobs.waitForJob(jobId)).toMatchObject({ status: 'cancelled', error: 'Cancelled by request' });
      expect(harness.standin.calls()).toEqual([]);
    } finally {
      await worker.stop();
    }
  });

  it('rejects a request without documents or with an empty one, naming the field', async () => {
    const start = (extra: Record<string, unknown>) =>
      harness.jobs.startJob({ jobType: 'llm_attribute_generation', owner: 'planner', planId: 'plan-bad', ...extra });
    await expect(start({})).rejects.toMatchObject({ field: 'documents' });
    await expect(start({ documents: [{ name: 'a.md', content: '  \n' }] })).rejects.toMatchObject({
      field: 'documents.0.content',
    });
    await expect(start({ sampleDocuments: true, chunkSize: 400, chunkOverlap: 300 })).rejects.toMatchObject({
      field: 'chunkOverlap',
    });
    await expect(
      start({
        documents: [
          { name: 'a.md', content: 'x' },
          { name: 'a.md', content: 'y' },
        ],
      }),
    ).rejects.toBeInstanceOf(InvalidJobRequestError);
    expect(
      await harness.db.selectFrom('planning_documents').select('id').where('plan_id', '=', 'plan-bad').execute(),
    ).toEqual([]);
  });
});

describe('pde_auto_mapping', () => {
  it('maps every PDE to columns chosen among the top-k candidates it was offered', async () => {
    const jobId = await startMapping('mapper', 'plan-map', { pdes: PDES, candidateColumns: 5 });
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', error: null });
    expect(job?.result).toMatchObject({
      pdesTotal: 8,
      mapped: 8,
      failed: 0,
      skippedAccepted: 0,
      byClassification: { PII: 3, financial: 2, CDE: 3 },
    });

    const ids = await pdeIdsOf('plan-map');
    const mappings = new Map((await mappingsOf('plan-map')).map((m) => [m.pde_id, m]));
    const catalogue = await harness.db
      .selectFrom('data_source_attributes')
      .select(['name', 'data_type as dataType', 'description'])
      .where('data_source_id', '=', DEMO_DATA_SOURCE_ID)
      .orderBy('position')
      .execute();
    for (const pde of PDES) {
      const mapping = mappings.get(ids.get(pde.name)!)!;
      const offered = topCandidateColumns(pde, catalogue, 5).map((c) => c.name);
      expect(mapping.column_names.every((c) => offered.includes(c))).toBe(true);
      expect(mapping).toMatchObject({ job_id: jobId, status: 'suggested', data_source_id: DEMO_DATA_SOURCE_ID });
      expect(harness.standin.callCount(`plan-map/pde-${ids.get(pde.name)}`)).toBe(1);
    }
    const columnOf = (name: string) => mappings.get(ids.get(name)!)!.column_names;
    expect(PDES.map((p) => columnOf(p.name))).toEqual([
      ['email_address'],
      ['current_balance'],
      ['credit_score'],
      ['account_id'],
      ['billing_zip'],
      ['credit_limit'],
      ['account_status'],
      ['phone_number'],
    ]);
    expect(mappings.get(ids.get('Customer Email')!)).toMatchObject({ classification: 'PII', risk_rating: 'high' });
    expect(mappings.get(ids.get('Current Balance')!)).toMatchObject({ classification: 'financial' });
  });

  it('records a PDE whose answers stay invalid as failed with the reason, and fails a job whose every PDE failed', async () => {
    const jobId = await startMapping('mapper', 'plan-faults', { pdes: PDES.slice(0, 3) });
    await harness.jobs.waitForJob(jobId);
    const ids = await pdeIdsOf('plan-faults');
    const broken = ids.get('Current Balance')!;
    harness.standin.setFaults({ latencyMs: 20, rules: [{ kind: 'malformed', items: [`plan-faults/pde-${broken}`] }] });
    const again = await startMapping('mapper', 'plan-faults');
    const job = await harness.jobs.waitForJob(again);
    expect(job).toMatchObject({
      status: 'completed',
      error: expect.stringContaining('1 of 3 PDEs failed: Current Balance (invalid LLM output after 3 attempts'),
    });
    expect(job?.result).toMatchObject({
      mapped: 2,
      failed: 1,
      failedPdes: [{ pdeId: broken, name: 'Current Balance', reason: expect.stringContaining('not JSON') }],
    });

    harness.standin.setFaults({ latencyMs: 20, rules: [{ kind: 'malformed' }] });
    const allBroken = await startMapping('mapper', 'plan-faults-all', { pdes: PDES.slice(0, 2) });
    expect(await harness.jobs.waitForJob(allBroken)).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('2 of 2 PDEs failed'),
      result: { mapped: 0, failed: 2 },
    });
  });

  it('rejects unknown data sources, repeated PDE names and an empty plan, naming the field', async () => {
    await expect(
      startMapping('mapper', 'plan-x', { dataSourceId: 'nope', pdes: PDES.slice(0, 1) }),
    ).rejects.toMatchObject({ field: 'dataSourceId' });
    await expect(startMapping('mapper', 'plan-x', { pdes: [PDES[0], PDES[1], PDES[0]] })).rejects.toMatchObject({
      field: 'pdes.2.name',
    });
    await expect(startMapping('mapper', 'plan-empty')).rejects.toMatchObject({ field: 'planId' });
  });
});

describe('pde_regeneration', () => {
  it('maps the chosen PDEs again, leaving accepted mappings and unchosen PDEs untouched', async () => {
    const first = await startMapping('regen', 'plan-regen', { pdes: PDES.slice(0, 4) });
    await harness.jobs.waitForJob(first);
    const ids = await pdeIdsOf('plan-regen');
    const [accepted, rejected, suggested, unchosen] = PDES.slice(0, 4).map((p) => ids.get(p.name)!);
    // A person accepted one mapping (choosing a column of their own) and rejected another.
    await harness.db
      .updateTable('pde_mappings')
      .set({ status: 'accepted', column_names: ['customer_id'] })
      .where('pde_id', '=', accepted!)
      .execute();
    await harness.db.updateTable('pde_mappings').set({ status: 'rejected' }).where('pde_id', '=', rejected!).execute();
    const before = new Map((await mappingsOf('plan-regen')).map((m) => [m.pde_id, m]));
    harness.standin.reset();

    const { jobId } = await harness.jobs.startJob({
      jobType: 'pde_regeneration',
      owner: 'regen',
      planId: 'plan-regen',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      pdeNames: PDES.slice(0, 3).map((p) => p.name),
    });
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', error: null });
    expect(job?.result).toMatchObject({ pdesTotal: 3, mapped: 2, failed: 0, skippedAccepted: 1 });

    const after = new Map((await mappingsOf('plan-regen')).map((m) => [m.pde_id, m]));
    expect(after.get(accepted!)).toEqual(before.get(accepted!));
    expect(after.get(unchosen!)).toEqual(before.get(unchosen!));
    expect(after.get(rejected!)).toMatchObject({
      job_id: jobId,
      status: 'suggested',
      column_names: ['current_balance'],
    });
    expect(after.get(suggested!)).toMatchObject({ job_id: jobId, status: 'suggested', column_names: ['credit_score'] });
    expect(harness.standin.callCount(`plan-regen/pde-${accepted}`)).toBe(0);
    expect(harness.standin.callCount(`plan-regen/pde-${rejected}`)).toBe(1);
    expect(harness.standin.callCount(`plan-regen/pde-${unchosen}`)).toBe(0);
    recordHistory(jobId, 'planning-pde-regeneration');
  });

  it('rejects PDEs the plan does not have, naming the position', async () => {
    const start = (extra: Record<string, unknown>) =>
      harness.jobs.startJob({
        jobType: 'pde_regeneration',
        owner: 'regen',
        planId: 'plan-regen',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        ...extra,
      });
    await expect(start({ pdeNames: ['Customer Email', 'No Such PDE'] })).rejects.toMatchObject({ field: 'pdeNames.1' });
    await expect(start({})).rejects.toMatchObject({ field: 'pdeIds' });
  });
});

describe('mapping job control', () => {
  const owner = 'controller';
  const principal = { subject: owner, admin: false };
  const manyPdes = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) => ({
      ...PDES[i % PDES.length]!,
      name: `${prefix} ${PDES[i % PDES.length]!.name} ${i}`,
    }));

  it('pauses without starting new PDEs and resumes with every PDE mapped exactly once', async () => {
    // The first two PDEs go through; the pause lands while the next two are held.
    const gate = harness.standin.gate({ fromCall: 3 });
    const jobId = await startMapping(owner, 'plan-pause', { pdes: manyPdes('P', 12), llmConcurrency: 2 });
    await pauseWhileHeld(harness, principal, jobId, heldAtGate(gate), 2, 'mapPlanDataElement');
    expect(harness.standin.calls()).toHaveLength(4);

    gate.open();
    await harness.jobs.resume(principal, jobId);
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed' });
    expect(job?.result).toMatchObject({ pdesTotal: 12, mapped: 12 });
    for (const id of (await pdeIdsOf('plan-pause')).values())
      expect(harness.standin.callCount(`plan-pause/pde-${id}`)).toBe(1);
    recordHistory(jobId, 'planning-pde-auto-mapping');
  });

  it('cancels a running mapping job, keeping the mappings made so far', async () => {
    // The first two PDEs go through; the cancel lands while the next two are held.
    const gate = harness.standin.gate({ fromCall: 3 });
    const jobId = await startMapping(owner, 'plan-cancel', { pdes: manyPdes('C', 12), llmConcurrency: 2 });
    await cancelWhileHeld(
      harness,
      principal,
      jobId,
      heldAtGate(gate),
      2,
      'mapPlanDataElement',
      msToNumber(LLM_ACTIVITY.heartbeatTimeout!),
    );
    const ids = [...(await pdeIdsOf('plan-cancel')).values()].sort((a, b) => a - b);
    const mapped = await harness.db
      .selectFrom('pde_mapping_outcomes')
      .select('pde_id')
      .where('job_id', '=', jobId)
      .execute();
    expect(mapped.map((m) => Number(m.pde_id)).sort((a, b) => a - b)).toEqual(ids.slice(0, 2));
    expect((await mappingsOf('plan-cancel')).map((m) => Number(m.pde_id))).toEqual(ids.slice(0, 2));
  });
});

describe('mapping with the answer cache', () => {
  it('answers a repeated mapping job from the cache with zero stand-in calls', async () => {
    const first = await startMapping('cached', 'plan-cache', { pdes: PDES.slice(0, 5), useLlmCache: true });
    expect(await harness.jobs.waitForJob(first)).toMatchObject({ status: 'completed' });
    harness.standin.reset();
    const second = await startMapping('cached', 'plan-cache', { useLlmCache: true });
    const job = await harness.jobs.waitForJob(second);
    expect(job).toMatchObject({ status: 'completed' });
    expect(harness.standin.calls()).toHaveLength(0);
    expect(job?.result).toMatchObject({
      mapped: 5,
      llm: { calls: 5, cachedCalls: 5, promptTokens: 0, completionTokens: 0 },
    });
    expect((await mappingsOf('plan-cache')).every((m) => m.job_id === second)).toBe(true);
  });
});

describe('a mapping job larger than its history budget', () => {
  it('continues as new across several runs and maps every PDE exactly once', async () => {
    const pdes = Array.from({ length: 90 }, (_, i) => ({
      ...PDES[i % PDES.length]!,
      name: `${PDES[i % PDES.length]!.name} ${i}`,
    }));
    const jobId = await startMapping('long', 'plan-long', { pdes, llmConcurrency: 4 });
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({ status: 'completed', error: null });
    expect(job?.result).toMatchObject({ pdesTotal: 90, mapped: 90, failed: 0 });
    expect(job?.progress).toMatchObject({ completedSteps: 90, totalSteps: 90, progressPercentage: 100 });

    const listRuns = async () => {
      const runs: string[] = [];
      for await (const run of harness.temporal.workflow.list({ query: `WorkflowId = "${jobId}"` }))
        runs.push(run.status.name);
      return runs;
    };
    // Visibility lags a little behind the runs themselves.
    const runs = await waitFor(
      listRuns,
      (r) => r.includes('COMPLETED'),
      30_000,
      'visibility to list the completed run',
    );
    expect(runs.length).toBeGreaterThan(2);
    expect(runs.filter((r) => r === 'CONTINUED_AS_NEW')).toHaveLength(runs.length - 1);

    const ids = [...(await pdeIdsOf('plan-long')).values()];
    const outcomes = await harness.db
      .selectFrom('pde_mapping_outcomes')
      .select('pde_id')
      .where('job_id', '=', jobId)
      .execute();
    expect(outcomes.map((o) => Number(o.pde_id)).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect((await mappingsOf('plan-long')).filter((m) => m.job_id === jobId)).toHaveLength(90);
    for (const id of ids) expect(harness.standin.callCount(`plan-long/pde-${id}`)).toBe(1);
  });
});
