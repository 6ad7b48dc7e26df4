// Column profiles on the real demo table: exact below PROFILE_SAMPLE_ROWS, a repeatable page sample above
// it, views always read in full; and a profile slower than the LLM activity's heartbeat timeout still
// completes its attribute on the first attempt (the activity heartbeats while it profiles).

import { sql } from 'kysely';
import { profileColumn, profileColumns } from '../../activities/profiling/column-profile';
import type { AttributeDescriptor } from '../../common/rules';
import { DEMO_COLUMNS } from '../../db/demo-columns';
import { DEMO_TABLE } from '../../db/demo-data';
import { createHarness, type Harness } from '../support/harness';

let harness: Harness;
beforeAll(async () => {
  harness = await createHarness();
  // The row estimate sampling is decided by: make it current rather than wait for autovacuum.
  await sql`analyze ${sql.table(DEMO_TABLE)}`.execute(harness.db);
});
afterAll(() => harness.close());

const status: AttributeDescriptor = { name: 'account_status', dataType: 'text', description: '' };
const countWhere = async (table: string, where: string) =>
  (
    await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)} where ${sql.raw(where)}`.execute(
      harness.db,
    )
  ).rows[0]!.n;

describe('a column profile', () => {
  it('reads a table at or under the sample size in full, exactly', async () => {
    const profile = await profileColumn(harness.db, DEMO_TABLE, status, { sampleRows: 10_000 });
    expect(profile.sampledFromEstimatedRows).toBeUndefined();
    expect(profile.rows).toBe(10_000);
    expect(profile.nulls).toBe(await countWhere(DEMO_TABLE, 'account_status is null'));
    expect(profile.topValues[0]!.count).toBe(
      await countWhere(DEMO_TABLE, `account_status = '${profile.topValues[0]!.value}'`),
    );
  });

  it('profiles a larger table from a page sample of about the sample size, the same sample every time', async () => {
    const profile = await profileColumn(harness.db, DEMO_TABLE, status, { sampleRows: 1_000 });
    expect(profile.sampledFromEstimatedRows).toBe(10_000);
    // Whole pages are sampled, so the count varies around the target.
    expect(profile.rows).toBeGreaterThan(300);
    expect(profile.rows).toBeLessThan(3_000);
    expect(profile.topValues.reduce((sum, v) => sum + v.count, 0) + profile.nulls).toBeLessThanOrEqual(profile.rows);
    expect(await profileColumn(harness.db, DEMO_TABLE, status, { sampleRows: 1_000 })).toEqual(profile);
  });

  it('profiles several columns in one scan exactly as one by one, sampled or not', async () => {
    const attributes: AttributeDescriptor[] = DEMO_COLUMNS.slice(0, 12);
    expect(new Set(attributes.map((a) => a.dataType)).size).toBeGreaterThan(2);
    for (const sampleRows of [10_000, 1_000]) {
      const together = await profileColumns(harness.db, DEMO_TABLE, attributes, { sampleRows });
      const alone = [];
      for (const attribute of attributes)
        alone.push(await profileColumn(harness.db, DEMO_TABLE, attribute, { sampleRows }));
      expect(together).toEqual(alone);
    }
  });

  it('fails the whole scan when one of its columns is missing (the activity then profiles them one by one)', async () => {
    const missing: AttributeDescriptor = { name: 'no_such_column', dataType: 'text', description: '' };
    await expect(profileColumns(harness.db, DEMO_TABLE, [status, missing], { sampleRows: 10_000 })).rejects.toThrow(
      /no_such_column/,
    );
  });

  it('reads a view in full whatever its size, since views cannot be sampled', async () => {
    await sql`create or replace view demo_accounts_view as select * from ${sql.table(DEMO_TABLE)}`.execute(harness.db);
    const profile = await profileColumn(harness.db, 'demo_accounts_view', status, { sampleRows: 1_000 });
    expect(profile.rows).toBe(10_000);
    expect(profile.sampledFromEstimatedRows).toBeUndefined();
  });
});

describe('profiling an attribute whose profile outlasts the heartbeat timeout', () => {
  it('completes on the first attempt, because the activity heartbeats while it profiles', async () => {
    // Every row costs 1.2 ms to read, so a full read takes ~12 s: longer than the 10 s heartbeat timeout.
    await sql`create or replace view slow_demo_accounts as select * from ${sql.table(DEMO_TABLE)} where pg_sleep(0.0012) is not null`.execute(
      harness.db,
    );
    await harness.db
      .insertInto('data_sources')
      .values({ id: 'slow_demo', table_name: 'slow_demo_accounts', description: 'the demo table, read slowly' })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    await harness.db
      .insertInto('data_source_attributes')
      .values({
        data_source_id: 'slow_demo',
        name: 'account_status',
        data_type: 'text',
        description: 'Lifecycle status, one of: ACTIVE, CLOSED',
        position: 0,
      })
      .onConflict((oc) => oc.columns(['data_source_id', 'name']).doNothing())
      .execute();
    const worker = await harness.startWorker();
    try {
      const { jobId } = await harness.jobs.startJob({
        jobType: 'data_profiling_llm_generation',
        owner: 'slow-profile',
        dataSourceId: 'slow_demo',
      });
      const job = await harness.jobs.waitForJob(jobId);
      expect(job).toMatchObject({
        status: 'completed',
        result: expect.objectContaining({ attributesProfiled: 1, attributesFailed: 0 }),
      });
      const history = await harness.jobs.handle(jobId).fetchHistory();
      // A heartbeat timeout would show as a later attempt of the activity (the started event keeps the last one).
      const attempts = history.events!.flatMap((e) =>
        e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt] : [],
      );
      expect(attempts.length).toBeGreaterThan(0);
      expect(attempts.every((attempt) => attempt === 1)).toBe(true);
    } finally {
      await worker.stop();
    }
  }, 120_000);
});
