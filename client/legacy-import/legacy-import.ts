// Imports the legacy jobs_storage.json into the jobs table, once and safely: every valid record becomes
// a `legacy` job row, damaged ones are reported with a reason, and jobs the legacy process left running
// are stored as failed and can be started again as new durable jobs.

import { readFile } from 'node:fs/promises';
import type { Insertable, Kysely } from 'kysely';
import { JobType, PRIORITY_BY_NAME, type JobStatus } from '../../common/jobs';
import type { JobProgress } from '../../common/progress';
import type { JobsTable } from '../../activities/jobs/jobs-tables';
import type { Database } from '../../db/database';
import type { ProfilingStartRequest } from '../profiling/profiling-definition';
import { checkLegacyRecord, type LegacyRecord, type LegacyStatus } from './legacy-record';
import { unstorableTextProblem } from '../storable-text';

export interface LegacyImportReport {
  file: string;
  /** Entries in the file. */
  records: number;
  /** Job ids newly written to the jobs table. */
  imported: string[];
  /** Valid records whose job id is already in the table (an earlier run imported them). */
  alreadyPresent: string[];
  /** Damaged records, each with a reason naming the field. */
  rejected: { key: string; reason: string }[];
  /** Valid records that were `running` or `pending` when the legacy process stopped (their original status). */
  interrupted: {
    jobId: string;
    jobType: string;
    owner: string;
    status: string;
    completedSteps: number | null;
    totalSteps: number | null;
  }[];
}

/** The owner of a legacy job nobody was recorded for; no bearer token has this subject, so only admins see it. */
export const LEGACY_UNKNOWN_OWNER = 'legacy-unknown';

// Enough rows per statement to import thousands of jobs quickly, few enough to stay far below
// PostgreSQL's 65 535 bind parameters (13 columns a row).
const INSERT_BATCH = 500;

const INTERRUPTED_STATUSES: readonly LegacyStatus[] = ['pending', 'running'];

/** Reads, validates and imports the file in one transaction; safe to run again (nothing is written twice). */
export async function importLegacyJobs(db: Kysely<Database>, filePath: string): Promise<LegacyImportReport> {
  const entries = Object.entries(await readLegacyFile(filePath));
  const report: LegacyImportReport = {
    file: filePath,
    records: entries.length,
    imported: [],
    alreadyPresent: [],
    rejected: [],
    interrupted: [],
  };
  const valid: LegacyRecord[] = [];
  for (const [key, value] of entries) {
    const check = checkLegacyRecord(key, value);
    if (check.valid) valid.push(check.record);
    else report.rejected.push({ key, reason: check.reason });
  }

  const inserted = await insertNewJobs(db, valid.map(toJobRow));
  for (const record of valid) {
    (inserted.has(record.job_id) ? report.imported : report.alreadyPresent).push(record.job_id);
    if (isInterrupted(record)) report.interrupted.push(interruptedEntry(record));
  }
  return report;
}

/** The file's top-level object; anything else is refused whole, before anything is written. */
async function readLegacyFile(filePath: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the legacy jobs file ${filePath}: ${(error as Error).message}`);
  }
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch (error) {
    throw new Error(
      `the legacy jobs file ${filePath} is not valid JSON (${(error as Error).message}); nothing was imported`,
    );
  }
  if (typeof content !== 'object' || content === null || Array.isArray(content)) {
    const found = content === null ? 'null' : Array.isArray(content) ? 'an array' : `a ${typeof content}`;
    throw new Error(
      `the legacy jobs file ${filePath} must hold a JSON object keyed by job id, but holds ${found}; nothing was imported`,
    );
  }
  return content as Record<string, unknown>;
}

/** Inserts the rows that are not there yet, all or none; answers the ids it wrote. */
async function insertNewJobs(db: Kysely<Database>, rows: Insertable<JobsTable>[]): Promise<Set<string>> {
  return db.transaction().execute(async (trx) => {
    const inserted = new Set<string>();
    for (let start = 0; start < rows.length; start += INSERT_BATCH) {
      const written = await trx
        .insertInto('jobs')
        .values(rows.slice(start, start + INSERT_BATCH))
        .onConflict((conflict) => conflict.column('id').doNothing())
        .returning('id')
        .execute();
      for (const { id } of written) inserted.add(id);
    }
    return inserted;
  });
}

function isInterrupted(record: LegacyRecord): boolean {
  return INTERRUPTED_STATUSES.includes(record.status);
}

/**
 * The owner is who the API knows a user by: the subject (`sub`) of their bearer token, which for users of the
 * legacy application is their user id as a string. So legacy user 2 owns its jobs as subject "2", and sees
 * them through the API and CLI like the jobs it starts from now on.
 */
function ownerOf(record: LegacyRecord): string {
  const userId = record.metadata?.user_id;
  return userId == null ? LEGACY_UNKNOWN_OWNER : String(userId);
}

/** A job the legacy process was running or about to run when it stopped; nothing will ever finish it. */
function interruptionError(status: LegacyStatus): string {
  return `Interrupted: the legacy job manager stopped while this job was ${status} (imported from jobs_storage.json)`;
}

/** Interrupted jobs cannot still be running, as no workflow exists for them: they are stored as failed. */
function importedStatus(record: LegacyRecord): JobStatus {
  return isInterrupted(record) ? 'failed' : record.status;
}

/** The legacy job's last change: nothing after completion, start or creation was recorded. */
function lastChangeOf(record: LegacyRecord): Date {
  return record.completed_at ?? record.started_at ?? record.created_at;
}

function progressOf(record: LegacyRecord): JobProgress {
  return {
    jobId: record.job_id,
    jobType: record.job_type,
    status: importedStatus(record),
    progressPercentage: record.progress_percentage ?? (record.status === 'completed' ? 100 : 0),
    completedSteps: record.completed_steps ?? 0,
    totalSteps: record.total_steps ?? 0,
    failedSteps: 0,
    inFlight: 0,
    // The file's null stays null: the legacy status answered null there, not an empty text.
    currentStep: record.current_step ?? null,
    message: record.message ?? null,
    startedAt: record.started_at?.toISOString() ?? null,
    updatedAt: lastChangeOf(record).toISOString(),
    etaSeconds: null,
    priority: PRIORITY_BY_NAME.normal,
  };
}

function toJobRow(record: LegacyRecord): Insertable<JobsTable> {
  return {
    id: record.job_id,
    type: record.job_type,
    owner: ownerOf(record),
    status: importedStatus(record),
    // No workflow exists for a legacy job; the job id is what a workflow of it would be called.
    workflow_id: record.job_id,
    metadata: JSON.stringify(record.metadata ?? {}),
    progress: JSON.stringify(progressOf(record)),
    result: record.result == null ? null : JSON.stringify(record.result),
    error: isInterrupted(record) ? interruptionError(record.status) : (record.error ?? null),
    created_at: record.created_at,
    started_at: record.started_at ?? null,
    // When an interrupted job stopped is unknown, so it has no completion time.
    completed_at: record.completed_at ?? null,
    updated_at: lastChangeOf(record),
    priority: PRIORITY_BY_NAME.normal,
    source: 'legacy',
  };
}

function interruptedEntry(record: LegacyRecord): LegacyImportReport['interrupted'][number] {
  return {
    jobId: record.job_id,
    jobType: record.job_type,
    owner: ownerOf(record),
    status: record.status,
    completedSteps: record.completed_steps ?? null,
    totalSteps: record.total_steps ?? null,
  };
}

/** The report as the CLI prints it: counts first, then every rejection and interrupted job. */
export function formatImportReport(report: LegacyImportReport): string {
  const lines = [
    `Legacy import of ${report.file}: ${report.records} records`,
    `  imported         ${report.imported.length}`,
    `  already present  ${report.alreadyPresent.length}`,
    `  rejected         ${report.rejected.length}`,
    `  interrupted      ${report.interrupted.length} (stored as failed)`,
  ];
  if (report.rejected.length > 0) {
    lines.push(
      '',
      'Rejected (not imported):',
      ...report.rejected.map(
        ({ key, reason }) => `  ${unstorableTextProblem(key) ? JSON.stringify(key) : key}: ${reason}`,
      ),
    );
  }
  if (report.interrupted.length > 0) {
    lines.push('', 'Interrupted (the legacy job manager stopped while they were pending or running):');
    for (const job of report.interrupted) {
      const steps = job.totalSteps === null ? 'steps unknown' : `${job.completedSteps ?? 0}/${job.totalSteps} steps`;
      lines.push(`  ${job.jobId}  ${job.jobType}  was ${job.status}, ${steps}, owner ${job.owner}`);
    }
  }
  return lines.join('\n');
}

/**
 * A request that starts an interrupted legacy job again, from the beginning, as a durable job of this
 * project; or why it cannot be. The legacy record does not say which table it profiled, hence the data
 * source from `defaults`. Given the legacy `jobId` (optional only so that callers holding just the row's
 * metadata still compile), the request records it as `legacy_job_id` and uses it as idempotency key, so
 * resubmitting after a second import starts no second job.
 */
export function legacyResubmitRequest(
  job: { jobId?: string; jobType: string; metadata: Record<string, unknown> },
  defaults: { dataSourceId: string; owner: string },
): ProfilingStartRequest | { skipped: string } {
  if (job.jobType === JobType.DataProfilingRuleExecution) {
    return {
      skipped: `job type ${job.jobType} runs the rules of a rule-generation job, which the legacy record does not name; start it with rulesFromJobId once that job has run`,
    };
  }
  if (!isResubmittable(job.jobType))
    return {
      skipped: `job type ${job.jobType} needs parameters the legacy record does not hold; start it anew with them`,
    };
  const request: ProfilingStartRequest = {
    jobType: job.jobType,
    owner: defaults.owner,
    dataSourceId: defaults.dataSourceId,
    metadata: { ...job.metadata },
  };
  if (job.jobId === undefined) return request;
  return {
    ...request,
    metadata: { ...job.metadata, legacy_job_id: job.jobId },
    idempotencyKey: `legacy-resubmit:${job.jobId}`,
  };
}

/** The generation job types: they need nothing but a data source to run again. */
function isResubmittable(
  jobType: string,
): jobType is typeof JobType.DataProfiling | typeof JobType.DataProfilingLlmGeneration {
  return jobType === JobType.DataProfiling || jobType === JobType.DataProfilingLlmGeneration;
}
