// `synapse-jobs import-legacy FILE [--resubmit --data-source ID]`: imports the legacy jobs_storage.json,
// prints what was imported, skipped and rejected, and optionally resubmits interrupted jobs as new jobs.

import type { Kysely } from 'kysely';
import type { Database } from '../../db/database';
import { InvalidJobRequestError, JobsError } from '../errors';
import type { JobsClient, Principal } from '../jobs-client';
import {
  formatImportReport,
  importLegacyJobs,
  legacyResubmitRequest,
  type LegacyImportReport,
} from '../legacy-import/legacy-import';
import type { Output } from './cli-output';

export interface ResubmitOutcome {
  legacyJobId: string;
  /** The new job; absent when skipped. */
  jobId?: string;
  created?: boolean;
  skipped?: string;
}

/** Imports the file (a file that cannot be read or is not a legacy file is refused), then prints the report. */
export async function importLegacy(db: Kysely<Database>, file: string, out: Output): Promise<LegacyImportReport> {
  const report = await importLegacyJobs(db, file).catch((error: unknown) => {
    if (error instanceof JobsError || !(error instanceof Error) || !/legacy jobs file/.test(error.message)) throw error;
    throw new InvalidJobRequestError('file', error.message);
  });
  if (!out.json) {
    out.note(formatImportReport(report));
  }
  return report;
}

/** Starts each interrupted job of the report again as a new job on `dataSourceId`, or says why it cannot. */
export async function resubmitInterrupted(
  jobs: JobsClient,
  principal: Principal,
  report: LegacyImportReport,
  dataSourceId: string,
  out: Output,
): Promise<ResubmitOutcome[]> {
  const outcomes: ResubmitOutcome[] = [];
  for (const interrupted of report.interrupted) {
    const row = await jobs.job(interrupted.jobId);
    const request = legacyResubmitRequest(
      { jobId: interrupted.jobId, jobType: interrupted.jobType, metadata: row?.metadata ?? {} },
      { dataSourceId, owner: interrupted.owner },
    );
    if ('skipped' in request) {
      out.note(`skipped ${interrupted.jobId}: ${request.skipped}`);
      outcomes.push({ legacyJobId: interrupted.jobId, skipped: request.skipped });
      continue;
    }
    const started = await jobs.startJob(request, principal.subject);
    out.note(`${started.created ? 'resubmitted' : 'already resubmitted'} ${interrupted.jobId} as ${started.jobId}`);
    outcomes.push({ legacyJobId: interrupted.jobId, jobId: started.jobId, created: started.created });
  }
  return outcomes;
}

/** The hint after an import without --resubmit that found interrupted jobs. */
export function resubmitHint(report: LegacyImportReport): string | undefined {
  return report.interrupted.length > 0
    ? `\nRun again with --resubmit --data-source ID to start the ${report.interrupted.length} interrupted jobs as new durable jobs.`
    : undefined;
}
