// A job's LLM token usage and cost, summed from every call it recorded (cache hits count as calls that
// cost nothing), priced per model from LLM_PRICES.

import type { Kysely } from 'kysely';
import type { LlmUsage } from '../common/llm';
import type { Config } from '../config';
import type { Database } from '../db/database';

export async function llmUsageOf(db: Kysely<Database>, jobId: string, prices: Config['LLM_PRICES']): Promise<LlmUsage> {
  const byModel = await db
    .selectFrom('llm_calls')
    .select((eb) => [
      'model',
      eb.fn.countAll<number>().as('calls'),
      eb.fn.sum<number>(eb.case().when('cached', '=', true).then(1).else(0).end()).as('cached_calls'),
      eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
      eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
    ])
    .where('job_id', '=', jobId)
    .groupBy('model')
    .execute();
  const usage: LlmUsage = { calls: 0, cachedCalls: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 };
  for (const row of byModel) {
    usage.calls += Number(row.calls);
    usage.cachedCalls += Number(row.cached_calls);
    usage.promptTokens += Number(row.prompt_tokens);
    usage.completionTokens += Number(row.completion_tokens);
    const price = prices[row.model];
    usage.costUsd = price && usage.costUsd !== null ? usage.costUsd + (Number(row.prompt_tokens) * price.prompt + Number(row.completion_tokens) * price.completion) / 1e6 : null;
  }
  if (usage.costUsd !== null) usage.costUsd = Math.round(usage.costUsd * 1e6) / 1e6;
  return usage;
}
