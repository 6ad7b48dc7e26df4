// Start requests that name an earlier job (whose rules, results or sample to use, or which to re-run): the
// checks every family makes on it, in the same words, each error naming the field.

import type { Kysely } from 'kysely';
import { JobType } from '../common/jobs';
import type { Database } from '../db/database';
import { InvalidJobRequestError } from './errors';

/** Jobs that store validation rules of their own. */
export const JOBS_WITH_RULES: readonly string[] = [JobType.DataProfiling, JobType.DataProfilingLlmGeneration];

/** Profiling jobs that leave rule results behind (a generation-only job has rules but no results). */
export const PROFILING_WITH_RESULTS: readonly string[] = [JobType.DataProfiling, JobType.DataProfilingRuleExecution];

/** A completed job of one of `types` (and of `dataSourceId`, when given), or an error naming `field`. */
export async function completedJob(
  db: Kysely<Database>,
  field: string,
  jobId: string,
  types: readonly string[],
  dataSourceId?: string,
): Promise<{ type: string; metadata: Record<string, unknown> }> {
  const job = await db
    .selectFrom('jobs')
    .select(['type', 'status', 'metadata'])
    .where('id', '=', jobId)
    .executeTakeFirst();
  if (!job) throw new InvalidJobRequestError(field, `no job "${jobId}"`);
  if (!types.includes(job.type))
    throw new InvalidJobRequestError(field, `names a ${job.type} job; give a ${types.join(' or ')} job`);
  if (job.status !== 'completed')
    throw new InvalidJobRequestError(field, `job "${jobId}" is ${job.status}, not completed`);
  if (dataSourceId !== undefined && job.metadata.data_source_id !== dataSourceId)
    throw new InvalidJobRequestError(field, `job "${jobId}" profiled another data source`);
  return job;
}
