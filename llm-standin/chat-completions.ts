// Answers one POST /v1/chat/completions: logs the call, refuses a strict JSON Schema a provider would refuse, applies
// the quota and the fault plan decided on arrival, waits the planned latency, then sends the task responder's answer
// (in the request's JSON Schema when it gives one) or the planned failure.

import type { CallLog, CallOutcome, CallRecord } from './call-log';
import type { Exchange } from './exchange';
import type { Gates } from './gates';
import { answerInSchema, conformsTo, strictSchemaProblem } from './json-schema';
import { chooseFault, delayFor, type CallSubject, type FaultPlan, type FaultRule } from './faults';
import {
  BadRequest,
  completionBody,
  errorBody,
  errorTypeFor,
  parseChatRequest,
  promptTokensOf,
  type StandinRequest,
} from './openai-wire';
import type { AdmissionResult, RateWindow } from './rate-window';

export type StandinResponder = (request: StandinRequest) => unknown;

export interface ChatContext {
  responders: Record<string, StandinResponder>;
  faultPlan(): FaultPlan;
  log: CallLog;
  window: RateWindow;
  gates: Gates;
  nextCompletionId(): string;
}

/** Truncated JSON, as when a model runs out of output tokens mid-answer. */
const MALFORMED_CONTENT = '{"answer": {"status": "incomplete", "items": [{"name": "cut off mid-str';
const WRONG_SHAPE_ANSWER = { unexpected: true };

interface Plan {
  request: StandinRequest;
  admission: AdmissionResult;
  fault?: FaultRule;
  arrivedAt: number;
  promptTokens: number;
}

/** `caller` holds what the request's headers say: the job (`x-synapse-job-id`) and the call (`x-synapse-call-id`). */
export async function answerChatCompletion(
  ctx: ChatContext,
  exchange: Exchange,
  body: string,
  caller: { jobId?: string; callId?: string } = {},
): Promise<void> {
  let request: StandinRequest;
  try {
    request = {
      ...parseChatRequest(body),
      ...(caller.jobId ? { jobId: caller.jobId } : {}),
      ...(caller.callId ? { callId: caller.callId } : {}),
    };
  } catch (error) {
    if (!(error instanceof BadRequest)) throw error;
    exchange.record = ctx.log.open({ promptTokens: 0 }, 'server_error').record;
    return exchange.sendJson(400, errorBody(error.message, 'invalid_request_error', null, error.param));
  }
  const promptTokens = promptTokensOf(request);
  const format = request.responseFormat;
  const { record, callIndex } = ctx.log.open(
    {
      itemKey: request.itemKey,
      task: request.task,
      jobId: request.jobId,
      callId: request.callId,
      promptTokens,
      ...(format
        ? {
            responseFormat:
              format.type === 'json_schema'
                ? { type: format.type, name: format.name, strict: format.strict }
                : { type: format.type },
          }
        : {}),
    },
    'ok',
  );
  exchange.record = record;
  // A provider checks a strict schema before anything else, and refuses the request when it cannot hold output to it.
  if (format?.type === 'json_schema' && format.strict) {
    const problem = strictSchemaProblem(format.schema);
    if (problem !== undefined) {
      record.outcome = 'server_error';
      const message = `Invalid schema for response_format '${format.name}': ${problem}`;
      return exchange.sendJson(400, errorBody(message, 'invalid_request_error', null, 'response_format'));
    }
  }
  const responder =
    request.task !== undefined && Object.hasOwn(ctx.responders, request.task)
      ? ctx.responders[request.task]
      : undefined;
  if (!responder) {
    record.outcome = 'server_error';
    const message =
      request.task === undefined
        ? 'The last user message has no `TASK: <name>` line.'
        : `The LLM stand-in has no responder for task '${request.task}'.`;
    return exchange.sendJson(400, errorBody(message, 'invalid_request_error'));
  }

  // A held call has not reached the provider's quota or the fault plan yet: both apply once it is released.
  if (
    !(await ctx.gates.pass(
      { itemKey: request.itemKey, task: request.task, jobId: request.jobId, callNumber: record.callNumber },
      exchange,
      record,
    ))
  )
    return;
  const faultPlan = ctx.faultPlan();
  const subject: CallSubject = { itemKey: request.itemKey, task: request.task, callIndex };
  const arrivedAt = Date.now();
  const admission = ctx.window.admit(faultPlan.limits, promptTokens, arrivedAt);
  const fault = admission.admitted ? chooseFault(faultPlan, subject) : undefined;
  record.outcome = plannedOutcome(admission, fault);
  // A hung request is answered by nobody: it ends when the client or the server gives up.
  if (record.outcome === 'hung') return;
  if (!(await exchange.sleep(delayFor(faultPlan, fault, subject)))) return;
  await answer(ctx, exchange, faultPlan, { request, admission, fault, arrivedAt, promptTokens }, responder);
}

function plannedOutcome(admission: AdmissionResult, fault: FaultRule | undefined): CallOutcome {
  if (!admission.admitted) return 'rate_limited';
  switch (fault?.kind) {
    case 'rate_limit':
      return 'rate_limited';
    case 'server_error':
      return 'server_error';
    case 'hang':
      return 'hung';
    case 'malformed':
      return 'malformed';
    case 'wrong_shape':
      return 'wrong_shape';
    default:
      return 'ok';
  }
}

async function answer(
  ctx: ChatContext,
  exchange: Exchange,
  faultPlan: FaultPlan,
  plan: Plan,
  responder: StandinResponder,
): Promise<void> {
  const { admission, fault } = plan;
  const now = Date.now();
  if (!admission.admitted) {
    const retryAfterMs = Math.max(0, admission.retryAfterMs - (now - plan.arrivedAt));
    const message = `Rate limit reached for ${plan.request.model} on ${admission.exhausted} per min. Please try again in ${Math.ceil(retryAfterMs)}ms.`;
    return sendRateLimited(
      exchange,
      ctx.window.headers(faultPlan.limits, now),
      retryAfterMs,
      message,
      admission.exhausted,
    );
  }
  if (fault?.kind === 'rate_limit') {
    const retryAfterMs = (fault.retryAfterSeconds ?? 1) * 1000;
    const message = `Rate limit reached for ${plan.request.model} on requests per min. Please try again in ${fault.retryAfterSeconds ?? 1}s.`;
    return sendRateLimited(
      exchange,
      ctx.window.headers(faultPlan.limits, now, { retryAfterMs }),
      retryAfterMs,
      message,
      'requests',
    );
  }
  if (fault?.kind === 'server_error') {
    const status = fault.status ?? 503;
    const message =
      status >= 500
        ? 'The server is overloaded or not ready yet.'
        : `The LLM stand-in was told to reject this request (${status}).`;
    return exchange.sendJson(
      status,
      errorBody(message, errorTypeFor(status)),
      ctx.window.headers(faultPlan.limits, now),
    );
  }
  let content: string;
  try {
    content = await contentFor(fault, plan.request, responder, exchange.record);
  } catch (error) {
    if (exchange.record) exchange.record.outcome = 'server_error';
    const reason = error instanceof Error ? error.message : String(error);
    return exchange.sendJson(
      500,
      errorBody(`The stand-in responder for '${plan.request.task}' failed: ${reason}`, 'server_error'),
    );
  }
  const completion = completionBody(ctx.nextCompletionId(), plan.request.model, content, plan.promptTokens);
  ctx.window.addTokens(admission.usage, completion.usage.completion_tokens);
  // quota_spent: the provider answered, and says this was the last request its quota allows until the reset.
  const spent = fault?.kind === 'quota_spent' ? { retryAfterMs: (fault.retryAfterSeconds ?? 1) * 1000 } : undefined;
  exchange.sendJson(200, completion, ctx.window.headers(faultPlan.limits, Date.now(), spent));
}

/**
 * The faults break the schema whatever the request asked for (truncated JSON, or an object of none of its fields) and
 * are sent as they are, so validation and its retries stay testable with `json_schema`; a responder's answer is sent
 * in the request's schema.
 */
async function contentFor(
  fault: FaultRule | undefined,
  request: StandinRequest,
  responder: StandinResponder,
  record: CallRecord | undefined,
): Promise<string> {
  const schema = request.responseFormat?.type === 'json_schema' ? request.responseFormat.schema : undefined;
  const recordConforms = (conforms: boolean) => {
    if (record && schema) record.answerConforms = conforms;
  };
  if (fault?.kind === 'malformed') {
    recordConforms(false);
    return MALFORMED_CONTENT;
  }
  let answer: unknown;
  if (fault?.kind === 'wrong_shape') {
    answer = WRONG_SHAPE_ANSWER;
    if (schema) recordConforms(conformsTo(answer, schema));
  } else {
    answer = await responder(request);
    if (schema) {
      const inSchema = answerInSchema(answer, schema);
      answer = inSchema.answer;
      recordConforms(inSchema.conforms);
    }
  }
  const json = JSON.stringify(answer);
  if (json === undefined) throw new Error(`answer for item '${request.itemKey ?? '(none)'}' is not JSON-serialisable`);
  return json;
}

function sendRateLimited(
  exchange: Exchange,
  windowHeaders: Record<string, string>,
  retryAfterMs: number,
  message: string,
  exhausted: 'requests' | 'tokens',
): void {
  const headers = {
    ...windowHeaders,
    'retry-after': String(Math.ceil(retryAfterMs / 1000)),
    'retry-after-ms': String(Math.ceil(retryAfterMs)),
  };
  exchange.sendJson(429, errorBody(message, exhausted, 'rate_limit_exceeded'), headers);
}
