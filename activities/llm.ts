// One structured LLM call as an activity step: heartbeats while it waits, aborts the HTTP request when
// Temporal cancels the activity, validates the answer against a schema and re-asks a bounded number of
// times when the output is invalid. Errors leave here already classified for Temporal's retry policy.

import { Context } from '@temporalio/activity';
import OpenAI from 'openai';
import type { z } from 'zod';
import { classifyLlmError } from './llm-errors';

export interface LlmSettings {
  model: string;
  maxOutputTokens: number;
  invalidOutputAttempts: number;
  heartbeatIntervalMs: number;
}

export interface LlmDeps {
  openai: OpenAI;
  settings: LlmSettings;
}

export interface StructuredPrompt<T> {
  system: string;
  user: string;
  schema: z.ZodType<T>;
}

export type StructuredAnswer<T> =
  | { ok: true; value: T; calls: number; promptTokens: number; completionTokens: number }
  | { ok: false; reason: string; calls: number; promptTokens: number; completionTokens: number };

export function createOpenAiClient(options: { apiKey: string; baseURL?: string; timeoutMs: number }): OpenAI {
  // Temporal owns retries (with heartbeats and visibility), so the client's own retry loop is off.
  return new OpenAI({ apiKey: options.apiKey, baseURL: options.baseURL, timeout: options.timeoutMs, maxRetries: 0 });
}

export async function completeStructured<T>(deps: LlmDeps, prompt: StructuredPrompt<T>): Promise<StructuredAnswer<T>> {
  const { settings } = deps;
  const usage = { calls: 0, promptTokens: 0, completionTokens: 0 };
  let lastProblem = '';
  for (let attempt = 1; attempt <= settings.invalidOutputAttempts; attempt++) {
    const content = await chatOnce(deps, prompt, usage);
    const parsed = parseAnswer(content, prompt.schema);
    if (parsed.ok) return { ok: true, value: parsed.value, ...usage };
    lastProblem = parsed.problem;
    Context.current().log.warn('LLM output invalid, asking again', { attempt, problem: lastProblem });
  }
  return { ok: false, reason: `invalid LLM output after ${settings.invalidOutputAttempts} attempts: ${lastProblem}`, ...usage };
}

async function chatOnce<T>(deps: LlmDeps, prompt: StructuredPrompt<T>, usage: { calls: number; promptTokens: number; completionTokens: number }): Promise<string> {
  const context = Context.current();
  const heartbeat = setInterval(() => context.heartbeat({ waitingFor: 'llm', calls: usage.calls }), deps.settings.heartbeatIntervalMs);
  context.heartbeat({ waitingFor: 'llm', calls: usage.calls });
  usage.calls++;
  try {
    const completion = await deps.openai.chat.completions.create(
      {
        model: deps.settings.model,
        messages: [
          { role: 'system', content: prompt.system },
          { role: 'user', content: prompt.user },
        ],
        response_format: { type: 'json_object' },
        max_completion_tokens: deps.settings.maxOutputTokens,
        temperature: 0,
      },
      { signal: context.cancellationSignal },
    );
    usage.promptTokens += completion.usage?.prompt_tokens ?? 0;
    usage.completionTokens += completion.usage?.completion_tokens ?? 0;
    return completion.choices[0]?.message?.content ?? '';
  } catch (error) {
    // A cancelled activity must surface as cancellation, not as an LLM failure to retry.
    if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason ?? error;
    throw classifyLlmError(error);
  } finally {
    clearInterval(heartbeat);
  }
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
