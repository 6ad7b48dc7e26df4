// The custom search attributes every job carries, so operators can filter jobs in the Web UI and
// `temporal workflow list --query`. temporal-dev.sh registers the same names.

import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

export const JobTypeKey = defineSearchAttributeKey('JobType', SearchAttributeType.KEYWORD);
export const JobOwnerKey = defineSearchAttributeKey('JobOwner', SearchAttributeType.KEYWORD);
export const CycleIdKey = defineSearchAttributeKey('CycleId', SearchAttributeType.KEYWORD);
export const ReportIdKey = defineSearchAttributeKey('ReportId', SearchAttributeType.KEYWORD);
export const JobStatusKey = defineSearchAttributeKey('JobStatus', SearchAttributeType.KEYWORD);

/** 1 (highest) to 5 (lowest), as Temporal's priority keys; set by the job-control work. */
export const JobPriorityKey = defineSearchAttributeKey('JobPriority', SearchAttributeType.INT);

export const ALL_SEARCH_ATTRIBUTES = [JobTypeKey, JobOwnerKey, CycleIdKey, ReportIdKey, JobStatusKey, JobPriorityKey];

/**
 * A job's identity as search attributes: type, owner, priority, and the metadata's `cycle_id` / `report_id` when
 * given (as text). Set at the start by JobsClient, and by the workflow once it has admitted a direct start.
 */
export function jobSearchAttributes(job: {
  jobType: string;
  owner: string;
  priority: number;
  metadata: Record<string, unknown>;
}): SearchAttributePair[] {
  const text = (value: unknown) =>
    typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
  const cycle = text(job.metadata.cycle_id);
  const report = text(job.metadata.report_id);
  return [
    { key: JobTypeKey, value: job.jobType },
    { key: JobOwnerKey, value: job.owner },
    { key: JobPriorityKey, value: job.priority },
    ...(cycle === undefined ? [] : [{ key: CycleIdKey, value: cycle }]),
    ...(report === undefined ? [] : [{ key: ReportIdKey, value: report }]),
  ];
}

/**
 * Temporal's default limit on one search attribute value (`limit.searchAttributeSizeBytes`, 2 KB of its
 * JSON-encoded payload); a start carrying a larger one fails at the server. Requests are held to it first.
 */
export const SEARCH_ATTRIBUTE_VALUE_MAX_BYTES = 2_048;
