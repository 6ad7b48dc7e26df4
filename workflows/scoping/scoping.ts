// The scoping jobs: per attribute an LLM risk assessment (with its profiling results when a profiling job is
// named) scored deterministically, then — for `scoping_recommendations` only — scope optimisation choosing
// the smallest test set covering every high-risk attribute within the budget. Long jobs continue as new.

import { continueAsNew } from '@temporalio/workflow';
import type { ScopingActivities } from '../../activities';
import type { ScopeSelectionResult, ScopingSummary } from '../../activities/scoping/scoping';
import type { JobInputBase, JobStart } from '../../common/jobs';
import type { AttributeDescriptor } from '../../common/rules';
import { DATABASE_ACTIVITY, LLM_ACTIVITY } from '../control/activity-options';
import { isInterruption } from '../control/run-each';
import { describeError, failureSummary, JobControl, type JobOutcome } from '../control/control';

const llm = (control: JobControl) => control.activities<ScopingActivities>(LLM_ACTIVITY);
const database = (control: JobControl) => control.activities<ScopingActivities>(DATABASE_ACTIVITY);

/** What both scoping workflows receive: everything resolved and validated by the client. */
export interface ScopingJobInput extends JobInputBase {
  dataSourceId: string;
  attributes: AttributeDescriptor[];
  /** A completed profiling job whose rule results the prompts and scores use. */
  profilingJobId?: string;
  llmConcurrency: number;
  /** `scoping_recommendations` only: the maximum total cost of the chosen tests; absent for no limit. */
  testBudget?: number;
  /** On a continued run: the attributes still to assess. */
  resumeAt?: { remaining: string[] };
}

/** A scoping job's result: the assessment summary and, for `scoping_recommendations`, the tests chosen. */
export type ScopingJobResult = ScopingSummary & { selection?: ScopeSelectionResult };

/** `generate_scoping_recommendations`: assess and score every attribute; no test selection. */
export async function generateScopingRecommendations(start: JobStart<ScopingJobInput>): Promise<ScopingJobResult> {
  return scope(start, false);
}

/** `scoping_recommendations`: assess and score every attribute, then choose the test set. */
export async function scopingRecommendations(start: JobStart<ScopingJobInput>): Promise<ScopingJobResult> {
  return scope(start, true);
}

type ScopingWorkflow = (input: ScopingJobInput) => Promise<ScopingJobResult>;

/** continueAsNew continues the workflow type that is running, so both job types share this body. */
async function scope(start: JobStart<ScopingJobInput>, optimise: boolean): Promise<ScopingJobResult> {
  const [control, input] = await JobControl.begin(start, (i) => i.attributes.length + (optimise ? 1 : 0));
  return control.run(async () => {
    const remaining = input.resumeAt ? new Set(input.resumeAt.remaining) : undefined;
    const left = await assess(
      control,
      input,
      remaining ? input.attributes.filter((a) => remaining.has(a.name)) : input.attributes,
    );
    if (left.length > 0)
      return continueAsNew<ScopingWorkflow>({
        ...input,
        carried: await control.carryOver(),
        resumeAt: { remaining: left.map((a) => a.name) },
      });

    let selection: ScopeSelectionResult | undefined;
    if (optimise) {
      control.beginPhase('Choosing tests');
      selection = await database(control).chooseScopingTests({
        jobId: input.jobId,
        testBudget: input.testBudget ?? null,
      });
      control.skipSteps(1);
    }
    const { jobId, dataSourceId, profilingJobId } = input;
    const summary = await database(control).summarizeScoping({
      jobId,
      dataSourceId,
      profilingJobId: profilingJobId ?? null,
      attributesTotal: input.attributes.length,
    });
    return outcomeOf(summary, selection);
  });
}

/** Assesses `attributes`, at most llmConcurrency at once; returns those left for a continued run. */
async function assess(
  control: JobControl,
  input: ScopingJobInput,
  attributes: AttributeDescriptor[],
): Promise<AttributeDescriptor[]> {
  control.beginPhase('Assessing attributes');
  return control.forEach(attributes, {
    concurrency: input.llmConcurrency,
    llmCalls: 1,
    label: (attribute) => attribute.name,
    work: async (attribute) => {
      const { jobId, dataSourceId, profilingJobId } = input;
      try {
        const outcome = await llm(control).assessAttributeScope({
          jobId,
          dataSourceId,
          attribute,
          profilingJobId,
          llm: control.llmCall(),
        });
        return outcome.status === 'completed';
      } catch (error) {
        if (isInterruption(error)) throw error; // cancelled, or its call deferred by a pause
        // Retries are exhausted or the request can never succeed: record it and let the job go on.
        await database(control).recordScopingFailure({
          jobId,
          attribute: attribute.name,
          reason: describeError(error),
        });
        return false;
      }
    },
  });
}

function outcomeOf(summary: ScopingSummary, selection: ScopeSelectionResult | undefined): JobOutcome<ScopingJobResult> {
  const { attributesFailed, attributesTotal, failedAttributes } = summary;
  return {
    status: attributesTotal > 0 && attributesFailed === attributesTotal ? 'failed' : 'completed',
    error: failureSummary(
      attributesFailed,
      attributesTotal,
      'attributes failed',
      failedAttributes.map((f) => `${f.attribute} (${f.reason})`),
    ),
    result: { ...summary, ...(selection ? { selection } : {}) },
  };
}
