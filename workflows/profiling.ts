// The data-profiling jobs: LLM rule generation per attribute (bounded fan-out), then rule execution in
// batches, each batch one scan of the table. The three legacy job types are the two phases, alone or together.

import { isCancellation, proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { ProfilingJobInput, ProfilingJobResult } from '../common/jobs';
import type { AttributeDescriptor } from '../common/rules';
import { DATABASE_ACTIVITY, LLM_ACTIVITY, RULE_EXECUTION_ACTIVITY } from './activity-options';
import { describeError, JobControl, type JobOutcome } from './control';

type Activities = ReturnType<typeof activities.createActivities>;
/** Proxies are made per call so each activity is scheduled with the job's priority at that moment. */
const llm = (control: JobControl) => proxyActivities<Activities>(control.activityOptions(LLM_ACTIVITY));
const rules = (control: JobControl) => proxyActivities<Activities>(control.activityOptions(RULE_EXECUTION_ACTIVITY));
const database = (control: JobControl) => proxyActivities<Activities>(control.activityOptions(DATABASE_ACTIVITY));

type Phase = 'generate_rules' | 'execute_rules';

/** `data_profiling`: generate rules for every attribute, then run them. */
export async function dataProfiling(input: ProfilingJobInput): Promise<ProfilingJobResult> {
  return profile(input, ['generate_rules', 'execute_rules']);
}

/** `data_profiling_llm_generation`: generate and store rules only. */
export async function dataProfilingLlmGeneration(input: ProfilingJobInput): Promise<ProfilingJobResult> {
  return profile(input, ['generate_rules']);
}

/** `data_profiling_rule_execution`: run the rules an earlier generation job stored (`rulesFromJobId`). */
export async function dataProfilingRuleExecution(input: ProfilingJobInput): Promise<ProfilingJobResult> {
  return profile(input, ['execute_rules']);
}

async function profile(input: ProfilingJobInput, phases: Phase[]): Promise<ProfilingJobResult> {
  const control = new JobControl(input, input.attributes.length * phases.length);
  const rulesJobId = input.rulesFromJobId ?? input.jobId;
  const result = await control.run(async () => {
    let withRules = input.attributes;
    if (phases.includes('generate_rules')) withRules = await generateRules(control, input);
    if (phases.includes('execute_rules')) {
      control.skipSteps(input.attributes.length - withRules.length);
      await runRules(control, input, rulesJobId, withRules);
    }
    return outcomeOf(await database(control).summarizeProfiling({ jobId: input.jobId, rulesJobId, attributesTotal: input.attributes.length }));
  });
  return result as unknown as ProfilingJobResult;
}

/** Returns the attributes that got rules; the others are stored as failed with their reason. */
async function generateRules(control: JobControl, input: ProfilingJobInput): Promise<AttributeDescriptor[]> {
  control.beginPhase('Generating validation rules');
  const failed = new Set<string>();
  await control.forEach(input.attributes, {
    concurrency: input.llmConcurrency,
    label: (attribute) => attribute.name,
    work: async (attribute) => {
      try {
        const outcome = await llm(control).generateValidationRules({ jobId: input.jobId, dataSourceId: input.dataSourceId, attribute });
        if (outcome.status === 'failed') failed.add(attribute.name);
        return outcome.status === 'completed';
      } catch (error) {
        if (isCancellation(error)) throw error;
        // Retries are exhausted or the request can never succeed: record it and let the job go on.
        failed.add(attribute.name);
        await database(control).recordAttributeFailure({ jobId: input.jobId, attribute: attribute.name, reason: describeError(error) });
        return false;
      }
    },
  });
  return input.attributes.filter((a) => !failed.has(a.name));
}

async function runRules(control: JobControl, input: ProfilingJobInput, rulesJobId: string, attributes: AttributeDescriptor[]): Promise<void> {
  control.beginPhase('Executing validation rules');
  const batches: AttributeDescriptor[][] = [];
  for (let i = 0; i < attributes.length; i += input.ruleBatchSize) batches.push(attributes.slice(i, i + input.ruleBatchSize));
  await control.forEach(batches, {
    // Two scans at once keep a core busy while the other waits on I/O, without crowding the database.
    concurrency: 2,
    label: (batch) => `${batch[0]?.name ?? ''} and ${batch.length - 1} more`,
    weight: (batch) => batch.length,
    work: async (batch) => {
      try {
        await rules(control).executeRules({ jobId: input.jobId, rulesJobId, dataSourceId: input.dataSourceId, attributes: batch });
        return true;
      } catch (error) {
        if (isCancellation(error)) throw error;
        return false;
      }
    },
  });
}

function outcomeOf(summary: ProfilingJobResult): JobOutcome {
  const { attributesFailed, attributesTotal, failedAttributes } = summary;
  const listed = failedAttributes.slice(0, 5).map((f) => `${f.attribute} (${f.reason})`).join('; ');
  const error = attributesFailed === 0 ? null : `${attributesFailed} of ${attributesTotal} attributes failed: ${listed}${attributesFailed > 5 ? '; …' : ''}`;
  return {
    status: attributesTotal > 0 && attributesFailed === attributesTotal ? 'failed' : 'completed',
    error,
    result: summary as unknown as Record<string, unknown>,
  };
}
