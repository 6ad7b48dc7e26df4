// A job's LLM usage as the planning results report it, summed from llm_calls (cache hits cost nothing).

import type { Kysely } from 'kysely';
import type { Database } from '../db/database';

export interface JobLlmUsage {
  calls: number;
  cachedCalls: number;
  promptTokens: number;
  completionTokens: number;
}

export async function jobLlmUsage(db: Kysely<Database>, jobId: string): Promise<JobLlmUsage> {
  const row = await db
    .selectFrom('llm_calls')
    .select((eb) => [
      eb.fn.countAll<number>().as('calls'),
      eb.fn.count<number>('id').filterWhere('cached', '=', true).as('cached'),
      eb.fn.sum<number>('prompt_tokens').as('prompt'),
      eb.fn.sum<number>('completion_tokens').as('completion'),
    ])
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  return { calls: Number(row.calls), cachedCalls: Number(row.cached), promptTokens: Number(row.prompt ?? 0), completionTokens: Number(row.completion ?? 0) };
}
