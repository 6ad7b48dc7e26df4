// The LLM answer cache: valid answers keyed by a hash of model, output limit and messages. Only answers
// that passed schema validation are stored, so a cached answer is always one a job could use.

import { createHash } from 'node:crypto';
import { sql, type Kysely, type QueryCreator } from 'kysely';
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

/**
 * The statement storing or refreshing an answer (a job that switched the cache off replaces what it asked again), to
 * run or to put in a statement of the caller's (the LLM call's record: activities/llm/llm.ts).
 */
export function storeAnswer(
  db: QueryCreator<Database>,
  answer: { key: string; model: string; content: string; promptTokens: number; completionTokens: number },
) {
  return db
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
    );
}
