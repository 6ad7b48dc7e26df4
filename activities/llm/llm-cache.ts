// The LLM answer cache: valid answers keyed by a hash of model, output limit and messages. Only answers
// that passed schema validation are stored, so a cached answer is always one a job could use.

import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/database';

export function promptCacheKey(
  model: string,
  maxOutputTokens: number,
  prompt: { system: string; user: string },
): string {
  return createHash('sha256')
    .update(JSON.stringify([model, maxOutputTokens, prompt.system, prompt.user]))
    .digest('hex');
}

export async function cachedAnswer(db: Kysely<Database>, key: string): Promise<string | undefined> {
  const row = await db
    .updateTable('llm_cache')
    .set({ hits: sql`hits + 1` })
    .where('key', '=', key)
    .returning('content')
    .executeTakeFirst();
  return row?.content;
}

/** Stores or refreshes an answer: a job that switched the cache off replaces what it asked again. */
export async function storeAnswer(
  db: Kysely<Database>,
  answer: { key: string; model: string; content: string; promptTokens: number; completionTokens: number },
): Promise<void> {
  await db
    .insertInto('llm_cache')
    .values({
      key: answer.key,
      model: answer.model,
      content: answer.content,
      prompt_tokens: answer.promptTokens,
      completion_tokens: answer.completionTokens,
    })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        content: answer.content,
        prompt_tokens: answer.promptTokens,
        completion_tokens: answer.completionTokens,
        created_at: new Date(),
      }),
    )
    .execute();
}
