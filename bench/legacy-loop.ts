// The legacy pattern, rebuilt faithfully for comparison: one thread whose event loop awaits each
// attribute in turn (column profile, LLM call, storage, progress written to a JSON jobs file), as the
// BackgroundJobManager's `loop.run_until_complete(_async_task_function(...))` did. Bench-only.

import { writeFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import type OpenAI from 'openai';
import { profileColumn } from '../activities/profiling/column-profile';
import { validationRulesPrompt } from '../activities/profiling/profiling-prompts';
import { proposedRulesSchema } from '../activities/rules/rule-schema';
import type { AttributeDescriptor } from '../common/rules';
import type { Database } from '../db/database';

export interface LegacyRun {
  jobId: string;
  dataSourceId: string;
  table: string;
  attributes: AttributeDescriptor[];
  model: string;
  /** The workers' PROFILE_SAMPLE_ROWS, so both ways profile alike. */
  profileSampleRows: number;
  /** The workers' LLM_MAX_PROMPT_TOKENS, so both ways send the same prompts. */
  maxPromptTokens: number;
  /** Where progress goes after every item, as jobs_storage.json did. */
  storagePath: string;
}

export async function runLegacyProfiling(
  db: Kysely<Database>,
  openai: OpenAI,
  run: LegacyRun,
): Promise<{ completed: number; failed: number }> {
  let completed = 0;
  let failed = 0;
  for (const [index, attribute] of run.attributes.entries()) {
    const profile = await profileColumn(db, run.table, attribute, { sampleRows: run.profileSampleRows });
    const { system, user } = validationRulesPrompt(run.dataSourceId, attribute, profile, run.maxPromptTokens);
    const answer = await openai.chat.completions.create({
      model: run.model,
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: user },
      ],
      response_format: { type: 'json_object' },
    });
    const parsed = proposedRulesSchema.safeParse(safeJson(answer.choices[0]?.message.content ?? ''));
    const rules = parsed.success ? parsed.data.rules : [];
    await db.transaction().execute(async (trx) => {
      if (rules.length > 0) {
        await trx
          .insertInto('profiling_rules')
          .values(
            rules.map((r, ruleIndex) => ({
              job_id: run.jobId,
              attribute: attribute.name,
              rule_index: ruleIndex,
              rule: JSON.stringify(r.rule),
              description: r.description,
              severity: r.severity,
            })),
          )
          .execute();
      }
      await trx
        .insertInto('attribute_results')
        .values({
          job_id: run.jobId,
          attribute: attribute.name,
          status: parsed.success ? 'completed' : 'failed',
          rules_count: rules.length,
          failure_reason: null,
          llm_attempts: 1,
          prompt_tokens: answer.usage?.prompt_tokens ?? 0,
          completion_tokens: answer.usage?.completion_tokens ?? 0,
        })
        .execute();
    });
    if (parsed.success) completed++;
    else failed++;
    const total = run.attributes.length;
    writeFileSync(
      run.storagePath,
      JSON.stringify({
        [run.jobId]: {
          status: 'running',
          current_step: `Processing item ${index + 1} of ${total}`,
          progress_percentage: Math.floor(((index + 1) / total) * 100),
          completed_steps: index + 1,
          total_steps: total,
        },
      }),
    );
  }
  return { completed, failed };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
