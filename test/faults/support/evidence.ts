// What every fault scenario checks afterwards, read from PostgreSQL and the stand-in's call log: each item
// stored exactly once, no duplicate rule rows, and no item sent to the LLM again once its result was stored.

import { sql } from 'kysely';
import type { JobRow } from '../../../client/job-status';
import { DEMO_DATA_SOURCE_ID } from '../../../db/demo-data';
import type { Harness } from '../../support/harness';
import { sleep } from '../../support/waiting';

/** `npm run faults` sets FAULTS_SLOW=1; `npm test` (CI) runs only the fast scenarios. */
export const SLOW = process.env.FAULTS_SLOW === '1';
export const slowIt = SLOW ? it : it.skip;

export const itemKey = (attribute: string) => `${DEMO_DATA_SOURCE_ID}.${attribute}`;

/** The first `count` attributes of the demo table, in catalogue order. */
export async function demoAttributes(harness: Harness, count: number): Promise<string[]> {
  const rows = await harness.db.selectFrom('data_source_attributes').select('name').where('data_source_id', '=', DEMO_DATA_SOURCE_ID).orderBy('position').limit(count).execute();
  return rows.map((r) => r.name);
}

export async function storedCount(harness: Harness, jobId: string): Promise<number> {
  const row = await harness.db.selectFrom('attribute_results').select((eb) => eb.fn.countAll<string>().as('n')).where('job_id', '=', jobId).executeTakeFirstOrThrow();
  return Number(row.n);
}

const FINAL = ['completed', 'failed', 'cancelled'];

/**
 * Polls the job row until it is final. Unlike JobsClient.waitForJob this needs no Temporal connection,
 * so it keeps waiting through a restart of the server. The caller's Jest timeout is the "never hangs" bound.
 */
export async function waitUntilFinal(harness: Harness, jobId: string): Promise<JobRow> {
  for (;;) {
    const row = await harness.jobs.job(jobId).catch(() => undefined);
    if (row && FINAL.includes(row.status)) return row;
    await sleep(250);
  }
}

interface StoredEvidence {
  attributes: string[];
  /** Stand-in calls per item that arrived after that item's result was committed. */
  callsAfterStored: Record<string, number>;
  /** Items whose rule rows disagree with their stored rules_count (a duplicate or a lost write). */
  ruleCountMismatches: string[];
}

/** Reads what a profiling job stored and compares it with what the stand-in was asked, item by item. */
async function storedEvidence(harness: Harness, jobId: string): Promise<StoredEvidence> {
  const results = await harness.db.selectFrom('attribute_results').select(['attribute', 'rules_count', 'updated_at']).where('job_id', '=', jobId).orderBy('attribute').execute();
  const rules = await harness.db
    .selectFrom('profiling_rules')
    .select(['attribute', sql<string>`count(*)`.as('n')])
    .where('job_id', '=', jobId)
    .groupBy('attribute')
    .execute();
  const rulesByAttribute = new Map(rules.map((r) => [r.attribute, Number(r.n)]));
  const calls = harness.standin.calls();
  const callsAfterStored: Record<string, number> = {};
  for (const result of results) {
    const storedAt = result.updated_at.getTime();
    const late = calls.filter((c) => c.itemKey === itemKey(result.attribute) && c.receivedAt > storedAt).length;
    if (late > 0) callsAfterStored[result.attribute] = late;
  }
  return {
    attributes: results.map((r) => r.attribute),
    callsAfterStored,
    ruleCountMismatches: results.filter((r) => (rulesByAttribute.get(r.attribute) ?? 0) !== r.rules_count).map((r) => r.attribute),
  };
}

/**
 * What every scenario ends with: each item stored exactly once with all its rule rows, and none sent to the
 * LLM again after its result was stored (the strong form of "no completed item is asked again").
 */
export async function expectEachItemStoredOnce(harness: Harness, jobId: string, attributes: readonly string[]): Promise<void> {
  const evidence = await storedEvidence(harness, jobId);
  expect(evidence.attributes).toEqual([...attributes].sort());
  expect(evidence.ruleCountMismatches).toEqual([]);
  expect(evidence.callsAfterStored).toEqual({});
}

/** Every table of the schema, and the row counts of those a hostile string would aim at: proof that nothing ran as SQL. */
export async function tableCensus(harness: Harness): Promise<{ tables: string[]; rows: Record<string, number> }> {
  const { rows: tables } = await sql<{ relname: string }>`select relname from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace order by relname`.execute(harness.db);
  const rows: Record<string, number> = {};
  for (const table of ['jobs', 'data_sources', 'data_source_attributes', 'demo_credit_card_accounts', 'profiling_rules']) {
    rows[table] = Number((await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(harness.db)).rows[0]!.n);
  }
  return { tables: tables.map((t) => t.relname), rows };
}
