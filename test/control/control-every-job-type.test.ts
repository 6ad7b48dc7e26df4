// Pause, pause-now and cancel for every one of the ten job types, one table, one harness: each test holds the
// job's units in flight (LLM calls at a stand-in gate, SQL scans on an advisory lock), acts, and asserts order
// and counts from the workflow history, the stand-in and the stored rows; the one time bound is the contract's
// own (a cancel acknowledged within the activity's heartbeat timeout, on the server's clock).

import type { Duration } from '@temporalio/common';
import { sql } from 'kysely';
import { msToNumber } from '@temporalio/common/lib/time';
import { chunkItemKey, pdeItemKey } from '../../activities/planning/planning-prompts';
import { scopingItemKey } from '../../activities/scoping/scoping-prompts';
import type { StartJobRequest } from '../../client/job-definitions';
import { FINAL_STATUSES, JobType, type JobStatus } from '../../common/jobs';
import type { ValidationRule } from '../../common/rules';
import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import {
  LLM_ACTIVITY,
  RULE_EXECUTION_ACTIVITY,
  SAMPLING_SCAN_ACTIVITY,
} from '../../workflows/control/activity-options';
import { cancelWhileHeld, heldAtGate, pauseNowWhileHeld, pauseWhileHeld, type Hold } from '../support/control-checks';
import { createHarness, type Harness } from '../support/harness';
import { activityCounts, jobHistory } from '../support/job-history';
import { createScanHold, type ScanHold } from '../support/scan-hold';

let harness: Harness;
let scans: ScanHold;
let attributes: string[];
let rulesJobId: string;
const owner = 'every-type';
const principal = { subject: owner, admin: false };
/** LLM-bound jobs run two calls at once: both are held before the test acts. */
const LLM_CONCURRENCY = 2;
const ITEMS = 6;
const RULE_ATTRIBUTES = ['credit_score', 'account_status', 'apr_rate', 'email_address'];
const CHECKS: { attribute: string; rule: ValidationRule }[] = [
  { attribute: 'credit_score', rule: { kind: 'range', min: 300, max: 600 } },
  { attribute: 'email_address', rule: { kind: 'length', max: 200 } },
  {
    attribute: 'account_status',
    rule: { kind: 'allowed_values', values: ['ACTIVE', 'CLOSED', 'DELINQUENT', 'SUSPENDED'] },
  },
  { attribute: 'credit_score', rule: { kind: 'not_null' } },
];
/** Rows of the held data source and sampling's unit size: 1 000 / (100 × 2) = 5 units per pass. */
const HELD_ROWS = 1_000;
const SAMPLING_UNITS_PER_PASS = 5;
const PDES = [
  'Customer Email',
  'Current Balance',
  'Credit Score',
  'Account Identifier',
  'Billing ZIP',
  'Credit Limit',
].map((name) => ({ name, description: `${name} of the account`, dataType: 'text' }));

beforeAll(async () => {
  // A fresh live answer on every status read: the checks poll status between steps.
  harness = await createHarness({ config: { STATUS_LIVE_CACHE_MS: 0 } });
  await harness.startWorker();
  scans = await createScanHold(harness, 'ctl_every_type', HELD_ROWS);
  const catalogue = await demoCatalogue(harness.db);
  attributes = catalogue.slice(0, ITEMS).map((a) => a.name);
  const rules = await harness.jobs.startJob({
    jobType: 'data_profiling_llm_generation',
    owner,
    dataSourceId: scans.dataSourceId,
    attributeIds: RULE_ATTRIBUTES,
  });
  expect(await harness.jobs.waitForJob(rules.jobId)).toMatchObject({ status: 'completed' });
  rulesJobId = rules.jobId;
});
afterAll(async () => {
  await scans?.end();
  await harness?.close();
});

let running: Started | undefined;
beforeEach(() => harness.standin.reset());
afterEach(async () => {
  // Whatever happened, nothing stays held and no job of this test runs on into the next.
  await running?.hold.open();
  const row = running && (await harness.jobs.job(running.jobId));
  if (row && !FINAL_STATUSES.includes(row.status as JobStatus))
    await harness.jobs.handle(row.id).terminate('test cleanup');
  running = undefined;
});

interface Started {
  jobId: string;
  hold: Hold;
  /** True when the units are LLM calls (the stand-in's records are evidence too). */
  llm: boolean;
  /** Every item the job must store, one key each (LLM-bound: the stand-in's item keys). */
  items(): Promise<string[]>;
  /** One key per row the job stored. */
  stored(): Promise<string[]>;
  /** Units of work (activities) the job needs in all. */
  units(): Promise<number>;
}

interface Case {
  jobType: JobType;
  /** The activity doing one unit of the job's work: what a pause holds back and pause-now and cancel interrupt. */
  activity: string;
  /** Units in flight at once, all held before the test acts. */
  inFlight: number;
  /** The activity's heartbeat timeout: a cancel must reach a held unit within it. */
  heartbeatTimeout: Duration;
  start(name: string): Promise<Started>;
}

/** A gate holding the calls of `match`, created before the job starts so that no call slips past. */
function gated(match: Parameters<Harness['standin']['gate']>[0]): Hold {
  return heldAtGate(harness.standin.gate(match));
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function profilingCase(jobType: typeof JobType.DataProfiling | typeof JobType.DataProfilingLlmGeneration): Case {
  return {
    jobType,
    activity: 'generateValidationRules',
    inFlight: LLM_CONCURRENCY,
    heartbeatTimeout: LLM_ACTIVITY.heartbeatTimeout!,
    async start() {
      const items = attributes.map((a) => `${DEMO_DATA_SOURCE_ID}.${a}`);
      const hold = gated({ items });
      const { jobId } = await harness.jobs.startJob({
        jobType,
        owner,
        dataSourceId: DEMO_DATA_SOURCE_ID,
        attributeIds: attributes,
        llmConcurrency: LLM_CONCURRENCY,
      });
      const stored = async () =>
        (
          await harness.db.selectFrom('attribute_results').select('attribute').where('job_id', '=', jobId).execute()
        ).map((r) => `${DEMO_DATA_SOURCE_ID}.${r.attribute}`);
      return { jobId, hold, llm: true, items: async () => items, stored, units: async () => items.length };
    },
  };
}

function scopingCase(
  jobType: typeof JobType.ScopingRecommendations | typeof JobType.GenerateScopingRecommendations,
): Case {
  return {
    jobType,
    activity: 'assessAttributeScope',
    inFlight: LLM_CONCURRENCY,
    heartbeatTimeout: LLM_ACTIVITY.heartbeatTimeout!,
    async start() {
      const items = attributes.map((a) => scopingItemKey(DEMO_DATA_SOURCE_ID, a));
      const hold = gated({ items });
      const { jobId } = await harness.jobs.startJob({
        jobType,
        owner,
        dataSourceId: DEMO_DATA_SOURCE_ID,
        attributeIds: attributes,
        llmConcurrency: LLM_CONCURRENCY,
      });
      const stored = async () =>
        (
          await harness.db.selectFrom('scoping_assessments').select('attribute').where('job_id', '=', jobId).execute()
        ).map((r) => scopingItemKey(DEMO_DATA_SOURCE_ID, r.attribute));
      return { jobId, hold, llm: true, items: async () => items, stored, units: async () => items.length };
    },
  };
}

function mappingCase(jobType: typeof JobType.PdeAutoMapping | typeof JobType.PdeRegeneration): Case {
  return {
    jobType,
    activity: 'mapPlanDataElement',
    inFlight: LLM_CONCURRENCY,
    heartbeatTimeout: LLM_ACTIVITY.heartbeatTimeout!,
    async start(name) {
      const planId = `ctl-${jobType}-${name}`;
      const hold = gated({ itemPattern: `^${escape(planId)}/pde-` });
      const common = { owner, planId, dataSourceId: DEMO_DATA_SOURCE_ID, llmConcurrency: LLM_CONCURRENCY };
      let request: StartJobRequest = { ...common, jobType: JobType.PdeAutoMapping, pdes: PDES };
      if (jobType === JobType.PdeRegeneration) {
        // A plan that already has its PDEs: regeneration maps the named ones again.
        for (const p of PDES)
          await sql`insert into plan_data_elements (plan_id, name, description, data_type) values (${planId}, ${p.name}, ${p.description}, ${p.dataType})`.execute(
            harness.db,
          );
        request = { ...common, jobType, pdeNames: PDES.map((p) => p.name) };
      }
      const { jobId } = await harness.jobs.startJob(request);
      const items = async () =>
        (
          await harness.db.selectFrom('plan_data_elements').select('pde_id').where('plan_id', '=', planId).execute()
        ).map((p) => pdeItemKey(planId, Number(p.pde_id)));
      const stored = async () =>
        (
          await harness.db.selectFrom('pde_mapping_outcomes').select('pde_id').where('job_id', '=', jobId).execute()
        ).map((p) => pdeItemKey(planId, Number(p.pde_id)));
      return { jobId, hold, llm: true, items, stored, units: async () => (await items()).length };
    },
  };
}

const attributeGenerationCase: Case = {
  jobType: JobType.LlmAttributeGeneration,
  activity: 'extractAttributeCandidates',
  inFlight: LLM_CONCURRENCY,
  heartbeatTimeout: LLM_ACTIVITY.heartbeatTimeout!,
  async start(name) {
    const planId = `ctl-generation-${name}`;
    const hold = gated({ itemPattern: `^${escape(planId)}/` });
    const { jobId } = await harness.jobs.startJob({
      jobType: JobType.LlmAttributeGeneration,
      owner,
      planId,
      sampleDocuments: true,
      llmConcurrency: LLM_CONCURRENCY,
    });
    const items = async () =>
      (
        await harness.db
          .selectFrom('planning_chunks as c')
          .innerJoin('planning_documents as d', 'd.id', 'c.document_id')
          .select(['d.name', 'c.chunk_index'])
          .where('d.plan_id', '=', planId)
          .execute()
      ).map((c) => chunkItemKey(planId, c.name, c.chunk_index));
    const stored = async () =>
      (
        await harness.db
          .selectFrom('attribute_candidates as a')
          .innerJoin('planning_documents as d', 'd.id', 'a.document_id')
          .select(['d.name', 'a.chunk_index'])
          .where('a.job_id', '=', jobId)
          .execute()
      ).map((c) => chunkItemKey(planId, c.name, c.chunk_index));
    return { jobId, hold, llm: true, items, stored, units: async () => (await items()).length };
  },
};

const ruleExecutionCase: Case = {
  jobType: JobType.DataProfilingRuleExecution,
  activity: 'executeRules',
  // Two scans at once (workflows/profiling/profiling.ts), one attribute per batch.
  inFlight: 2,
  heartbeatTimeout: RULE_EXECUTION_ACTIVITY.heartbeatTimeout!,
  async start() {
    await scans.close();
    const { jobId } = await harness.jobs.startJob({
      jobType: JobType.DataProfilingRuleExecution,
      owner,
      dataSourceId: scans.dataSourceId,
      rulesFromJobId: rulesJobId,
      attributeIds: RULE_ATTRIBUTES,
      ruleBatchSize: 1,
    });
    const keys = (rows: { attribute: string; rule_index: number }[]) =>
      rows.map((r) => `${r.attribute}#${r.rule_index}`);
    const items = async () =>
      keys(
        await harness.db
          .selectFrom('profiling_rules')
          .select(['attribute', 'rule_index'])
          .where('job_id', '=', rulesJobId)
          .execute(),
      );
    const stored = async () =>
      keys(
        await harness.db
          .selectFrom('rule_results')
          .select(['attribute', 'rule_index'])
          .where('job_id', '=', jobId)
          .execute(),
      );
    return { jobId, hold: scans, llm: false, items, stored, units: async () => RULE_ATTRIBUTES.length };
  },
};

const testExecutionCase: Case = {
  jobType: JobType.TestExecution,
  activity: 'executeTestBatch',
  // Two batches at once (workflows/test-execution/test-execution.ts), one test case per batch.
  inFlight: 2,
  heartbeatTimeout: RULE_EXECUTION_ACTIVITY.heartbeatTimeout!,
  async start() {
    await scans.close();
    const { jobId } = await harness.jobs.startJob({
      jobType: JobType.TestExecution,
      owner,
      dataSourceId: scans.dataSourceId,
      checks: CHECKS,
      batchSize: 1,
    });
    const stored = async () =>
      (
        await harness.db.selectFrom('test_case_results').select('test_case_id').where('job_id', '=', jobId).execute()
      ).map((r) => r.test_case_id);
    return {
      jobId,
      hold: scans,
      llm: false,
      items: async () => CHECKS.map((c, i) => `${c.attribute}#check${i}`),
      stored,
      units: async () => CHECKS.length,
    };
  },
};

const samplingCase: Case = {
  jobType: JobType.IntelligentSampling,
  activity: 'scanSamplingUnit',
  // One unit at a time: the throttle is per job (workflows/sampling/sampling.ts).
  inFlight: 1,
  heartbeatTimeout: SAMPLING_SCAN_ACTIVITY.heartbeatTimeout!,
  async start() {
    await scans.close();
    const { jobId } = await harness.jobs.startJob({
      jobType: JobType.IntelligentSampling,
      owner,
      dataSourceId: scans.dataSourceId,
      confidenceLevel: 0.95,
      marginOfError: 0.05,
      seed: 7,
      strataColumns: ['product_type'],
      chunkSize: 100,
      chunksPerUnit: 2,
    });
    const items = async () =>
      ['count', 'select'].flatMap((pass) =>
        Array.from({ length: SAMPLING_UNITS_PER_PASS }, (_, unit) => `${pass}#${unit}`),
      );
    const stored = async () =>
      (
        await harness.db
          .selectFrom('sampling_unit_results')
          .select(['pass', 'unit_index'])
          .where('job_id', '=', jobId)
          .execute()
      ).map((r) => `${r.pass}#${r.unit_index}`);
    return { jobId, hold: scans, llm: false, items, stored, units: async () => 2 * SAMPLING_UNITS_PER_PASS };
  },
};

const CASES: Case[] = [
  profilingCase(JobType.DataProfiling),
  profilingCase(JobType.DataProfilingLlmGeneration),
  ruleExecutionCase,
  attributeGenerationCase,
  mappingCase(JobType.PdeAutoMapping),
  mappingCase(JobType.PdeRegeneration),
  scopingCase(JobType.ScopingRecommendations),
  scopingCase(JobType.GenerateScopingRecommendations),
  samplingCase,
  testExecutionCase,
];

it('covers every job type', () => {
  expect(CASES.map((c) => c.jobType).sort()).toEqual(Object.values(JobType).sort());
});

const sorted = (keys: string[]) => [...keys].sort();

/**
 * Once the job has completed: every item stored once and nothing else; every unit's activity completed exactly
 * once, plus `interrupted` scheduled again after pause-now; LLM-bound, each item asked once, or twice when its
 * held call was aborted, so an item asked twice and stored once still fails.
 */
async function expectEveryItemDoneOnce(kase: Case, job: Started, interrupted: number): Promise<void> {
  const units = await job.units();
  const counts = activityCounts(await jobHistory(harness.temporal, job.jobId), kase.activity);
  expect(counts).toEqual(
    interrupted === 0
      ? { scheduled: units, completed: units }
      : {
          scheduled: units + interrupted,
          completed: units,
          'activity-cancel-requested': interrupted,
          canceled: interrupted,
        },
  );
  expect(sorted(await job.stored())).toEqual(sorted(await job.items()));
  if (!job.llm) return;
  const calls = harness.standin.calls().filter((c) => c.jobId === job.jobId);
  const aborted = new Set(calls.filter((c) => c.outcome === 'client_aborted').map((c) => c.itemKey!));
  expect(aborted.size).toBe(interrupted);
  const callsPerItem: Record<string, number> = {};
  for (const call of calls) callsPerItem[call.itemKey!] = (callsPerItem[call.itemKey!] ?? 0) + 1;
  expect(callsPerItem).toEqual(
    Object.fromEntries((await job.items()).map((item) => [item, aborted.has(item) ? 2 : 1])),
  );
}

describe.each(CASES)('$jobType', (kase) => {
  it('pause: the units in flight finish, nothing starts while paused, and after resume every item is done once', async () => {
    const job = (running = await kase.start('pause'));
    await pauseWhileHeld(harness, principal, job.jobId, job.hold, kase.inFlight, kase.activity);
    if (job.llm) expect(harness.standin.calls().filter((c) => c.jobId === job.jobId)).toHaveLength(kase.inFlight);

    await job.hold.open();
    await harness.jobs.resume(principal, job.jobId);
    expect(await harness.jobs.waitForJob(job.jobId)).toMatchObject({ status: 'completed' });
    await expectEveryItemDoneOnce(kase, job, 0);
  });

  it('pause-now: the units in flight are interrupted, nothing starts while paused, and after resume exactly those are redone', async () => {
    const job = (running = await kase.start('pause-now'));
    await pauseNowWhileHeld(harness, principal, job.jobId, job.hold, kase.inFlight, kase.activity);
    expect(await job.stored()).toEqual([]);

    await job.hold.open();
    await harness.jobs.resume(principal, job.jobId);
    expect(await harness.jobs.waitForJob(job.jobId)).toMatchObject({ status: 'completed' });
    await expectEveryItemDoneOnce(kase, job, kase.inFlight);
  });

  it('cancel: ends cancelled, the units in flight interrupted within the heartbeat timeout, nothing started after', async () => {
    const job = (running = await kase.start('cancel'));
    await cancelWhileHeld(
      harness,
      principal,
      job.jobId,
      job.hold,
      kase.inFlight,
      kase.activity,
      msToNumber(kase.heartbeatTimeout),
    );
    expect(await job.stored()).toEqual([]);
    if (job.llm)
      expect(
        harness.standin
          .calls()
          .filter((c) => c.jobId === job.jobId)
          .map((c) => c.outcome),
      ).toEqual(Array(kase.inFlight).fill('client_aborted'));
  });
});
