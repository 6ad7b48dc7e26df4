// One record of the legacy jobs_storage.json, validated strictly: what the Python BackgroundJobManager
// wrote, field for field, and every way a record can be damaged turned into a reason naming the field.

import { z } from 'zod';
import { findUnstorableText } from '../storable-text';

/** The ten job types the legacy manager ran (legacy analysis, "Job Types"). */
export const LEGACY_JOB_TYPES = [
  'data_profiling_llm_generation',
  'data_profiling_rule_execution',
  'data_profiling',
  'pde_auto_mapping',
  'pde_regeneration',
  'llm_attribute_generation',
  'scoping_recommendations',
  'generate_scoping_recommendations',
  'intelligent_sampling',
  'test_execution',
] as const;

export const LEGACY_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export type LegacyStatus = (typeof LEGACY_STATUSES)[number];

/**
 * `2025-01-10T15:07:50.595068Z`; the offset is optional and a space may stand for the `T` (Python's `str(datetime)`).
 */
const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))?$/;

/**
 * The instant an ISO-8601 timestamp names, or null when it is malformed or names no real date or time
 * (February 30th, 25:61). `Date.parse` is no help here: it rolls impossible dates over instead of failing.
 * A timestamp without offset is read as UTC, as the legacy manager wrote them, so the import means the same
 * on every machine. JavaScript dates hold milliseconds; microseconds are dropped, as every reader of the
 * jobs table (pg returns `Date`) would drop them anyway.
 */
export function parseIsoTimestamp(text: string): Date | null {
  const match = ISO_TIMESTAMP.exec(text);
  if (!match) return null;
  const field = (group: number) => Number(match[group] ?? 0);
  const [year, month, day, hour, minute, second] = [field(1), field(2), field(3), field(4), field(5), field(6)];
  const millis = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
  const [sign, offsetHours, offsetMinutes] = [match[9], field(10), field(11)];
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return null;
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const calendar = new Date(utc);
  // Date.UTC accepts day 30 of February and answers March 2nd: a real date comes back unchanged.
  if (calendar.getUTCFullYear() !== year || calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day)
    return null;
  const offsetMs = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  return new Date(utc - offsetMs);
}

/** A value as a reason shows it: short, and with its JSON type visible (`"half"` versus `17`). */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

const timestamp = z.string().transform((text, ctx) => {
  const instant = parseIsoTimestamp(text);
  if (instant) return instant;
  ctx.issues.push({
    code: 'custom',
    input: text,
    message: `must be an ISO-8601 timestamp of a real date and time, got ${describeValue(text)}`,
  });
  return z.NEVER;
});

const stepCount = z.number().int().min(0);
const optionalText = z.string().nullish();

/**
 * The legacy `user_id`: an integer in the legacy database, a string if a caller stored it that way.
 * Null means nobody was recorded, like a missing one.
 */
const legacyUserId = z.union([z.number().int(), z.string().trim().min(1)]).nullish();

const legacyMetadata = z.looseObject({ user_id: legacyUserId });

// The whole structure the legacy manager wrote (legacy analysis, "Job Metadata Structure"). The object is
// strict: a field it never wrote means the file is not what we think it is, and dropping it would lose data.
const legacyRecordSchema = z
  .strictObject({
    job_id: z.uuid(),
    job_type: z.enum(LEGACY_JOB_TYPES),
    // The legacy analysis names the states as the Python enum's members (PENDING, RUNNING, …) while the file
    // holds their lowercase values; a record written with the member name means the same state.
    status: z
      .string()
      .transform((status) => status.toLowerCase())
      .pipe(z.enum(LEGACY_STATUSES)),
    progress_percentage: z.number().min(0).max(100).optional(),
    current_step: optionalText,
    total_steps: stepCount.nullish(),
    completed_steps: stepCount.nullish(),
    message: optionalText,
    result: z.record(z.string(), z.unknown()).nullish(),
    error: optionalText,
    // The one time the manager always wrote (at creation); without it a job has no place in the newest-first lists.
    created_at: timestamp,
    started_at: timestamp.nullish(),
    completed_at: timestamp.nullish(),
    metadata: legacyMetadata.optional(),
  })
  .superRefine(
    (record, ctx) => {
      // Runs even when another field failed (see `when`), so a reason lists every problem: hence the
      // record is only known to be an object here, and the counts are checked for type first.
      const { completed_steps: completed, total_steps: total } = record as Record<string, unknown>;
      if (typeof completed === 'number' && typeof total === 'number' && completed > total) {
        ctx.addIssue({
          code: 'custom',
          path: ['completed_steps'],
          message: `${completed} is more than total_steps ${total}`,
          input: completed,
        });
      }
    },
    { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
  )
  .superRefine((record, ctx) => {
    const problem = (path: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message, input: record });
    // Time only runs forwards: a job starts after it is created and finishes after both.
    const { created_at: created, started_at: started, completed_at: completed } = record;
    if (started && started < created)
      problem('started_at', `${started.toISOString()} is before created_at ${created.toISOString()}`);
    if (completed && completed < created)
      problem('completed_at', `${completed.toISOString()} is before created_at ${created.toISOString()}`);
    if (completed && started && completed < started)
      problem('completed_at', `${completed.toISOString()} is before started_at ${started.toISOString()}`);
  });

export type LegacyRecord = z.output<typeof legacyRecordSchema>;

const EXPECTED: Record<string, string> = {
  object: 'an object',
  record: 'an object',
  int: 'an integer',
  number: 'a number',
  string: 'a string',
};

/** Zod's issues in words, each with the value found, for every issue whose schema gave no message of its own. */
function legacyIssueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  const found = describeValue(issue.input);
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? 'is missing'
        : `must be ${EXPECTED[issue.expected] ?? `a ${issue.expected}`}, got ${found}`;
    case 'invalid_value':
      return `must be one of ${issue.values.join(', ')}; got ${found}`;
    case 'invalid_format':
      return `must be a ${issue.format === 'uuid' ? 'UUID' : issue.format}, got ${found}`;
    case 'too_small':
      return issue.origin === 'string' ? 'must not be blank' : `must be at least ${issue.minimum}, got ${found}`;
    case 'too_big':
      return `must be at most ${issue.maximum}, got ${found}`;
    case 'unrecognized_keys':
      return `has fields the legacy job manager never wrote: ${issue.keys.join(', ')}`;
    case 'invalid_union':
      return `must be an integer or a non-empty string, got ${found}`;
    default:
      return undefined;
  }
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((issue) => `${issue.path.length ? issue.path.join('.') : 'record'}: ${issue.message}`).join('; ');
}

export type LegacyRecordCheck = { valid: true; record: LegacyRecord } | { valid: false; reason: string };

/** Validates the record stored under `key`; the reason lists every damaged field. */
export function checkLegacyRecord(key: string, value: unknown): LegacyRecordCheck {
  const parsed = legacyRecordSchema.safeParse(value, { error: legacyIssueMessage });
  const reasons = parsed.success ? [] : [formatIssues(parsed.error.issues)];
  const jobId = (value as { job_id?: unknown } | null)?.job_id;
  // The key is how the legacy manager looked a job up: a record filed under another id is not that job.
  if (typeof jobId === 'string' && jobId !== key)
    reasons.push(`job_id: ${describeValue(jobId)} differs from the key it is stored under, ${describeValue(key)}`);
  // Text PostgreSQL cannot store would abort the whole import's transaction: the record is refused by itself.
  const unstorable = findUnstorableText(value, 'record');
  if (unstorable) reasons.push(`${unstorable.field}: ${unstorable.problem}`);
  if (!parsed.success || reasons.length > 0) return { valid: false, reason: reasons.join('; ') };
  return { valid: true, record: parsed.data };
}
