// One structured LLM call as an activity step: answers from the cache when the same prompt was answered
// before, waits for the shared budget, heartbeats while it waits, aborts the HTTP request on cancel, waits out
// rate limits and unavailability inside the attempt for LLM_RETRY_SPAN_MS, records every paid answer by its
// call id before anything is stored from it, asks for the answer's JSON Schema (or JSON, per model), and re-asks a
// bounded number of times when output is invalid.

import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Kysely, QueryCreator } from 'kysely';
import OpenAI, { type APIError } from 'openai';
import type { z } from 'zod';
import { FailureType } from '../../common/failures';
import type { LlmActivityHeartbeat, LlmCallContext, ResponseFormatKind } from '../../common/llm';
import type { Database } from '../../db/database';
import { cachedAnswer, promptCacheKey, storeAnswer } from './llm-cache';
import { unlimitedBudget, type BudgetGrant, type BudgetSettlement, type LlmBudget } from './budget/llm-budget';
import { classifyLlmError, isTransientLlmFailure, transientRetryDelayMs } from './llm-errors';
import { nodeHttpFetch } from './http-transport';
import { fitPrompt, type PromptText } from './prompt-budget';
import { nullsAsAbsent, responseFormat, type ResponseFormat } from './llm-response-format';
import { sqlRefusal } from '../data-sources/sql-errors';
import type { LlmJobGate, ReleaseSlot } from './job-gate';

export interface LlmSettings {
  model: string;
  maxOutputTokens: number;
  invalidOutputAttempts: number;
  heartbeatIntervalMs: number;
  /** LLM_REQUEST_TIMEOUT_MS: a retry is started only while the attempt has this long left for it. */
  requestTimeoutMs: number;
  /** LLM_RETRY_SPAN_MS: how long rate limits and unavailability are retried, from the activity's first scheduling. */
  retrySpanMs: number;
  /** LLM_MAX_PROMPT_TOKENS: the family's prompt builder fits its prompt; a prompt still over is cut here. */
  maxPromptTokens: number;
  /**
   * LLM_RESPONSE_FORMATS for `model`: `json_schema` sends the answer's strict JSON Schema, `json_object` (for models
   * and providers without structured outputs) asks for JSON only. Either way the answer is validated.
   * @defaultValue 'json_schema'
   */
  responseFormat: ResponseFormatKind;
}

export interface LlmDeps {
  openai: OpenAI;
  settings: LlmSettings;
  db: Kysely<Database>;
  budget?: LlmBudget;
  /** Holds a job's calls to its `llmConcurrency` when its activities are scheduled ahead of them (job-gate.ts). */
  gate?: LlmJobGate;
}

export interface StructuredPrompt<T> extends PromptText {
  /** The answer's name in a JSON Schema response format: the prompt's TASK (letters, digits, `_`, `-`). */
  name: string;
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

/** The transient failures one activity has waited out, carried to its next attempt through the heartbeat. */
interface Retrying {
  retries: number;
  lastErrorType?: FailureType;
  lastError?: string;
}

interface CallState {
  usage: Usage;
  retrying: Retrying;
}

export type StructuredAnswer<T> = ({ ok: true; value: T } | { ok: false; reason: string }) & Usage;

/**
 * A retry is started only with room for the request (LLM_REQUEST_TIMEOUT_MS) and this much more before the attempt's
 * start-to-close.
 */
const ATTEMPT_MARGIN_MS = 30_000;

/**
 * A failed write of a paid answer's records is tried again after 100 ms, doubling up to 5 s, for as long as the
 * activity lives.
 */
const WRITE_RETRY_FIRST_MS = 100;
const WRITE_RETRY_MAX_MS = 5_000;

export function createOpenAiClient(options: { apiKey: string; baseURL?: string; timeoutMs: number }): OpenAI {
  return new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    timeout: options.timeoutMs,
    // Retries are ours (waited out inside the activity, with heartbeats and visibility), so the client's own loop is off.
    maxRetries: 0,
    // node:http on keep-alive agents (http-transport.ts): the worker's CPU an attribute 18 % less than with fetch.
    fetch: nodeHttpFetch(),
  });
}

export async function completeStructured<T>(
  deps: LlmDeps,
  structured: StructuredPrompt<T>,
  call: LlmCall,
): Promise<StructuredAnswer<T>> {
  const { settings } = deps;
  const prompt = fitPrompt([() => structured], settings.maxPromptTokens);
  const state: CallState = {
    usage: { calls: 0, cachedCalls: 0, promptTokens: 0, completionTokens: 0 },
    retrying: retryingSoFar(),
  };
  const cacheKey = promptCacheKey(settings.model, settings.maxOutputTokens, prompt);
  if (call.useCache) {
    const cached = await cachedAnswer(deps.db, cacheKey);
    const parsed = cached === undefined ? undefined : parseAnswer(cached, structured.schema);
    if (parsed?.ok) {
      state.usage.cachedCalls++;
      countLlm('synapse_llm_cache_hits', 1, { model: settings.model });
      await recordCall(deps, call, state, {
        callId: randomUUID(),
        promptTokens: 0,
        completionTokens: 0,
        cached: true,
        durationMs: 0,
      });
      return { ok: true, value: parsed.value, ...state.usage };
    }
  }
  const format = formatFor(settings.responseFormat, structured);
  let lastProblem = '';
  // An answer is read as it comes, so a usable one goes into the cache in the statement that records its call.
  const reader = {
    cacheKey,
    read: (content: string) => {
      const parsed = parseAnswer(content, structured.schema);
      return { usable: parsed.ok, value: parsed };
    },
  };
  for (let attempt = 1; attempt <= settings.invalidOutputAttempts; attempt++) {
    const parsed = await chatUntilAnswered(deps, prompt, format, call, state, reader);
    if (parsed.ok) return { ok: true, value: parsed.value, ...state.usage };
    lastProblem = parsed.problem;
    // By response format, so what json_schema changes shows against synapse_llm_requests.
    countLlm('synapse_llm_invalid_outputs', 1, { model: settings.model, response_format: format.type });
    Context.current().log.warn('LLM output invalid, asking again', {
      jobId: call.jobId,
      item: call.item,
      attempt,
      problem: lastProblem,
    });
  }
  return {
    ok: false,
    reason: `invalid LLM output after ${settings.invalidOutputAttempts} attempts: ${lastProblem}`,
    ...state.usage,
  };
}

/**
 * The request's response format. A schema that cannot be sent strict is a request any provider would refuse (as it
 * would with a 400): retrying cannot help.
 */
function formatFor<T>(kind: ResponseFormatKind, structured: StructuredPrompt<T>): ResponseFormat {
  try {
    return responseFormat(kind, structured.name, structured.schema);
  } catch (error) {
    throw ApplicationFailure.nonRetryable(
      `the answer's JSON Schema cannot be sent strict: ${error instanceof Error ? error.message : String(error)}`,
      FailureType.LlmRejectedRequest,
    );
  }
}

/**
 * A rough count of the prompt's tokens before sending (about four characters a token, message by message as the
 * provider counts), corrected by the real usage after.
 */
export function countPromptTokens(prompt: { system: string; user: string }): number {
  return Math.ceil(prompt.system.length / 4) + Math.ceil(prompt.user.length / 4);
}

/**
 * Sends the prompt until the provider answers. Rate limits and unavailability are waited out here, inside the
 * attempt and heartbeating, so a storm costs no Temporal attempts; the span is counted from the activity's
 * first scheduling (its earlier attempts included), and once the next try would start past it the item
 * fails for good with a non-retryable failure of the last error's class.
 */
async function chatUntilAnswered<R>(
  deps: LlmDeps,
  prompt: PromptText,
  format: ResponseFormat,
  call: LlmCall,
  state: CallState,
  reader: AnswerReader<R>,
): Promise<R> {
  for (;;) {
    try {
      return await chatOnce(deps, prompt, format, call, state, reader);
    } catch (failure) {
      if (!isTransientLlmFailure(failure)) throw failure;
      await waitToRetry(deps, call, state, failure);
    }
  }
}

async function waitToRetry(
  deps: LlmDeps,
  call: LlmCall,
  state: CallState,
  failure: ApplicationFailure & { type: FailureType },
): Promise<void> {
  const { settings } = deps;
  const context = Context.current();
  const { info } = context;
  const retries = state.retrying.retries + 1;
  state.retrying = { retries, lastErrorType: failure.type, lastError: failure.message.slice(0, 200) };
  const delayMs = transientRetryDelayMs(failure, retries);
  const now = Date.now();
  const elapsedMs = now - info.scheduledTimestampMs;
  if (elapsedMs + delayMs > settings.retrySpanMs) {
    throw ApplicationFailure.create({
      type: failure.type,
      nonRetryable: true,
      message: `${failure.type} for ${Math.round(elapsedMs / 1000)} s, past the ${Math.round(settings.retrySpanMs / 1000)} s retry span (LLM_RETRY_SPAN_MS), after ${retries} transient failures; last: ${failure.message}`,
    });
  }
  // An attempt cannot outlive its start-to-close: near it, Temporal's next attempt (after nextRetryDelay) goes on.
  if (
    now + delayMs + settings.requestTimeoutMs + ATTEMPT_MARGIN_MS >
    info.currentAttemptScheduledTimestampMs + info.startToCloseTimeoutMs
  )
    throw failure;
  context.log.info('LLM call failed transiently, retrying', {
    jobId: call.jobId,
    item: call.item,
    retries,
    failureType: failure.type,
    delayMs,
  });
  await sleepHeartbeating(
    delayMs,
    heartbeatDetails(call, state, { waitingFor: 'retry' }),
    settings.heartbeatIntervalMs,
  );
}

/**
 * Waits for one of the job's LLM slots when the workflow scheduled this activity ahead of the job's calls (the call
 * context carries the job's `concurrency`); otherwise the workflow's window already bounds the job's calls.
 */
async function jobSlot(deps: LlmDeps, call: LlmCall, state: CallState): Promise<ReleaseSlot> {
  if (call.concurrency === undefined || deps.gate === undefined) return () => undefined;
  return deps.gate.acquire(call.jobId, call.concurrency, Context.current().cancellationSignal, (details) =>
    beat(call, state, { waitingFor: 'slot', ...details }),
  );
}

/**
 * What the caller makes of an answer's content, read as soon as it comes: a usable answer is cached (under `cacheKey`)
 * in the same statement that records its call, one round trip where there were two.
 */
interface AnswerReader<R> {
  cacheKey: string;
  read(content: string): { usable: boolean; value: R };
}

/**
 * One request: budget, send, and on an answer its usage recorded before the answer is used; returns what the reader
 * made of it. Errors leave classified.
 */
async function chatOnce<R>(
  deps: LlmDeps,
  prompt: PromptText,
  format: ResponseFormat,
  call: LlmCall,
  state: CallState,
  reader: AnswerReader<R>,
): Promise<R> {
  const context = Context.current();
  const { settings } = deps;
  // One of the job's slots first (the job's own limit), then the fleet's budget: a call waiting for budget already
  // counts against its job, so budget is never held for a call its job could not send.
  const releaseSlot = await jobSlot(deps, call, state);
  let grant: BudgetGrant;
  try {
    grant = await (deps.budget ?? unlimitedBudget).acquire(
      {
        model: settings.model,
        jobId: call.jobId,
        owner: call.owner,
        priority: call.priority,
        promptTokens: countPromptTokens(prompt),
        maxOutputTokens: settings.maxOutputTokens,
      },
      context.cancellationSignal,
      (details) => beat(call, state, { waitingFor: 'budget', ...details }),
    );
  } catch (error) {
    releaseSlot();
    throw error;
  }
  const heartbeat = setInterval(() => beat(call, state, { waitingFor: 'llm' }), settings.heartbeatIntervalMs);
  beat(call, state, { waitingFor: 'llm' });
  state.usage.calls++;
  countLlm('synapse_llm_requests', 1, { model: settings.model, response_format: format.type });
  const callId = randomUUID();
  const startedAt = Date.now();
  // A signal of this request's own, tied to the activity's: the client leaves a listener on the signal it is
  // given, and an activity retrying through a long storm would pile them up on its cancellation signal.
  const request = new AbortController();
  const abort = () => request.abort(context.cancellationSignal.reason);
  context.cancellationSignal.addEventListener('abort', abort, { once: true });
  if (context.cancellationSignal.aborted) abort();
  let answered: { completion: OpenAI.ChatCompletion; response: Response };
  try {
    answered = await deps.openai.chat.completions
      .create(
        {
          model: settings.model,
          messages: [
            { role: 'system', content: prompt.system },
            { role: 'user', content: prompt.user },
          ],
          response_format: format,
          max_completion_tokens: settings.maxOutputTokens,
          temperature: 0,
        },
        // The job and call ids let a provider proxy (and the stand-in's gates and call log) tell calls apart; providers
        // ignore them.
        { signal: request.signal, headers: { 'x-synapse-job-id': call.jobId, 'x-synapse-call-id': callId } },
      )
      .withResponse()
      .then(({ data, response }) => ({ completion: data, response }));
  } catch (error) {
    const failedAt = Date.now();
    // `instanceof` leaves APIError's type parameters `any`: read it as the plain APIError.
    const apiError = error instanceof OpenAI.APIError ? (error as APIError) : undefined;
    await settle(grant, apiError ? { headers: apiError.headers, status: apiError.status } : {}, failedAt);
    // A cancelled activity must surface as cancellation, not as an LLM failure to retry.
    if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason ?? error;
    const failure = classifyLlmError(error);
    countLlm('synapse_llm_errors', 1, {
      model: settings.model,
      failure_type: failure instanceof ApplicationFailure && failure.type ? failure.type : 'Unclassified',
    });
    throw failure;
  } finally {
    // The call is over (answered, failed or aborted): its slot goes to the job's next call at once, before anything
    // is recorded or stored from this one (unless the activity was cancelled, and with it the job's other calls).
    releaseSlot({ aborted: context.cancellationSignal.aborted });
    clearInterval(heartbeat);
    context.cancellationSignal.removeEventListener('abort', abort);
  }
  const answeredAt = Date.now();
  const { completion, response } = answered;
  const promptTokens = completion.usage?.prompt_tokens ?? 0;
  const completionTokens = completion.usage?.completion_tokens ?? 0;
  state.usage.promptTokens += promptTokens;
  state.usage.completionTokens += completionTokens;
  countLlm('synapse_llm_prompt_tokens', promptTokens, { model: settings.model });
  countLlm('synapse_llm_completion_tokens', completionTokens, { model: settings.model });
  const content = completion.choices[0]?.message?.content ?? '';
  const read = reader.read(content);
  // Paid for: recorded first (with the answer cached when usable), so nothing later (the budget's bookkeeping, the
  // caller's writes) can lose it.
  await recordCall(deps, call, state, {
    callId,
    promptTokens,
    completionTokens,
    cached: false,
    durationMs: Date.now() - startedAt,
    ...(read.usable ? { answer: { key: reader.cacheKey, content } } : {}),
  });
  // An answer without `usage` says nothing of what it used: the call keeps counting its reservation.
  await settle(
    grant,
    {
      usedTokens: completion.usage ? promptTokens + completionTokens : undefined,
      headers: response.headers,
      status: response.status,
    },
    answeredAt,
  );
  return read.value;
}

/**
 * The budget's bookkeeping is best effort: a failed settle must not fail a paid answer or hide the provider's
 * error. The ledger lets an unsettled call go after the request timeout, and the next 429 pauses the model again.
 */
async function settle(grant: BudgetGrant, outcome: BudgetSettlement, answeredAt: number): Promise<void> {
  try {
    await grant.settle({ ...outcome, sinceAnswerMs: Date.now() - answeredAt });
  } catch (error) {
    Context.current().log.warn('LLM budget settle failed', {
      error: error instanceof Error ? error.message : String(error),
    });
  }
}

async function recordCall(
  deps: LlmDeps,
  call: LlmCall,
  state: CallState,
  used: {
    callId: string;
    promptTokens: number;
    completionTokens: number;
    cached: boolean;
    durationMs: number;
    /** A usable answer to cache in the same statement (a data-modifying CTE is one atomic statement). */
    answer?: { key: string; content: string };
  },
): Promise<void> {
  const row = {
    call_id: used.callId,
    job_id: call.jobId,
    item: call.item,
    model: deps.settings.model,
    prompt_tokens: used.promptTokens,
    completion_tokens: used.completionTokens,
    cached: used.cached,
    duration_ms: used.durationMs,
  };
  const { answer } = used;
  const cached = answer && {
    key: answer.key,
    model: deps.settings.model,
    content: answer.content,
    promptTokens: used.promptTokens,
    completionTokens: used.completionTokens,
  };
  // A write whose connection died may have committed: the call id makes the retried one a no-op then (and the cache's
  // upsert writes the same answer again). A paid answer is not thrown away for a lost connection: asking again would
  // pay twice.
  await untilWritten(
    deps,
    cached ? 'llm_calls, llm_cache' : 'llm_calls',
    () =>
      // The CTE adds a `cached` table to the statement's scope; the insert never reads it.
      (cached
        ? (deps.db.with('cached', (db) => storeAnswer(db, cached)) as unknown as QueryCreator<Database>)
        : deps.db
      )
        .insertInto('llm_calls')
        .values(row)
        .onConflict((oc) => oc.column('call_id').doNothing())
        .execute(),
    call,
    state,
  );
}

/**
 * Writes until the database takes it. Failures that may heal are retried (a lost connection, a restart: all
 * but what sql-errors.ts reads as refused for good); the activity heartbeats while it waits, so cancel and
 * pause-now still reach it.
 */
async function untilWritten(
  deps: LlmDeps,
  table: string,
  write: () => Promise<unknown>,
  call: LlmCall,
  state: CallState,
): Promise<void> {
  const context = Context.current();
  for (let failures = 0; ; failures++) {
    try {
      await write();
      return;
    } catch (error) {
      if (sqlRefusal(error) !== undefined || context.cancellationSignal.aborted) throw error;
      const delayMs = Math.min(WRITE_RETRY_MAX_MS, WRITE_RETRY_FIRST_MS * 2 ** failures);
      context.log.warn('writing an LLM answer failed, retrying', {
        jobId: call.jobId,
        item: call.item,
        table,
        failures: failures + 1,
        error: error instanceof Error ? error.message : String(error),
      });
      await sleepHeartbeating(
        delayMs,
        heartbeatDetails(call, state, { writing: table }),
        deps.settings.heartbeatIntervalMs,
      );
    }
  }
}

function heartbeatDetails(
  call: LlmCall,
  state: CallState,
  extra: Partial<LlmActivityHeartbeat> & Record<string, unknown>,
): LlmActivityHeartbeat & Record<string, unknown> {
  const { retries, lastErrorType, lastError } = state.retrying;
  return {
    item: call.item,
    calls: state.usage.calls,
    ...(retries > 0 ? { retries, lastErrorType, lastError } : {}),
    ...extra,
  };
}

const beat = (call: LlmCall, state: CallState, extra: Partial<LlmActivityHeartbeat> & Record<string, unknown>) =>
  Context.current().heartbeat(heartbeatDetails(call, state, extra));

/** The transient failures earlier attempts of this activity met, from the last heartbeat they sent. */
function retryingSoFar(): Retrying {
  const last = Context.current().info.heartbeatDetails as Partial<LlmActivityHeartbeat> | undefined;
  return typeof last?.retries === 'number'
    ? { retries: last.retries, lastErrorType: last.lastErrorType, lastError: last.lastError }
    : { retries: 0 };
}

/**
 * Waits `ms` (ending at once on cancellation), heartbeating `details` now and every `everyMs`: a wait is not a dead
 * worker.
 */
async function sleepHeartbeating(
  ms: number,
  details: LlmActivityHeartbeat & Record<string, unknown>,
  everyMs: number,
): Promise<void> {
  const context = Context.current();
  context.heartbeat(details);
  const timer = setInterval(() => context.heartbeat(details), everyMs);
  try {
    await context.sleep(ms);
  } finally {
    clearInterval(timer);
  }
}

/**
 * One of the worker's LLM counters (docs/operations.md, Metrics); labels stay few (model, and the failure type or the
 * response format), never the job.
 */
function countLlm(
  name: string,
  value: number,
  labels: { model: string } & Partial<Record<'failure_type' | 'response_format', string>>,
): void {
  Context.current().metricMeter.createCounter(name).add(value, labels);
}

function parseAnswer<T>(
  content: string,
  schema: z.ZodType<T>,
): { ok: true; value: T } | { ok: false; problem: string } {
  let json: unknown;
  try {
    // A strict answer writes null for a field it leaves out; the schemas read that as absent.
    json = nullsAsAbsent(JSON.parse(content));
  } catch {
    return { ok: false, problem: `not JSON (${JSON.stringify(content.slice(0, 80))})` };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  return { ok: false, problem: `does not match the schema (${issues.join('; ')})` };
}
