// Reads a job's Temporal history for the attempts of one item's activity: which worker finally ran it,
// on which attempt, and why the attempt before it ended; and, per item, how many attempts its LLM activity had.

import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export interface ActivityRun {
  activityType: string;
  attempt: number;
  identity: string;
  /** e.g. 'TIMEOUT_TYPE_HEARTBEAT' when the previous attempt stopped heartbeating. */
  lastTimeoutType?: string;
  completed: boolean;
}

const decoder = new TextDecoder();

/** Every activity scheduled for `item` (matched in its JSON input), with its started event's facts. */
export async function activityRunsFor(client: Client, workflowId: string, item: string): Promise<ActivityRun[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const byId = new Map(events.map((e) => [String(e.eventId), e]));
  const runs: ActivityRun[] = [];
  for (const event of events) {
    const started = event.activityTaskStartedEventAttributes;
    if (!started) continue;
    const scheduled = byId.get(String(started.scheduledEventId))?.activityTaskScheduledEventAttributes;
    const input = (scheduled?.input?.payloads ?? []).map((p) => decoder.decode(p.data ?? new Uint8Array())).join('');
    if (!input.includes(`"${item}"`)) continue;
    const timeoutType = started.lastFailure?.timeoutFailureInfo?.timeoutType;
    const completed = events.some(
      (e) => String(e.activityTaskCompletedEventAttributes?.startedEventId) === String(event.eventId),
    );
    runs.push({
      activityType: scheduled?.activityType?.name ?? '',
      attempt: started.attempt ?? 0,
      identity: started.identity ?? '',
      lastTimeoutType:
        timeoutType === undefined || timeoutType === null ? undefined : temporal.api.enums.v1.TimeoutType[timeoutType],
      completed,
    });
  }
  return runs;
}

/** How often one item's LLM activity ran, from the history of every run of a job. */
export interface ItemExecutions {
  /**
   * Attempts started, over every activity scheduled for the item (a retried activity's started event carries its last
   * attempt number).
   */
  attempts: number;
  /** Activities of the item that completed. */
  completed: number;
}

/**
 * Every `generateValidationRules` activity of a profiling job, per item key (`dataSourceId.attribute`), across
 * continued runs.
 */
export async function llmExecutionsByItem(client: Client, jobId: string): Promise<Map<string, ItemExecutions>> {
  const byItem = new Map<string, ItemExecutions>();
  let runId: string | undefined = (await client.workflow.getHandle(jobId).describe()).runId;
  while (runId) {
    const events: temporal.api.history.v1.IHistoryEvent[] =
      (await client.workflow.getHandle(jobId, runId).fetchHistory()).events ?? [];
    const itemOf = new Map<string, string>();
    for (const event of events) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled && scheduled.activityType?.name === 'generateValidationRules') {
        const input = JSON.parse(decoder.decode(scheduled.input?.payloads?.[0]?.data ?? new Uint8Array())) as {
          dataSourceId: string;
          attribute: { name: string };
        };
        const item = `${input.dataSourceId}.${input.attribute.name}`;
        itemOf.set(String(event.eventId), item);
        if (!byItem.has(item)) byItem.set(item, { attempts: 0, completed: 0 });
      }
      const started = event.activityTaskStartedEventAttributes;
      const startedItem = started && itemOf.get(String(started.scheduledEventId));
      if (startedItem) byItem.get(startedItem)!.attempts += started.attempt ?? 1;
      const completedItem = itemOf.get(String(event.activityTaskCompletedEventAttributes?.scheduledEventId));
      if (event.activityTaskCompletedEventAttributes && completedItem) byItem.get(completedItem)!.completed++;
    }
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return byItem;
}
