// Coverage optimisation for a sample: make sure edge cases are in it — a null, the minimum and the maximum
// of each edge column, and one violating record per rule a profiling job stored that the data violates.
// A case some sampled record already shows adds nothing; otherwise the lowest row id showing it is added.

import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { AttributeDescriptor } from '../../common/rules';
import type { Database } from '../../db/database';
import { invalidPatterns, violationPredicate, type RuleToRun } from '../rules/rule-sql';
import { onDataSource } from '../data-sources/data-source-sql';
import { sourceTable, type DataSourceTable } from '../data-sources/data-sources';
import { stratumKey } from './sampling-state';

export interface CoverageRequest {
  jobId: string;
  dataSourceId: string;
  strataColumns: string[];
  edgeCaseColumns: string[];
  rulesFromJobId?: string;
}

export interface CoverageOutcome {
  /** Records added, with the edge case each shows (`edge:null:<col>`, `edge:min:<col>`, `edge:rule:<attr>#<i>` …). */
  added: { reason: string; rowId: number }[];
  /** Edge cases a record already in the sample showed. */
  alreadyCovered: string[];
  /** Edge cases no record of the table shows (a column without nulls, a rule nothing violates). */
  absent: string[];
  /** Rules that cannot run (e.g. a pattern PostgreSQL does not accept), with the reason. */
  skipped: { reason: string; why: string }[];
}

interface EdgeCase {
  reason: string;
  where: RawBuilder<boolean>;
  /** Which of the matching records shows the case best (min/max: the extreme value first). */
  order?: RawBuilder<unknown>;
}

/** `statementTimeoutMs` caps each edge query, as it caps rule execution (RULE_STATEMENT_TIMEOUT_MS). */
export function createSamplingCoverageActivities(db: Kysely<Database>, statementTimeoutMs: number) {
  async function edgeCases(
    input: CoverageRequest,
    source: DataSourceTable,
    skipped: CoverageOutcome['skipped'],
  ): Promise<EdgeCase[]> {
    const cases: EdgeCase[] = [];
    for (const column of input.edgeCaseColumns) {
      const col = sql.id(column);
      cases.push({ reason: `edge:null:${column}`, where: sql<boolean>`${col} is null` });
      cases.push({ reason: `edge:min:${column}`, where: sql<boolean>`${col} is not null`, order: sql`${col} asc` });
      cases.push({ reason: `edge:max:${column}`, where: sql<boolean>`${col} is not null`, order: sql`${col} desc` });
    }
    if (!input.rulesFromJobId) return cases;
    const stored = await db
      .selectFrom('profiling_rules')
      .select(['attribute', 'rule_index', 'rule'])
      .where('job_id', '=', input.rulesFromJobId)
      .orderBy('attribute')
      .orderBy('rule_index')
      .execute();
    const catalogue = await db
      .selectFrom('data_source_attributes')
      .select(['name', 'data_type'])
      .where('data_source_id', '=', input.dataSourceId)
      .execute();
    const rules: RuleToRun[] = [];
    for (const r of stored) {
      const column = catalogue.find((c) => c.name === r.attribute);
      // Identifiers reach SQL only from the catalogue: a stored rule naming anything else is skipped.
      if (!column)
        skipped.push({ reason: `edge:rule:${r.attribute}#${r.rule_index}`, why: 'attribute is not in the catalogue' });
      else
        rules.push({
          attribute: {
            name: column.name,
            dataType: column.data_type as AttributeDescriptor['dataType'],
            description: '',
          },
          ruleIndex: r.rule_index,
          rule: r.rule,
        });
    }
    const badPatterns = await invalidPatterns(db, rules);
    for (const { attribute, ruleIndex, rule } of rules) {
      const reason = `edge:rule:${attribute.name}#${ruleIndex}`;
      const problem = rule.kind === 'pattern' ? badPatterns.get(rule.regex) : undefined;
      if (problem) skipped.push({ reason, why: problem.reason });
      else cases.push({ reason, where: violationPredicate(rule, attribute.name, source.table) });
    }
    return cases;
  }

  /** Adds a record for every edge case the sample lacks, in one transaction, so a retry sees all or none. */
  async function coverEdgeCases(input: CoverageRequest): Promise<CoverageOutcome> {
    const source = await sourceTable(db, input.dataSourceId, [...input.strataColumns, ...input.edgeCaseColumns]);
    const outcome: CoverageOutcome = { added: [], alreadyCovered: [], absent: [], skipped: [] };
    const cases = await edgeCases(input, source, outcome.skipped);
    let current = '';
    // Each case is one query that may read the whole table: heartbeats carry a cancel to it.
    await onDataSource(
      db,
      { table: source.table, label: `sampling_edges:${input.jobId}`, details: () => current },
      (conn) =>
        conn.transaction().execute(async (trx) => {
          await sql`select set_config('statement_timeout', ${String(statementTimeoutMs)}, true)`.execute(trx);
          for (const edge of cases) {
            current = edge.reason;
            const found = await findRecord(trx, source, input, edge);
            if (!found) outcome.absent.push(edge.reason);
            else if (found.sampled) outcome.alreadyCovered.push(edge.reason);
            else {
              await trx
                .insertInto('sample_records')
                .values({ job_id: input.jobId, row_id: found.rowId, stratum: found.stratum, reason: edge.reason })
                .execute();
              outcome.added.push({ reason: edge.reason, rowId: found.rowId });
            }
          }
        }),
    );
    return outcome;
  }

  return { coverEdgeCases };
}

/** The record showing `edge`, preferring one already in the sample, then the lowest row id. */
async function findRecord(
  trx: Kysely<Database>,
  { table, recordId }: DataSourceTable,
  input: CoverageRequest,
  edge: EdgeCase,
) {
  const id = sql.id(recordId);
  const strata = input.strataColumns.map((c, i) => sql`, ${sql.id(c)}::text as ${sql.id(`s${i}`)}`);
  const sampled = sql`exists (select 1 from sample_records s where s.job_id = ${input.jobId} and s.row_id = ${sql.table(table)}.${id})`;
  const order = edge.order ? sql`${edge.order}, ` : sql``;
  const { rows } = await sql<Record<string, unknown> & { row_id: number; sampled: boolean }>`
    select ${id} as row_id, ${sampled} as sampled ${sql.join(strata, sql``)}
    from ${sql.table(table)} where ${edge.where} order by ${order}${sampled} desc, ${id} limit 1`.execute(trx);
  const row = rows[0];
  if (!row) return undefined;
  const stratum = stratumKey(input.strataColumns.map((_, i) => (row[`s${i}`] as string | null) ?? null));
  return { rowId: Number(row.row_id), sampled: row.sampled, stratum };
}
