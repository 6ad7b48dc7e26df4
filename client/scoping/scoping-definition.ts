// The scoping family's start requests: a data source, optionally some of its attributes, optionally a
// completed profiling job of that data source whose results inform the assessment, and for
// `scoping_recommendations` a budget: the maximum total cost of the tests the optimiser may choose.

import { z } from 'zod';
import { JobType } from '../../common/jobs';
import { InvalidJobRequestError } from '../errors';
import { identifier, parseOrReject, type FamilyStartRequest } from '../job-requests';
import type { JobDefinition, JobLimits } from '../job-definition';
import { completedJob, PROFILING_WITH_RESULTS } from '../earlier-jobs';
import { resolveAttributes } from '../profiling/profiling-definition';

export function scopingParamsSchema(limits: JobLimits) {
  return z.object({
    dataSourceId: identifier,
    /** Attribute (column) names; all of the data source's attributes when omitted. */
    attributeIds: z.array(identifier).min(1).max(limits.JOB_MAX_ATTRIBUTES).optional(),
    profilingJobId: identifier.optional(),
    llmConcurrency: z
      .number()
      .int()
      .min(1)
      .max(limits.JOB_MAX_LLM_CONCURRENCY)
      .default(limits.JOB_DEFAULT_LLM_CONCURRENCY),
    /**
     * Maximum total cost of the chosen tests (costs in activities/scoping/scoping-catalogue.ts); no limit when omitted.
     */
    testBudget: z.number().int().min(0).max(1_000_000).optional(),
  });
}

type ScopingJobType = typeof JobType.ScopingRecommendations | typeof JobType.GenerateScopingRecommendations;

export type ScopingStartRequest = FamilyStartRequest<ScopingJobType, z.input<ReturnType<typeof scopingParamsSchema>>>;

export const scopingJobs: JobDefinition<ScopingJobType> = {
  fields: (_jobType, limits) => scopingParamsSchema(limits),
  async prepare(db, job, body, limits) {
    const params = parseOrReject(scopingParamsSchema(limits), body);
    if (params.testBudget !== undefined && job.jobType !== JobType.ScopingRecommendations) {
      throw new InvalidJobRequestError(
        'testBudget',
        `only applies to ${JobType.ScopingRecommendations}, which chooses tests`,
      );
    }
    const attributes = await resolveAttributes(db, params.dataSourceId, params.attributeIds);
    // A completed profiling job of the same data source, so its results are whole and relevant.
    if (params.profilingJobId)
      await completedJob(db, 'profilingJobId', params.profilingJobId, PROFILING_WITH_RESULTS, params.dataSourceId);
    const { dataSourceId, profilingJobId, llmConcurrency, testBudget } = params;
    return {
      input: { dataSourceId, attributes, profilingJobId, llmConcurrency, testBudget, ...job },
      metadata: {
        data_source_id: dataSourceId,
        total_attributes: attributes.length,
        ...(profilingJobId ? { profiling_job_id: profilingJobId } : {}),
      },
      summary: `${job.jobType} of ${attributes.length} attributes of ${dataSourceId} for ${job.owner}`,
      details:
        `priority ${job.priority}, LLM concurrency ${llmConcurrency}` +
        (profilingJobId ? `, profiling results of job ${profilingJobId}` : ', no profiling results') +
        (job.jobType === JobType.ScopingRecommendations ? `, test budget ${testBudget ?? 'unlimited'}` : ''),
    };
  },
};
