// Reads a job's workflow histories, every run of its workflow id (a long job continues as new): events
// and encoded bytes per run, and the scheduled → started → completed times of every activity.

import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

export interface RunHistory {
  runId: string;
  events: number;
  bytes: number;
  history: History;
}

export interface ActivitySpan {
  activityType: string;
  scheduledMs: number;
  startedMs: number;
  completedMs: number;
}

export async function runHistories(client: Client, workflowId: string): Promise<RunHistory[]> {
  const runs: RunHistory[] = [];
  for await (const execution of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) {
    const history = await client.workflow.getHandle(workflowId, execution.runId).fetchHistory();
    const bytes = temporal.api.history.v1.History.encode(history).finish().length;
    runs.push({ runId: execution.runId, events: history.events?.length ?? 0, bytes, history });
  }
  return runs;
}

const timeMs = (event: temporal.api.history.v1.IHistoryEvent) =>
  Number(event.eventTime?.seconds ?? 0) * 1_000 + Math.floor((event.eventTime?.nanos ?? 0) / 1e6);

/** When a run started (its first event), ms since the epoch. */
export function firstEventMs(run: RunHistory): number {
  const first = run.history.events?.[0];
  return first ? timeMs(first) : Number.POSITIVE_INFINITY;
}

/** Completed activities of one history with their three times (ms since the epoch). */
export function activitySpans(history: History): ActivitySpan[] {
  const scheduled = new Map<string, { type: string; at: number }>();
  const started = new Map<string, number>();
  const spans: ActivitySpan[] = [];
  for (const event of history.events ?? []) {
    const id = String(event.eventId);
    if (event.activityTaskScheduledEventAttributes)
      scheduled.set(id, {
        type: event.activityTaskScheduledEventAttributes.activityType?.name ?? '?',
        at: timeMs(event),
      });
    if (event.activityTaskStartedEventAttributes)
      started.set(String(event.activityTaskStartedEventAttributes.scheduledEventId), timeMs(event));
    const done = event.activityTaskCompletedEventAttributes;
    if (done) {
      const from = scheduled.get(String(done.scheduledEventId));
      if (from)
        spans.push({
          activityType: from.type,
          scheduledMs: from.at,
          startedMs: started.get(String(done.scheduledEventId)) ?? from.at,
          completedMs: timeMs(event),
        });
    }
  }
  return spans;
}
