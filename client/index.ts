// The typed library a TypeScript backend service imports: the client that starts, reads and controls jobs, the
// requests it takes and answers it gives, and the closed set of errors it raises. The HTTP API (client/http/), the
// CLI (client/cli/) and the legacy import (client/legacy-import/) are built on it.

export { JobsClient } from './jobs-client';
export type { JobsClientConfig, Principal, StartJobRequest, StartedJob, StartOptions } from './jobs-client';
export type { JobFilter, JobListEntry, JobListPage } from './job-list';
export type { JobTrouble, LegacyJobStatus, TroubledItem } from './job-status';
export type { FamilyResults, JobResults, ResultFamily } from './job-results';
export {
  AdminRequiredError,
  DependencyUnavailableError,
  IdempotencyKeyReusedError,
  InvalidJobRequestError,
  JobNotFoundError,
  JobsError,
  JobStateError,
  QuotaExceededError,
  UnauthorizedError,
} from './errors';
export { JobType, type JobStatus } from '../common/jobs';
