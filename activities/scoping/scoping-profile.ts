// The profiling results a scoping prompt and score draw on: one attribute's rules in a named profiling job,
// with their severity, pass rate and failed rows (rule_results joined to the rules they ran).

import type { Kysely } from 'kysely';
import type { Database } from '../../db/database';
import type { ProfiledRule } from './risk-score';

export async function profiledRulesOf(
  db: Kysely<Database>,
  profilingJobId: string,
  attribute: string,
): Promise<ProfiledRule[]> {
  const rows = await db
    .selectFrom('rule_results as rr')
    // A rule-execution job's results point at the generation job whose rules they ran.
    .innerJoin('profiling_rules as pr', (join) =>
      join
        .onRef('pr.job_id', '=', 'rr.rules_job_id')
        .onRef('pr.attribute', '=', 'rr.attribute')
        .onRef('pr.rule_index', '=', 'rr.rule_index'),
    )
    .select(['pr.rule', 'pr.severity', 'rr.pass_rate', 'rr.failed_rows', 'rr.checked_rows'])
    .where('rr.job_id', '=', profilingJobId)
    .where('rr.attribute', '=', attribute)
    .orderBy('rr.rule_index')
    .execute();
  return rows.map((r) => ({
    // Profiling stores only rules that passed its schema (activities/rules/rule-schema.ts): `kind` is a string.
    kind: (r.rule as { kind?: string }).kind ?? 'unknown',
    severity: r.severity === 'high' || r.severity === 'low' ? r.severity : 'medium',
    passRate: r.pass_rate === null ? null : Number(r.pass_rate),
    failedRows: Number(r.failed_rows),
    checkedRows: Number(r.checked_rows),
  }));
}
