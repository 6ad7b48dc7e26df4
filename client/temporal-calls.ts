// Every call the client makes to Temporal, bounded: an answer, or a DependencyUnavailableError, within
// TEMPORAL_RPC_TIMEOUT_MS however the server fails. Once a call has found Temporal unreachable, the next ones
// are refused at once (503) while one background probe at a time looks for the server's return.

import { isGrpcServiceError, type Client } from '@temporalio/client';
import { DependencyUnavailableError } from './errors';

/** How often, at most, a background probe asks whether an unreachable Temporal is back. */
const PROBE_EVERY_MS = 1_000;

/** The gRPC status codes (fixed by the gRPC spec) that mean Temporal did not answer or is overloaded. */
const grpcStatus = { DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14 } as const;

/**
 * A deadline passed; internal, so not in client/errors.ts: `run` turns it into a DependencyUnavailableError, and
 * the progress query and the probe, the other callers of `bounded`, catch it.
 */
class NoAnswerInTime extends Error {
  override readonly name = 'NoAnswerInTime';
}

/** The gRPC status of a failed call (the client wraps it in a ServiceError's cause), if it has one. */
function grpcCodeOf(error: unknown): number | undefined {
  if (isGrpcServiceError(error)) return error.code;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return isGrpcServiceError(cause) ? cause.code : undefined;
}

/** True when the failure says the server did not answer (down, unreachable, past the deadline), not that it said no. */
export function isUnanswered(error: unknown): boolean {
  const code = grpcCodeOf(error);
  return error instanceof NoAnswerInTime || code === grpcStatus.UNAVAILABLE || code === grpcStatus.DEADLINE_EXCEEDED;
}

export class TemporalCalls {
  private unreachable: { since: number; reason: string } | undefined;
  private probe: Promise<void> | undefined;
  private lastProbeAt = 0;

  constructor(
    private readonly client: Client,
    private readonly timeoutMs: number,
  ) {}

  /** True while the last call found Temporal unreachable and no probe has seen it back since. */
  isUnreachable(): boolean {
    if (this.unreachable) this.probeSoon();
    return this.unreachable !== undefined;
  }

  /**
   * Runs `call` within the deadline. A failure that means Temporal did not answer becomes a
   * DependencyUnavailableError naming `what` (and later calls are refused at once); any other failure
   * (not found, already started, bad argument) is the server's answer and is rethrown as it is.
   */
  async run<T>(what: string, call: () => Promise<T>): Promise<T> {
    if (this.isUnreachable())
      throw new DependencyUnavailableError(
        'temporal',
        `Temporal is unreachable (${this.unreachable!.reason}); could not ${what}`,
      );
    try {
      const answer = await this.bounded(call, this.timeoutMs);
      this.unreachable = undefined;
      return answer;
    } catch (error) {
      if (grpcCodeOf(error) === grpcStatus.RESOURCE_EXHAUSTED)
        throw new DependencyUnavailableError('temporal', `Temporal is overloaded; could not ${what}`, 2, {
          cause: error,
        });
      if (!isUnanswered(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      this.unreachable ??= { since: Date.now(), reason };
      throw new DependencyUnavailableError('temporal', `Temporal did not answer (${reason}); could not ${what}`, 2, {
        cause: error,
      });
    }
  }

  /**
   * `call` within `timeoutMs`. The gRPC deadline is what the server sees; the timer is what bounds the caller's
   * wait, because the client's retries of an unreachable server run past the deadline (3.1–3.5 s measured at
   * a 2 s deadline). A call still running when the timer fires settles unobserved.
   */
  async bounded<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NoAnswerInTime(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const answer = this.client.connection.withDeadline(Date.now() + timeoutMs, call);
    answer.catch(() => undefined);
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private probeSoon(): void {
    if (this.probe || Date.now() - this.lastProbeAt < PROBE_EVERY_MS) return;
    this.lastProbeAt = Date.now();
    this.probe = this.bounded(
      () => this.client.workflowService.describeNamespace({ namespace: this.client.options.namespace }),
      this.timeoutMs,
    )
      .then(
        () => (this.unreachable = undefined),
        () => undefined,
      )
      .finally(() => (this.probe = undefined));
  }
}
