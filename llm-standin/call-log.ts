// What the stand-in was asked and how it answered, per request and per item: the evidence tests use to
// prove retries, back-off and cancellation really happened over the wire.

export type CallOutcome =
  'ok' | 'rate_limited' | 'server_error' | 'malformed' | 'wrong_shape' | 'hung' | 'client_aborted';

export interface CallRecord {
  itemKey?: string;
  task?: string;
  /** The job the call was made for (the `x-synapse-job-id` header), when the caller said. */
  jobId?: string;
  /** The caller's id for this call (the `x-synapse-call-id` header), when it gave one. */
  callId?: string;
  /** 1-based arrival number over every call the stand-in received. */
  callNumber: number;
  /** True when a gate held the call before it was answered. */
  held?: boolean;
  /** ms since the epoch. */
  receivedAt: number;
  /** When the answer was sent or the client went away; absent while in flight or hung. */
  finishedAt?: number;
  /** Decided on arrival, so an in-flight call already shows what it will get; `client_aborted` overrides. */
  outcome: CallOutcome;
  promptTokens: number;
  /** HTTP status sent; absent when nothing was sent. Tells a rejected request (400) from a 5xx. */
  status?: number;
  /** What the request asked its answer to be: the response format, and for `json_schema` its name and strictness. */
  responseFormat?: { type: 'text' | 'json_object' } | { type: 'json_schema'; name: string; strict: boolean };
  /**
   * For a `json_schema` request answered 200: whether the content sent conforms to the schema (false only when a fault
   * or the test's responder broke it).
   */
  answerConforms?: boolean;
}

export class CallLog {
  private records: CallRecord[] = [];
  private countsByItemKey = new Map<string, number>();
  private callsWithoutItem = 0;

  /** Logs an arriving request; returns its record and its 0-based index among its item's calls. */
  open(
    call: {
      itemKey?: string;
      task?: string;
      jobId?: string;
      callId?: string;
      promptTokens: number;
      responseFormat?: CallRecord['responseFormat'];
    },
    outcome: CallOutcome,
  ): { record: CallRecord; callIndex: number } {
    const callIndex = this.nextIndex(call.itemKey);
    const record: CallRecord = {
      ...(call.itemKey !== undefined ? { itemKey: call.itemKey } : {}),
      ...(call.task !== undefined ? { task: call.task } : {}),
      ...(call.jobId !== undefined ? { jobId: call.jobId } : {}),
      ...(call.callId !== undefined ? { callId: call.callId } : {}),
      ...(call.responseFormat !== undefined ? { responseFormat: call.responseFormat } : {}),
      callNumber: this.records.length + 1,
      receivedAt: Date.now(),
      outcome,
      promptTokens: call.promptTokens,
    };
    this.records.push(record);
    return { record, callIndex };
  }

  callCount(itemKey: string): number {
    return this.countsByItemKey.get(itemKey) ?? 0;
  }

  /** Copies, so callers can keep a snapshot while in-flight calls keep changing. */
  calls(): CallRecord[] {
    return this.records.map((record) => ({ ...record }));
  }

  countsByItem(): Record<string, number> {
    return Object.fromEntries(this.countsByItemKey);
  }

  clear(): void {
    this.records = [];
    this.countsByItemKey.clear();
    this.callsWithoutItem = 0;
  }

  private nextIndex(itemKey: string | undefined): number {
    if (itemKey === undefined) return this.callsWithoutItem++;
    const index = this.countsByItemKey.get(itemKey) ?? 0;
    this.countsByItemKey.set(itemKey, index + 1);
    return index;
  }
}

/** The most calls the stand-in held at once, from their arrival and answer times (an answer first when both fall together). */
export function mostAtOnce(calls: readonly Pick<CallRecord, 'receivedAt' | 'finishedAt'>[]): number {
  const edges = calls.flatMap((c) => [
    { at: c.receivedAt, delta: 1 },
    { at: c.finishedAt ?? Number.MAX_SAFE_INTEGER, delta: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let now = 0;
  let most = 0;
  for (const edge of edges) most = Math.max(most, (now += edge.delta));
  return most;
}
