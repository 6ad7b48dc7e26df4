// Listing jobs from the jobs table (new and imported legacy jobs alike), filtered the ways the jobs
// page and operators ask: owner, type, status, cycle, report, creation time. A list answers many jobs at
// once, so it carries what a list shows: no result and no large metadata unless asked for (`include`).

import { z } from 'zod';
import { sql, type Kysely } from 'kysely';
import { SEARCH_ATTRIBUTE_VALUE_MAX_BYTES } from '../common/search-attributes';
import type { Database } from '../db/database';
import { InvalidJobRequestError } from './errors';
import { parseOrReject, storableString } from './job-requests';
import { toLegacyStatus, type JobRow, type LegacyJobStatus } from './job-status';

/** Metadata up to this many bytes of JSON is listed whole; larger metadata is summarised (status has it all). */
export const LIST_METADATA_MAX_BYTES = 4_096;
/** What a summary keeps: short top-level scalars (cycle, report, ids), by key, at most this many. */
const SUMMARY_MAX_KEYS = 32;
const SUMMARY_MAX_KEY_BYTES = 64;
const SUMMARY_MAX_VALUE_BYTES = 256;
/** A list shows the start of a long error (a job with thousands of failed items lists them all); status has it all. */
export const LIST_ERROR_MAX_CHARS = 2_000;

const LIST_INCLUDES = ['result', 'metadata'] as const;

export const jobFilterSchema = z.object({
  owner: storableString.min(1).max(200).optional(),
  type: storableString.min(1).max(100).optional(),
  status: z.enum(['pending', 'running', 'paused', 'completed', 'failed', 'cancelled']).optional(),
  cycleId: storableString.min(1).max(SEARCH_ATTRIBUTE_VALUE_MAX_BYTES).optional(),
  reportId: storableString.min(1).max(SEARCH_ATTRIBUTE_VALUE_MAX_BYTES).optional(),
  createdAfter: z.coerce.date().optional(),
  createdBefore: z.coerce.date().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
  /** Where the page starts: the `next_cursor` of the page before (opaque; keyset on created_at desc, id). */
  cursor: z.string().min(1).max(400).optional(),
  /** `result` adds each job's result, `metadata` its whole metadata; comma-separated in a query string. */
  include: z
    .union([
      z.string().transform((text) =>
        text
          .split(',')
          .map((part) => part.trim())
          .filter(Boolean),
      ),
      z.array(z.string()),
    ])
    .pipe(z.array(z.enum(LIST_INCLUDES)))
    .default([]),
});

export type JobFilter = z.input<typeof jobFilterSchema>;

/** The HTTP list query: the filter without `offset` (pages follow `cursor`), and strict: an unknown key is refused. */
export const jobListQuerySchema = jobFilterSchema.omit({ offset: true }).strict();

/** One page of a list: its jobs, and the cursor of the next page while more remain (null on the last page). */
export interface JobListPage {
  jobs: JobListEntry[];
  nextCursor: string | null;
}

/** Who may see which jobs: every job (admin), or the subject's own and, for a service, the ones it started. */
export type ListVisibility = { all: true } | { all: false; subject: string; startedBy: boolean };

/**
 * A cursor is the last listed job's created_at as PostgreSQL's own text in UTC with microseconds (a JS Date keeps
 * milliseconds, and jobs created in the same millisecond would be skipped or repeated) and its id, as base64url JSON.
 */
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/;

function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

function decodeCursor(cursor: string): { at: string; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof at === 'string' && CURSOR_TIME.test(at) && typeof id === 'string' && id.length <= 200) return { at, id };
  } catch {
    // Reported below, as any other cursor this API did not give.
  }
  throw new InvalidJobRequestError('cursor', 'is not a cursor this API gave (use next_cursor of the page before)');
}

/** A job as lists show it: the status JSON, `result` only when asked for, and a note when metadata was summarised. */
export type JobListEntry = Omit<LegacyJobStatus, 'result'> & {
  result?: unknown;
  /**
   * Present when the metadata was too large to list: it holds only its short top-level entries; `bytes` is its full
   * size.
   */
  metadata_summary?: { bytes: number };
};

/** A listed row: the job's columns, its metadata (maybe summarised) and that metadata's full size. */
type ListedRow = Omit<JobRow, 'metadata' | 'result' | 'input'> & {
  metadata: Record<string, unknown>;
  metadata_bytes: number;
  result?: unknown;
  cursor_at: string;
};

export async function listJobs(db: Kysely<Database>, filter: JobFilter): Promise<JobListEntry[]> {
  return (await listJobPage(db, filter, { all: true })).jobs;
}

/**
 * One page of jobs matching `filter` that `visible` may see, newest first. With `cursor` (or without `offset`), pages
 * are keyset pages: one row more than `limit` is read to learn whether another page follows.
 */
export async function listJobPage(
  db: Kysely<Database>,
  filter: JobFilter,
  visible: ListVisibility,
): Promise<JobListPage> {
  const f = parseOrReject(jobFilterSchema, filter, 'filter');
  const after = f.cursor === undefined ? undefined : decodeCursor(f.cursor);
  const [withResult, wholeMetadata] = [f.include.includes('result'), f.include.includes('metadata')];
  let page = db
    .selectFrom('jobs')
    .select([
      'id',
      'type',
      'owner',
      'status',
      'workflow_id',
      'progress',
      'error',
      'metadata',
      'created_at',
      'started_at',
      'completed_at',
      'updated_at',
      'priority',
      'idempotency_key',
      'source',
      'task_queue',
      'requested_action',
      'requested_at',
      'started_via',
    ])
    .$if(withResult, (query) => query.select('result'));
  if (!visible.all) {
    const { subject, startedBy } = visible;
    page = startedBy
      ? page.where((eb) => eb.or([eb('owner', '=', subject), eb('started_by', '=', subject)]))
      : page.where('owner', '=', subject);
  }
  if (f.owner) page = page.where('owner', '=', f.owner);
  if (f.type) page = page.where('type', '=', f.type);
  if (f.status) page = page.where('status', '=', f.status);
  if (f.cycleId) page = page.where(sql<string>`metadata->>'cycle_id'`, '=', f.cycleId);
  if (f.reportId) page = page.where(sql<string>`metadata->>'report_id'`, '=', f.reportId);
  if (f.createdAfter) page = page.where('created_at', '>=', f.createdAfter);
  if (f.createdBefore) page = page.where('created_at', '<', f.createdBefore);
  if (after)
    page = page.where(
      (eb) =>
        sql<boolean>`(${eb.ref('created_at')} < ${after.at}::timestamp at time zone 'UTC' or (${eb.ref('created_at')} = ${after.at}::timestamp at time zone 'UTC' and ${eb.ref('id')} > ${after.id}))`,
    );
  page = page
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(f.limit + 1)
    .offset(after ? 0 : f.offset);

  // Cut in the database, so a list of jobs with megabytes of metadata or results never reaches the API's memory.
  // Only the page's rows are measured (the page is limited first), each once (`offset 0` keeps PostgreSQL from
  // inlining the measure into every use): rendering a large jsonb as text is most of what such a list costs.
  const summary = sql`(select coalesce(jsonb_object_agg(key, value), '{}'::jsonb) from (
      select key, value from jsonb_each(j.metadata)
      where jsonb_typeof(value) not in ('object', 'array') and octet_length(key) <= ${sql.lit(SUMMARY_MAX_KEY_BYTES)} and octet_length(value::text) <= ${sql.lit(SUMMARY_MAX_VALUE_BYTES)}
      order by key limit ${sql.lit(SUMMARY_MAX_KEYS)}) kept)`;
  const metadata = wholeMetadata
    ? sql`j.metadata`
    : sql`case when size.metadata_bytes <= ${sql.lit(LIST_METADATA_MAX_BYTES)} then j.metadata else ${summary} end`;
  const { rows } = await sql<ListedRow>`
    select j.id, j.type, j.owner, j.status, j.workflow_id, j.progress, j.created_at, j.started_at, j.completed_at, j.updated_at, j.priority, j.idempotency_key, j.source, j.task_queue, j.requested_action, j.requested_at, j.started_via,
      case when char_length(j.error) > ${sql.lit(LIST_ERROR_MAX_CHARS)} then left(j.error, ${sql.lit(LIST_ERROR_MAX_CHARS)}) || '…' else j.error end as error,
      ${metadata} as metadata, size.metadata_bytes${withResult ? sql`, j.result` : sql``},
      to_char(j.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') as cursor_at
    from (${page}) as j cross join lateral (select octet_length(j.metadata::text) as metadata_bytes offset 0) as size
    order by j.created_at desc, j.id`.execute(db);
  const more = rows.length > f.limit;
  const listed = more ? rows.slice(0, f.limit) : rows;
  const last = listed[listed.length - 1];
  const jobs = listed.map(({ metadata_bytes: bytes, result, cursor_at: _cursor, ...row }) => {
    const { result: _none, ...status } = toLegacyStatus(
      { ...row, result: null },
      row.progress ?? undefined,
      'snapshot',
    );
    const summarised = !wholeMetadata && bytes > LIST_METADATA_MAX_BYTES;
    return { ...status, ...(withResult ? { result } : {}), ...(summarised ? { metadata_summary: { bytes } } : {}) };
  });
  return { jobs, nextCursor: more && last ? encodeCursor(last.cursor_at, last.id) : null };
}
