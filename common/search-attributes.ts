// The custom search attributes every job carries, so operators can filter jobs in the Web UI and
// `temporal workflow list --query`. temporal-dev.sh registers the same names.

import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const JobTypeKey = defineSearchAttributeKey('JobType', SearchAttributeType.KEYWORD);
export const JobOwnerKey = defineSearchAttributeKey('JobOwner', SearchAttributeType.KEYWORD);
export const CycleIdKey = defineSearchAttributeKey('CycleId', SearchAttributeType.KEYWORD);
export const ReportIdKey = defineSearchAttributeKey('ReportId', SearchAttributeType.KEYWORD);
export const JobStatusKey = defineSearchAttributeKey('JobStatus', SearchAttributeType.KEYWORD);

/** 1 (highest) to 5 (lowest), as Temporal's priority keys; set by the job-control work. */
export const JobPriorityKey = defineSearchAttributeKey('JobPriority', SearchAttributeType.INT);

export const ALL_SEARCH_ATTRIBUTES = [JobTypeKey, JobOwnerKey, CycleIdKey, ReportIdKey, JobStatusKey, JobPriorityKey];

/**
 * Temporal's default limit on one search attribute value (`limit.searchAttributeSizeBytes`, 2 KB of its
 * JSON-encoded payload); a start carrying a larger one fails at the server. Requests are held to it first.
 */
export const SEARCH_ATTRIBUTE_VALUE_MAX_BYTES = 2_048;
