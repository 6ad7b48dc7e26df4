// A job's Temporal history read as facts a control test asserts on, in the server's order, across every run of
// a continued job: activities scheduled (with priority and fairness key) and how each ended, control signals and
// accepted control updates, cancel requests and run hand-overs. Order and counts from here replace guesses about how long things take.

import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export type FactKind =
  | 'run-started'
  | 'signal'
  | 'update'
  | 'cancel-requested'
  | 'scheduled'
  | 'activity-cancel-requested'
  | 'completed'
  | 'failed'
  | 'timed-out'
  | 'canceled'
  | 'continued-as-new';

export interface HistoryFact {
  /** 0 for the first run of the workflow id, 1 for the run it continued as, and so on. */
  run: number;
  eventId: number;
  /** ms since the epoch on the Temporal server's clock. */
  at: number;
  kind: FactKind;
  /** Activity facts: the activity type. */
  activity?: string;
  /** Activity facts: the id of the `scheduled` event they belong to (per run). */
  scheduledEventId?: number;
  /** `signal`, `update` (accepted: a rejected one leaves no event): its name (pause, resume, setPriority). */
  signal?: string;
  /** `scheduled`: the task's priority as the server recorded it. */
  priority?: { priorityKey: number | null; fairnessKey: string | null };
  /** `run-started`: the run's input; `signal`, `update`: its argument; `scheduled`: the activity's input. */
  input?: unknown;
}

/** Every run of `jobId`, oldest first, found by walking back from the current run (no visibility lag). */
export async function jobHistory(client: Client, jobId: string): Promise<HistoryFact[]> {
  const runs: HistoryEvent[][] = [];
  let runId: string | undefined = (await client.workflow.getHandle(jobId).describe()).runId;
  while (runId) {
    const events: HistoryEvent[] = (await client.workflow.getHandle(jobId, runId).fetchHistory()).events ?? [];
    runs.unshift(events);
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return runs.flatMap((events, run) => factsOf(events, run));
}

function factsOf(events: HistoryEvent[], run: number): HistoryFact[] {
  const activityOf = new Map<number, string>();
  const facts: HistoryFact[] = [];
  for (const event of events) {
    const base = { run, eventId: Number(event.eventId), at: timeMs(event) };
    const activityFact = (kind: FactKind, scheduledEventId: unknown) => {
      const id = Number(scheduledEventId);
      facts.push({ ...base, kind, activity: activityOf.get(id), scheduledEventId: id });
    };
    if (event.workflowExecutionStartedEventAttributes)
      facts.push({
        ...base,
        kind: 'run-started',
        input: decode(event.workflowExecutionStartedEventAttributes.input?.payloads),
      });
    else if (event.workflowExecutionSignaledEventAttributes) {
      const signal = event.workflowExecutionSignaledEventAttributes;
      facts.push({ ...base, kind: 'signal', signal: signal.signalName ?? '', input: decode(signal.input?.payloads) });
    } else if (event.workflowExecutionUpdateAcceptedEventAttributes) {
      const request = event.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest?.input;
      facts.push({ ...base, kind: 'update', signal: request?.name ?? '', input: decode(request?.args?.payloads) });
    } else if (event.workflowExecutionCancelRequestedEventAttributes) facts.push({ ...base, kind: 'cancel-requested' });
    else if (event.activityTaskScheduledEventAttributes) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      activityOf.set(base.eventId, scheduled.activityType?.name ?? '');
      facts.push({
        ...base,
        kind: 'scheduled',
        activity: scheduled.activityType?.name ?? '',
        scheduledEventId: base.eventId,
        priority: {
          priorityKey: scheduled.priority?.priorityKey ?? null,
          fairnessKey: scheduled.priority?.fairnessKey ?? null,
        },
        input: decode(scheduled.input?.payloads),
      });
    } else if (event.activityTaskCancelRequestedEventAttributes)
      activityFact('activity-cancel-requested', event.activityTaskCancelRequestedEventAttributes.scheduledEventId);
    else if (event.activityTaskCompletedEventAttributes)
      activityFact('completed', event.activityTaskCompletedEventAttributes.scheduledEventId);
    else if (event.activityTaskFailedEventAttributes)
      activityFact('failed', event.activityTaskFailedEventAttributes.scheduledEventId);
    else if (event.activityTaskTimedOutEventAttributes)
      activityFact('timed-out', event.activityTaskTimedOutEventAttributes.scheduledEventId);
    else if (event.activityTaskCanceledEventAttributes)
      activityFact('canceled', event.activityTaskCanceledEventAttributes.scheduledEventId);
    else if (event.workflowExecutionContinuedAsNewEventAttributes) facts.push({ ...base, kind: 'continued-as-new' });
  }
  return facts;
}

/** Matches the control request `name` as it reached the workflow: a signal, or an update it accepted. */
export const isControl = (name: string) => (fact: HistoryFact) =>
  (fact.kind === 'signal' || fact.kind === 'update') && fact.signal === name;

/** The facts after the first one `from` matches; throws (listing the facts) when none does. */
export function factsAfter(facts: HistoryFact[], from: (fact: HistoryFact) => boolean): HistoryFact[] {
  const index = facts.findIndex(from);
  if (index < 0) throw new Error(`no history fact matched ${from.toString()}; facts: ${describeFacts(facts)}`);
  return facts.slice(index + 1);
}

/** How many facts of each kind there are for `activity` (e.g. { scheduled: 6, completed: 6 }). */
export function activityCounts(facts: HistoryFact[], activity: string): Partial<Record<FactKind, number>> {
  const counts: Partial<Record<FactKind, number>> = {};
  for (const fact of facts) if (fact.activity === activity) counts[fact.kind] = (counts[fact.kind] ?? 0) + 1;
  return counts;
}

/** A compact line per fact, for failure messages. */
export function describeFacts(facts: HistoryFact[]): string {
  return facts
    .map((f) => `${f.run}:${f.eventId} ${f.kind}${f.activity ? ` ${f.activity}` : ''}${f.signal ? ` ${f.signal}` : ''}`)
    .join(', ');
}

/** An event's time, ms since the epoch. */
export const timeMs = (event: HistoryEvent) =>
  Number(event.eventTime?.seconds ?? 0) * 1_000 + Math.floor((event.eventTime?.nanos ?? 0) / 1e6);

function decode(payloads: temporal.api.common.v1.IPayload[] | null | undefined): unknown {
  const values = (payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p));
  return values.length <= 1 ? values[0] : values;
}
