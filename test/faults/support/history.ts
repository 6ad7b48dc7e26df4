// Reads a job's Temporal history for the attempts of one item's activity: which worker finally ran it,
// on which attempt, and why the attempt before it ended.

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
    const completed = events.some((e) => String(e.activityTaskCompletedEventAttributes?.startedEventId) === String(event.eventId));
    runs.push({
      activityType: scheduled?.activityType?.name ?? '',
      attempt: started.attempt ?? 0,
      identity: started.identity ?? '',
      lastTimeoutType: timeoutType === undefined || timeoutType === null ? undefined : temporal.api.enums.v1.TimeoutType[timeoutType],
      completed,
    });
  }
  return runs;
}
