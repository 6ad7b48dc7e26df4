// Bad job input is refused before anything happens: the error names the field, no job row is written
// and no workflow is started.

import { InvalidJobRequestError, type StartJobRequest } from '../client/job-requests';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';
import { createHarness, type Harness } from './support/harness';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness({ config: { JOB_MAX_ATTRIBUTES: 500 } });
});
afterAll(() => harness.close());

const owner = `validation-${Date.now()}`;
const valid: StartJobRequest = { jobType: 'data_profiling', owner, dataSourceId: DEMO_DATA_SOURCE_ID, attributeIds: ['credit_score', 'apr_rate'] };

const cases: [string, unknown, string][] = [
  ['a missing job type', { ...valid, jobType: undefined }, 'jobType'],
  ['an unknown job type', { ...valid, jobType: 'data_profilng' }, 'jobType'],
  ['a missing owner', { ...valid, owner: undefined }, 'owner'],
  ['a blank owner', { ...valid, owner: '   ' }, 'owner'],
  ['an unknown data source', { ...valid, dataSourceId: 'no_such_table' }, 'dataSourceId'],
  ['an unknown attribute', { ...valid, attributeIds: ['credit_score', 'credit_scor'] }, 'attributeIds.1'],
  ['an attribute listed twice', { ...valid, attributeIds: ['apr_rate', 'credit_score', 'apr_rate'] }, 'attributeIds.2'],
  ['a hostile attribute name', { ...valid, attributeIds: ['credit_score"; drop table jobs; --'] }, 'attributeIds.0'],
  ['attribute ids of the wrong type', { ...valid, attributeIds: 'credit_score' }, 'attributeIds'],
  ['an empty attribute list', { ...valid, attributeIds: [] }, 'attributeIds'],
  ['an oversized attribute list', { ...valid, attributeIds: Array.from({ length: 501 }, (_, i) => `a${i}`) }, 'attributeIds'],
  ['a concurrency of zero', { ...valid, llmConcurrency: 0 }, 'llmConcurrency'],
  ['a fractional concurrency', { ...valid, llmConcurrency: 2.5 }, 'llmConcurrency'],
  ['a rule-execution job without its rules job', { ...valid, jobType: 'data_profiling_rule_execution' }, 'rulesFromJobId'],
  ['a rule-execution job naming a missing job', { ...valid, jobType: 'data_profiling_rule_execution', rulesFromJobId: 'nope' }, 'rulesFromJobId'],
  ['rules from a job on a generation job', { ...valid, rulesFromJobId: 'x' }, 'rulesFromJobId'],
  ['metadata that is not an object', { ...valid, metadata: [1, 2] }, 'metadata'],
];

describe('starting a job with bad input', () => {
  it.each(cases)('rejects %s, naming the field', async (_name, body, field) => {
    const attempt = harness.jobs.startJob(body as StartJobRequest);
    await expect(attempt).rejects.toBeInstanceOf(InvalidJobRequestError);
    await expect(attempt).rejects.toMatchObject({ field });
  });

  it('writes no job row and starts no workflow for any of them', async () => {
    const rows = await harness.db.selectFrom('jobs').select('id').where('owner', '=', owner).execute();
    expect(rows).toEqual([]);
    const { count } = await harness.temporal.workflow.count(`JobOwner = '${owner}'`);
    expect(count).toBe(0);
  });

  it('accepts the valid request the cases were made from', async () => {
    const { jobId } = await harness.jobs.startJob({ ...valid, jobType: 'data_profiling_llm_generation' });
    await harness.jobs.handle(jobId).cancel();
    const row = await harness.jobs.job(jobId);
    expect(row?.owner).toBe(owner);
  });
});
