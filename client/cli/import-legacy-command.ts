// `synapse-jobs import-legacy FILE [--resubmit --data-source ID]`: imports the legacy jobs_storage.json,
// prints what was imported, skipped and rejected, and optionally resubmits interrupted jobs as new jobs.

import type { Kysely } from 'kysely';
import type { Database } from '../../db/database';
import type { JobsClient, Principal } from '../jobs-client';
import { formatImportReport, importLegacyJobs, legacyResubmitRequest } from '../legacy-import/legacy-import';

export async function importLegacyCommand(
  db: Kysely<Database>,
  jobs: JobsClient,
  principal: Principal,
  file: string,
  options: { resubmit: boolean; dataSourceId?: string },
): Promise<number> {
  const report = await importLegacyJobs(db, file);
  console.log(formatImportReport(report));
  if (!options.resubmit) {
    if (report.interrupted.length > 0)
      console.log(
        `\nRun again with --resubmit --data-source ID to start the ${report.interrupted.length} interrupted jobs as new durable jobs.`,
      );
    return 0;
  }
  if (!options.dataSourceId) {
    console.error('--resubmit needs --data-source ID (the legacy records do not say which table they profiled)');
    return 2;
  }
  for (const interrupted of report.interrupted) {
    const row = await jobs.job(interrupted.jobId);
    const request = legacyResubmitRequest(
      { jobId: interrupted.jobId, jobType: interrupted.jobType, metadata: row?.metadata ?? {} },
      { dataSourceId: options.dataSourceId, owner: interrupted.owner },
    );
    if ('skipped' in request) {
      console.log(`skipped ${interrupted.jobId}: ${request.skipped}`);
      continue;
    }
    const started = await jobs.startJob(request, principal.subject);
    console.log(`${started.created ? 'resubmitted' : 'already resubmitted'} ${interrupted.jobId} as ${started.jobId}`);
  }
  return 0;
}
