// A job's LLM usage, summed from every call it recorded in llm_calls (cache hits count as calls that cost
// nothing): one query, behind the usage a job's result reports and the priced usage its status shows.

import type { Kysely } from 'kysely';
import type { LlmUsage } from '../../common/llm';
import type { Database } from '../../db/database';

/** Usage without a price: what a job's result reports. */
export type JobLlmUsage = Omit<LlmUsage, 'costUsd'>;

export interface ModelLlmUsage extends JobLlmUsage {
  model: string;
}

export async function llmUsageByModel(db: Kysely<Database>, jobId: string): Promise<ModelLlmUsage[]> {
  const rows = await db
    .selectFrom('llm_calls')
    .select((eb) => [
      'model',
      eb.fn.countAll<number>().as('calls'),
      eb.fn.count<number>('id').filterWhere('cached', '=', true).as('cached'),
      eb.fn.sum<number>('prompt_tokens').as('prompt'),
      eb.fn.sum<number>('completion_tokens').as('completion'),
    ])
    .where('job_id', '=', jobId)
    .groupBy('model')
    .execute();
  return rows.map((r) => ({
    model: r.model,
    calls: Number(r.calls),
    cachedCalls: Number(r.cached),
    promptTokens: Number(r.prompt ?? 0),
    completionTokens: Number(r.completion ?? 0),
  }));
}

/** The usage of every model together. */
export function totalUsage(byModel: readonly JobLlmUsage[]): JobLlmUsage {
  const total: JobLlmUsage = { calls: 0, cachedCalls: 0, promptTokens: 0, completionTokens: 0 };
  for (const usage of byModel) {
    total.calls += usage.calls;
    total.cachedCalls += usage.cachedCalls;
    total.promptTokens += usage.promptTokens;
    total.completionTokens += usage.completionTokens;
  }
  return total;
}

export async function jobLlmUsage(db: Kysely<Database>, jobId: string): Promise<JobLlmUsage> {
  return totalUsage(await llmUsageByModel(db, jobId));
}
