// What every fault scenario checks afterwards, read from PostgreSQL, the stand-in's call log and the job's
// Temporal history: each item stored with matching rule rows, answered by the LLM no more often than its
// activity had attempts (so two executions both asking for one item fail it), and never asked once stored.

import { sql } from 'kysely';
import type { JobRow } from '../../../client/job-status';
import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../../db/demo-data';
import type { CallRecord } from '../../../llm-standin/server';
import type { Harness } from '../../support/harness';
import { waitFor } from '../../support/waiting';
import { llmExecutionsByItem, type ItemExecutions } from './history';

/** `npm run faults` sets FAULTS_SLOW=1; `npm test` (CI) runs only the fast scenarios. */
export const SLOW = process.env.FAULTS_SLOW === '1';
export const slowIt = SLOW ? it : it.skip;

export const itemKey = (attribute: string) => `${DEMO_DATA_SOURCE_ID}.${attribute}`;

/** The first `count` attributes of the demo table, in catalogue order. */
export async function demoAttributes(harness: Harness, count: number): Promise<string[]> {
  return (await demoCatalogue(harness.db)).slice(0, count).map((r) => r.name);
}

export async function storedCount(harness: Harness, jobId: string): Promise<number> {
  const row = await harness.db
    .selectFrom('attribute_results')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const FINAL = ['completed', 'failed', 'cancelled'];

/**
 * Polls the job row until it is final. Unlike JobsClient.waitForJob this needs no Temporal connection,
 * so it keeps waiting through a restart of the server. Bounded by `timeoutMs` (give the scenario's own
 * bound; the default only stops a lost job from hanging until Jest's timeout), naming the last status seen.
 */
export async function waitUntilFinal(harness: Harness, jobId: string, timeoutMs = 600_000): Promise<JobRow> {
  const row = await waitFor(
    () => harness.jobs.job(jobId).catch(() => undefined),
    (r) => r !== undefined && FINAL.includes(r.status),
    timeoutMs,
    `job ${jobId} to end (completed, failed or cancelled)`,
  );
  return row!;
}

/** One stored result: the item key its LLM calls carry, and when its row was last written (PostgreSQL's clock). */
export interface StoredItem {
  itemKey: string;
  storedAt: number;
}

/**
 * What the check reads for one job: the stand-in's calls, the stored rows, and each item's attempts from the history.
 */
export interface CallEvidence {
  jobId: string;
  calls: readonly CallRecord[];
  stored: readonly StoredItem[];
  executions: ReadonlyMap<string, ItemExecutions>;
}

/**
 * The "each item asked and stored once" rule, as a pure function over the evidence; returns one line per breach.
 * - An answered call is one the stand-in answered `ok` (a 429, a 5xx, a hang, garbage or a call whose client
 *   went away paid for nothing, and the activity asks again inside the same attempt by design).
 * - An item may have one answered call per attempt its LLM activity had (the history's attempt numbers: every
 *   attempt beyond the completing one was cut short, e.g. killed in flight or timed out on heartbeat). More
 *   answered calls than attempts means two executions asked for the same item — the double call a primary key
 *   on the stored row can never show.
 * - No call for an item may arrive after its result was stored.
 */
export function itemCallBreaches(evidence: CallEvidence): string[] {
  const breaches: string[] = [];
  const answered = new Map<string, CallRecord[]>();
  for (const call of evidence.calls) {
    if (call.itemKey === undefined || (call.jobId !== undefined && call.jobId !== evidence.jobId)) continue;
    if (call.outcome !== 'ok' || call.status !== 200) continue;
    answered.set(call.itemKey, [...(answered.get(call.itemKey) ?? []), call]);
  }
  for (const [item, calls] of answered) {
    const attempts = evidence.executions.get(item)?.attempts ?? 0;
    if (calls.length > attempts) {
      breaches.push(
        `${item}: answered ${calls.length} times (calls ${calls.map((c) => c.callNumber).join(', ')}) for ${attempts} attempt(s) in the history (${Math.max(0, attempts - 1)} cut short)`,
      );
    }
  }
  for (const { itemKey, storedAt } of evidence.stored) {
    const late = evidence.calls.filter(
      (c) => c.itemKey === itemKey && (c.jobId === undefined || c.jobId === evidence.jobId) && c.receivedAt > storedAt,
    );
    if (late.length > 0)
      breaches.push(
        `${itemKey}: asked ${late.length} time(s) after its result was stored (calls ${late.map((c) => c.callNumber).join(', ')})`,
      );
  }
  return breaches;
}

/** Reads the evidence for a finished profiling job: stored rows and rule rows, the stand-in's calls, the history. */
export async function storedEvidence(harness: Harness, jobId: string) {
  const results = await harness.db
    .selectFrom('attribute_results')
    .select(['attribute', 'rules_count', 'updated_at'])
    .where('job_id', '=', jobId)
    .orderBy('attribute')
    .execute();
  const rules = await harness.db
    .selectFrom('profiling_rules')
    .select(['attribute', sql<string>`count(*)`.as('n')])
    .where('job_id', '=', jobId)
    .groupBy('attribute')
    .execute();
  const rulesByAttribute = new Map(rules.map((r) => [r.attribute, Number(r.n)]));
  const executions = await llmExecutionsByItem(harness.temporal, jobId);
  // The item key names the job's data source, which the history's activity inputs carry; the demo table's otherwise.
  const keyOf = (attribute: string) =>
    [...executions.keys()].find((key) => key.endsWith(`.${attribute}`)) ?? itemKey(attribute);
  const evidence: CallEvidence = {
    jobId,
    calls: harness.standin.calls(),
    stored: results.map((r) => ({ itemKey: keyOf(r.attribute), storedAt: r.updated_at.getTime() })),
    executions,
  };
  return {
    attributes: results.map((r) => r.attribute),
    ruleCountMismatches: results
      .filter((r) => (rulesByAttribute.get(r.attribute) ?? 0) !== r.rules_count)
      .map((r) => r.attribute),
    breaches: itemCallBreaches(evidence),
  };
}

/**
 * What every scenario ends with: each item stored with all its rule rows, asked of the LLM no more often
 * than the history shows attempts for it, and never after its result was stored. Call it once the job is final.
 */
export async function expectEachItemStoredOnce(
  harness: Harness,
  jobId: string,
  attributes: readonly string[],
): Promise<void> {
  const evidence = await storedEvidence(harness, jobId);
  expect(evidence.attributes).toEqual([...attributes].sort());
  expect(evidence.ruleCountMismatches).toEqual([]);
  expect(evidence.breaches).toEqual([]);
}

/**
 * Every table of the schema, and the row counts of those a hostile string would aim at: proof that nothing ran as SQL.
 */
export async function tableCensus(harness: Harness): Promise<{ tables: string[]; rows: Record<string, number> }> {
  const { rows: tables } = await sql<{
    relname: string;
  }>`select relname from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace order by relname`.execute(
    harness.db,
  );
  const rows: Record<string, number> = {};
  for (const table of [
    'jobs',
    'data_sources',
    'data_source_attributes',
    'demo_credit_card_accounts',
    'profiling_rules',
  ]) {
    rows[table] = Number(
      (await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(harness.db)).rows[0]!.n,
    );
  }
  return { tables: tables.map((t) => t.relname), rows };
}
