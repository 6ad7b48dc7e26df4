// Listing jobs from the jobs table (new and imported legacy jobs alike), filtered the ways the jobs
// page and operators ask: owner, type, status, cycle, report, creation time.

import { z } from 'zod';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/database';
import type { JobRow } from './job-status';

export const jobFilterSchema = z.object({
  owner: z.string().min(1).max(200).optional(),
  type: z.string().min(1).max(100).optional(),
  status: z.enum(['pending', 'running', 'paused', 'completed', 'failed', 'cancelled']).optional(),
  cycleId: z.string().min(1).max(100).optional(),
  reportId: z.string().min(1).max(100).optional(),
  createdAfter: z.coerce.date().optional(),
  createdBefore: z.coerce.date().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export type JobFilter = z.input<typeof jobFilterSchema>;

export async function listJobs(db: Kysely<Database>, filter: JobFilter): Promise<JobRow[]> {
  const f = jobFilterSchema.parse(filter);
  let query = db.selectFrom('jobs').selectAll();
  if (f.owner) query = query.where('owner', '=', f.owner);
  if (f.type) query = query.where('type', '=', f.type);
  if (f.status) query = query.where('status', '=', f.status);
  if (f.cycleId) query = query.where(sql<string>`metadata->>'cycle_id'`, '=', f.cycleId);
  if (f.reportId) query = query.where(sql<string>`metadata->>'report_id'`, '=', f.reportId);
  if (f.createdAfter) query = query.where('created_at', '>=', f.createdAfter);
  if (f.createdBefore) query = query.where('created_at', '<', f.createdBefore);
  return query.orderBy('created_at', 'desc').orderBy('id').limit(f.limit).offset(f.offset).execute();
}
