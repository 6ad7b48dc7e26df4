// One structured LLM call as an activity step: answers from the cache when the same prompt was answered
// before, waits for the shared budget, heartbeats while it waits on the provider, aborts the HTTP request
// when Temporal cancels the activity, validates the answer against a schema and re-asks a bounded number
// of times when it is invalid. Every call is recorded with its tokens; errors leave already classified.

import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import OpenAI from 'openai';
import type { z } from 'zod';
import type { LlmCallContext } from '../common/llm';
import type { Database } from '../db/database';
import { cachedAnswer, promptCacheKey, storeAnswer } from './llm-cache';
import { unlimitedBudget, type LlmBudget } from './llm-budget';
import { classifyLlmError } from './llm-errors';
import { fitPrompt, type PromptText } from './prompt-budget';

export interface LlmSettings {
  model: string;
  maxOutputTokens: number;
  invalidOutputAttempts: number;
  heartbeatIntervalMs: number;
  /** LLM_MAX_PROMPT_TOKENS: the family's prompt builder fits its prompt; a prompt still over is cut here. */
  maxPromptTokens: number;
}

export interface LlmDeps {
  openai: OpenAI;
  settings: LlmSettings;
  db: Kysely<Database>;
  budget?: LlmBudget;
}

export interface StructuredPrompt<T> extends PromptText {
  schema: z.ZodType<T>;
}

/** The job the call is for, and the item (attribute, chunk, PDE…) its usage is recorded under. */
export type LlmCall = LlmCallContext & { item: string };

interface Usage {
  calls: number;
  cachedCalls: number;
  promptTokens: number;
  completionTokens: number;
}

export type StructuredAnswer<T> = ({ ok: true; value: T } | { ok: false; reason: string }) & Usage;

export function createOpenAiClient(options: { apiKey: string; baseURL?: string; timeoutMs: number }): OpenAI {
  // Temporal owns retries (with heartbeats and visibility), so the client's own retry loop is off.
  return new OpenAI({ apiKey: options.apiKey, baseURL: options.baseURL, timeout: options.timeoutMs, maxRetries: 0 });
}

export async function completeStructured<T>(deps: LlmDeps, structured: StructuredPrompt<T>, call: LlmCall): Promise<StructuredAnswer<T>> {
  const { settings } = deps;
  const prompt = fitPrompt([() => structured], settings.maxPromptTokens);
  const usage: Usage = { calls: 0, cachedCalls: 0, promptTokens: 0, completionTokens: 0 };
  const cacheKey = promptCacheKey(settings.model, settings.maxOutputTokens, prompt);
  if (call.useCache) {
    const cached = await cachedAnswer(deps.db, cacheKey);
    const parsed = cached === undefined ? undefined : parseAnswer(cached, structured.schema);
    if (parsed?.ok) {
      usage.cachedCalls++;
      countLlm('synapse_llm_cache_hits', 1, settings.model);
      await recordCall(deps, call, { promptTokens: 0, completionTokens: 0, cached: true, durationMs: 0 });
      return { ok: true, value: parsed.value, ...usage };
    }
  }
  let lastProblem = '';
  for (let attempt = 1; attempt <= settings.invalidOutputAttempts; attempt++) {
    const answer = await chatOnce(deps, prompt, call, usage);
    const parsed = parseAnswer(answer.content, structured.schema);
    if (parsed.ok) {
      await storeAnswer(deps.db, { key: cacheKey, model: settings.model, content: answer.content, promptTokens: answer.promptTokens, completionTokens: answer.completionTokens });
      return { ok: true, value: parsed.value, ...usage };
    }
    lastProblem = parsed.problem;
    countLlm('synapse_llm_invalid_outputs', 1, settings.model);
    Context.current().log.warn('LLM output invalid, asking again', { jobId: call.jobId, item: call.item, attempt, problem: lastProblem });
  }
  return { ok: false, reason: `invalid LLM output after ${settings.invalidOutputAttempts} attempts: ${lastProblem}`, ...usage };
}

/** A rough token count before sending (about four characters a token), corrected by the real usage after. */
export function estimateTokens(prompt: { system: string; user: string }, maxOutputTokens: number): number {
  return Math.ceil((prompt.system.length + prompt.user.length) / 4) + maxOutputTokens;
}

async function chatOnce(deps: LlmDeps, prompt: PromptText, call: LlmCall, usage: Usage): Promise<{ content: string; promptTokens: number; completionTokens: number }> {
  const context = Context.current();
  const { settings } = deps;
  const beat = (details: Record<string, unknown>) => context.heartbeat({ ...details, item: call.item, calls: usage.calls });
  const grant = await (deps.budget ?? unlimitedBudget).acquire(
    { model: settings.model, jobId: call.jobId, owner: call.owner, priority: call.priority, estimatedTokens: estimateTokens(prompt, settings.maxOutputTokens) },
    context.cancellationSignal,
    (details) => beat({ waitingFor: 'budget', ...details }),
  );
  const heartbeat = setInterval(() => beat({ waitingFor: 'llm' }), settings.heartbeatIntervalMs);
  beat({ waitingFor: 'llm' });
  usage.calls++;
  countLlm('synapse_llm_requests', 1, settings.model);
  const startedAt = Date.now();
  try {
    const { data: completion, response } = await deps.openai.chat.completions
      .create(
        {
          model: settings.model,
          messages: [
            { role: 'system', content: prompt.system },
            { role: 'user', content: prompt.user },
          ],
          response_format: { type: 'json_object' },
          max_completion_tokens: settings.maxOutputTokens,
          temperature: 0,
        },
        // The job id header lets a provider proxy (and the stand-in's gates) tell jobs apart; providers ignore it.
        { signal: context.cancellationSignal, headers: { 'x-synapse-job-id': call.jobId } },
      )
      .withResponse();
    const promptTokens = completion.usage?.prompt_tokens ?? 0;
    const completionTokens = completion.usage?.completion_tokens ?? 0;
    usage.promptTokens += promptTokens;
    usage.completionTokens += completionTokens;
    countLlm('synapse_llm_prompt_tokens', promptTokens, settings.model);
    countLlm('synapse_llm_completion_tokens', completionTokens, settings.model);
    await grant.settle({ usedTokens: promptTokens + completionTokens, headers: response.headers, status: response.status });
    await recordCall(deps, call, { promptTokens, completionTokens, cached: false, durationMs: Date.now() - startedAt });
    return { content: completion.choices[0]?.message?.content ?? '', promptTokens, completionTokens };
  } catch (error) {
    await grant.settle(error instanceof OpenAI.APIError ? { headers: error.headers, status: error.status } : {});
    // A cancelled activity must surface as cancellation, not as an LLM failure to retry.
    if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason ?? error;
    const failure = classifyLlmError(error);
    countLlm('synapse_llm_errors', 1, settings.model, failure instanceof ApplicationFailure && failure.type ? failure.type : 'Unclassified');
    throw failure;
  } finally {
    clearInterval(heartbeat);
  }
}

async function recordCall(deps: LlmDeps, call: LlmCall, used: { promptTokens: number; completionTokens: number; cached: boolean; durationMs: number }): Promise<void> {
  await deps.db
    .insertInto('llm_calls')
    .values({ job_id: call.jobId, item: call.item, model: deps.settings.model, prompt_tokens: used.promptTokens, completion_tokens: used.completionTokens, cached: used.cached, duration_ms: used.durationMs })
    .execute();
}

/** One of the worker's LLM counters (README, Operations); labels stay few (model, failure type), never the job. */
function countLlm(name: string, value: number, model: string, failureType?: string): void {
  Context.current().metricMeter.createCounter(name).add(value, failureType ? { model, failure_type: failureType } : { model });
}

function parseAnswer<T>(content: string, schema: z.ZodType<T>): { ok: true; value: T } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch {
    return { ok: false, problem: `not JSON (${JSON.stringify(content.slice(0, 80))})` };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  return { ok: false, problem: `does not match the schema (${issues.join('; ')})` };
}
