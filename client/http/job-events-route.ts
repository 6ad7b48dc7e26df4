// GET /api/v1/jobs/{id}/events: a job's status pushed as Server-Sent Events as it changes. The first event is the
// current status (the status endpoint's body), then one per change, `final` when the job has ended, and the stream
// closes. Fed by this process's JobEvents (PostgreSQL LISTEN/NOTIFY, activities/jobs/job-events.ts); heartbeat comments keep
// proxies from dropping a quiet stream; every event's `id:` is the job's progress revision, so a reconnect with
// Last-Event-ID never goes backwards.

import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { FINAL_STATUSES, type JobStatus } from '../../common/jobs';
import type { JobEvents } from '../../activities/jobs/job-events';
import type { LegacyJobStatus } from '../job-status';
import type { JobsClient, Principal } from '../jobs-client';
import * as s from './api-schemas';

/**
 * What a client that stops reading may leave unread before its stream is ended: hundreds of status events, far more
 * than a reader that keeps up ever has waiting; past it the client is too slow and reconnects from its Last-Event-ID.
 */
const MAX_UNREAD_BYTES = 1_000_000;
/** What an EventSource waits before reconnecting after a dropped stream (the SSE `retry:` field). */
const RECONNECT_AFTER_MS = 2_000;

export interface JobEventsRouteDeps {
  jobs: JobsClient;
  events: JobEvents<LegacyJobStatus>;
  /** JOB_EVENTS_HEARTBEAT_MS: a comment line this often keeps idle connections open through proxies. */
  heartbeatMs: number;
  who: (request: FastifyRequest) => Principal;
  read: <T>(ask: () => Promise<T>) => Promise<T>;
  /** The problem answers the route documents (server.ts's errorResponses). */
  errors: Record<number, unknown>;
  security: { bearerAuth: never[] }[];
  /** Every open stream's end, so that closing the server ends them first. */
  open: Set<() => void>;
}

/**
 * Each status answer as JSON, made once: the feed hands one answer object to every stream of the job (hundreds of
 * them), and serialising it once per stream was most of the cost of a notification.
 */
const serialised = new WeakMap<LegacyJobStatus, string>();
function jsonOf(status: LegacyJobStatus): string {
  let text = serialised.get(status);
  if (text === undefined) serialised.set(status, (text = JSON.stringify(status)));
  return text;
}

const isFinal = (status: LegacyJobStatus) => FINAL_STATUSES.includes(status.status as JobStatus);

/**
 * What makes two answers of the same revision different events: a status or a pending request changed without a
 * progress change (the reconciler's ending, a control signal no worker applied yet); without revisions (workers that
 * predate them), the progress itself.
 */
const changeKey = (status: LegacyJobStatus) =>
  [
    status.status,
    status.requested_action,
    ...(status.progress_revision === null
      ? [status.completed_steps, status.failed_steps, status.progress_percentage, status.current_step, status.message]
      : []),
  ].join('|');

/** One open stream: sends only what is newer than what the client has, ends on the final state. */
class EventStream {
  private lastRevision: number;
  private lastKey: string | undefined;
  private ended = false;

  constructor(
    readonly body: PassThrough,
    after: number | undefined,
  ) {
    this.lastRevision = after ?? -1;
    body.write(`retry: ${RECONNECT_AFTER_MS}\n\n`);
  }

  /** Sends `status` if the client has not seen it or anything newer; the final state ends the stream. */
  offer(status: LegacyJobStatus | undefined): void {
    if (this.ended) return;
    if (status === undefined) return this.end(); // the job is gone (deleted): nothing more will come
    const revision = status.progress_revision ?? -1;
    // Never backwards, not even to say that it ended (a newer event has said so).
    if (revision < this.lastRevision) return;
    const key = changeKey(status);
    // The first event is always the current status; after it, only what changed.
    if (this.lastKey !== undefined && revision === this.lastRevision && key === this.lastKey) return;
    this.lastRevision = revision;
    this.lastKey = key;
    const id = status.progress_revision === null ? '' : `id: ${status.progress_revision}\n`;
    this.write(`event: ${isFinal(status) ? 'final' : 'status'}\n${id}data: ${jsonOf(status)}\n\n`);
    if (isFinal(status)) this.end();
  }

  heartbeat(): void {
    if (!this.ended) this.write(': heartbeat\n\n');
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.body.end();
  }

  private write(text: string): void {
    if (this.body.writableLength > MAX_UNREAD_BYTES) return this.end();
    this.body.write(text);
  }
}

export function registerJobEventsRoute(api: FastifyInstance, deps: JobEventsRouteDeps): void {
  const route = api.withTypeProvider<ZodTypeProvider>();
  const { jobs, events, who, read } = deps;
  route.get(
    '/api/v1/jobs/:id/events',
    {
      schema: {
        summary: 'A job’s status, pushed as it changes (Server-Sent Events)',
        description:
          'text/event-stream: `status` events (the status body; the first is the current status), `final` when the ' +
          'job has ended (then the stream closes), a `: heartbeat` comment every JOB_EVENTS_HEARTBEAT_MS. Each ' +
          'event’s `id` is the job’s progress revision: reconnect with Last-Event-ID and nothing older is sent again. ' +
          'Read it with fetch (a bearer header) rather than EventSource, which cannot send one. See docs/http-api.md.',
        operationId: 'jobEvents',
        tags: ['jobs'],
        security: deps.security,
        params: s.jobParams,
        headers: s.eventsHeaders,
        response: {
          200: {
            description: 'The event stream',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          ...deps.errors,
        },
      },
    },
    async (request, reply) => {
      const principal = who(request);
      const jobId = request.params.id;
      // Someone else's job, or none: 404 before anything is opened.
      await read(() => jobs.getJob(principal, jobId));
      const given = request.headers['last-event-id'];
      const stream = new EventStream(new PassThrough(), typeof given === 'string' ? Number(given) : undefined);
      // Subscribed before the first read, so a change between the two is not missed (the revision orders them).
      const unsubscribe = await events.subscribe(jobId, (status) => stream.offer(status));
      const heartbeat = setInterval(() => stream.heartbeat(), deps.heartbeatMs);
      const end = () => stream.end();
      deps.open.add(end);
      stream.body.once('close', () => {
        clearInterval(heartbeat);
        unsubscribe();
        deps.open.delete(end);
      });
      try {
        stream.offer(await read(() => jobs.status(principal, jobId)));
      } catch (error) {
        stream.body.destroy();
        throw error;
      }
      return (
        reply
          .headers({
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-store',
            // nginx and similar proxies buffer responses by default, which would hold every event back.
            'x-accel-buffering': 'no',
          })
          // The stream is the body (the 200 schema above documents it as text, which it is, piece by piece).
          .send(stream.body as unknown as string)
      );
    },
  );
}
