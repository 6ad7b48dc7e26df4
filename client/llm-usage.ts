// A job's LLM token usage and cost: the recorded usage per model (activities/llm/llm-usage.ts), priced from
// LLM_PRICES.

import type { Kysely } from 'kysely';
import { llmUsageByModel, totalUsage } from '../activities/llm/llm-usage';
import type { LlmUsage } from '../common/llm';
import type { Config } from '../config';
import type { Database } from '../db/database';

export async function llmUsageOf(db: Kysely<Database>, jobId: string, prices: Config['LLM_PRICES']): Promise<LlmUsage> {
  const byModel = await llmUsageByModel(db, jobId);
  // Null as soon as one model used has no price: a partial sum would understate the cost.
  let costUsd: number | null = 0;
  for (const { model, promptTokens, completionTokens } of byModel) {
    const price = prices[model];
    costUsd =
      price && costUsd !== null
        ? costUsd + (promptTokens * price.prompt + completionTokens * price.completion) / 1e6
        : null;
  }
  return { ...totalUsage(byModel), costUsd: costUsd === null ? null : Math.round(costUsd * 1e6) / 1e6 };
}
