// A local OpenAI-compatible chat-completions server that tests, the demo and benchmarks use instead of a
// real LLM: deterministic answers per task, scripted faults, and an HTTP control surface for other processes.

import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CallLog, type CallRecord } from './call-log';
import { answerChatCompletion, type ChatContext, type StandinResponder } from './chat-completions';
import { Exchange, readBody } from './exchange';
import { parseFaultPlan, type FaultPlan } from './faults';
import { gateMatchSchema, Gates, type GateMatch, type StandinGate } from './gates';
import { errorBody } from './openai-wire';
import { RateWindow } from './rate-window';

export type { CallOutcome, CallRecord } from './call-log';
export type { StandinResponder } from './chat-completions';
export type { FaultKind, FaultPlan, FaultRule } from './faults';
export type { GateMatch, StandinGate } from './gates';
export type { StandinMessage, StandinRequest } from './openai-wire';

export interface LlmStandin {
  /** Base URL for the openai client, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  port: number;
  /** Replaces the current plan. */
  setFaults(plan: FaultPlan): void;
  /** Requests received for that item, whatever their outcome. */
  callCount(itemKey: string): number;
  /** Every request so far, in arrival order. */
  calls(): CallRecord[];
  /**
   * Holds every call matching `match` until the test releases it (see gates.ts): wait until N are held,
   * act, release. A held call counts as received; quota and faults apply once it is released.
   */
  gate(match: GateMatch): StandinGate;
  /** Clears counts, records, rate-limit usage and gates (held calls go on); keeps the fault plan. */
  reset(): void;
  /** Stops listening and drops every open connection, hanging requests included; safe to call twice. */
  close(): Promise<void>;
}

export interface StandinOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  responders: Record<string, StandinResponder>;
  faults?: FaultPlan;
  /** Listed by GET /v1/models; answers echo the model each request names. */
  model?: string;
}

export interface StandinStats {
  calls: CallRecord[];
  countsByItem: Record<string, number>;
}

const DEFAULT_MODEL = 'synapse-standin';

export async function startLlmStandin(options: StandinOptions): Promise<LlmStandin> {
  const model = options.model ?? DEFAULT_MODEL;
  const log = new CallLog();
  const window = new RateWindow();
  const gates = new Gates();
  let faultPlan = parseFaultPlan(options.faults ?? {});
  let completions = 0;
  let closing = false;

  const setFaults = (plan: FaultPlan) => {
    faultPlan = parseFaultPlan(plan);
  };
  const reset = () => {
    gates.clear();
    log.clear();
    window.clear();
  };
  const chat: ChatContext = {
    responders: options.responders,
    faultPlan: () => faultPlan,
    log,
    window,
    gates,
    nextCompletionId: () => `chatcmpl-standin-${++completions}`,
  };
  const control: ControlSurface = {
    model,
    stats: () => ({ calls: log.calls(), countsByItem: log.countsByItem() }),
    setFaults,
    reset,
    gates,
  };

  const server = createServer((req, res) => {
    const exchange = new Exchange(res, () => closing);
    route(req, exchange, chat, control).catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      exchange.sendJson(500, errorBody(`LLM stand-in failure: ${reason}`, 'server_error'));
    });
  });
  await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  const { address, port } = server.address() as AddressInfo;
  const hostInUrl = address.includes(':') ? `[${address}]` : address;

  let closed: Promise<void> | undefined;
  const closeNow = () => {
    closing = true;
    const stopped = new Promise<void>((resolve, reject) =>
      server.close((error) => (error ? reject(error) : resolve())),
    );
    // server.close() alone waits for keep-alive and hanging sockets; tests need it to return now.
    server.closeAllConnections();
    return stopped;
  };

  return {
    url: `http://${hostInUrl}:${port}/v1`,
    port,
    setFaults,
    callCount: (itemKey) => log.callCount(itemKey),
    calls: () => log.calls(),
    gate: (match) => gates.add(match),
    reset,
    close: () => {
      closed ??= closeNow();
      return closed;
    },
  };
}

interface ControlSurface {
  model: string;
  stats(): StandinStats;
  setFaults(plan: FaultPlan): void;
  reset(): void;
  gates: Gates;
}

async function route(
  req: IncomingMessage,
  exchange: Exchange,
  chat: ChatContext,
  control: ControlSurface,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const endpoint = `${req.method} ${path}`;
  if (endpoint === 'POST /v1/chat/completions') {
    const body = await readBodyOrLogAbort(req, chat);
    const header = (name: string) => (typeof req.headers[name] === 'string' ? req.headers[name] : undefined);
    if (body !== undefined)
      await answerChatCompletion(chat, exchange, body, {
        jobId: header('x-synapse-job-id'),
        callId: header('x-synapse-call-id'),
      });
    return;
  }
  if (endpoint === 'GET /v1/models') return exchange.sendJson(200, modelList(control.model));
  if (endpoint === 'GET /_standin/stats') return exchange.sendJson(200, control.stats());
  if (endpoint === 'POST /_standin/reset') {
    control.reset();
    return exchange.sendEmpty(204);
  }
  if (endpoint === 'PUT /_standin/faults') return replaceFaults(await readBody(req), exchange, control);
  if (endpoint === 'POST /_standin/gates') return addGate(await readBody(req), exchange, control);
  const gateRoute = /^\/_standin\/gates\/([\w-]+)(\/release)?$/.exec(path ?? '');
  const gate = gateRoute && control.gates.get(gateRoute[1]!);
  if (gate && req.method === 'GET' && !gateRoute[2]) return exchange.sendJson(200, gateState(gate));
  if (gate && req.method === 'POST' && gateRoute[2]) {
    const { count } = JSON.parse((await readBody(req)) || '{}') as { count?: number };
    gate.release(typeof count === 'number' ? count : undefined);
    return exchange.sendJson(200, gateState(gate));
  }
  if (gate && req.method === 'DELETE' && !gateRoute[2]) {
    gate.open();
    return exchange.sendJson(200, gateState(gate));
  }
  req.resume();
  exchange.sendJson(404, errorBody(`Unknown request URL: ${endpoint}.`, 'invalid_request_error'));
}

/** A client that hangs up while still sending is an aborted call too, just one with no item yet. */
async function readBodyOrLogAbort(req: IncomingMessage, chat: ChatContext): Promise<string | undefined> {
  try {
    return await readBody(req);
  } catch {
    const { record } = chat.log.open({ promptTokens: 0 }, 'client_aborted');
    record.finishedAt = Date.now();
    return undefined;
  }
}

function replaceFaults(body: string, exchange: Exchange, control: ControlSurface): void {
  try {
    control.setFaults(parseFaultPlan(JSON.parse(body)));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return exchange.sendJson(400, errorBody(reason, 'invalid_request_error'));
  }
  exchange.sendEmpty(204);
}

/** `POST /_standin/gates` with a GateMatch: a gate for a process that runs the stand-in elsewhere. */
function addGate(body: string, exchange: Exchange, control: ControlSurface): void {
  let match: GateMatch;
  try {
    match = gateMatchSchema.parse(JSON.parse(body || '{}'));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return exchange.sendJson(400, errorBody(`invalid gate: ${reason}`, 'invalid_request_error'));
  }
  exchange.sendJson(201, gateState(control.gates.add(match)));
}

function gateState(gate: StandinGate) {
  return { id: gate.id, held: gate.held(), heldTotal: gate.heldTotal(), aborted: gate.aborted() };
}

function modelList(model: string) {
  return { object: 'list', data: [{ id: model, object: 'model', created: 0, owned_by: 'synapse-standin' }] };
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
