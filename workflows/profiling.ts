// The data-profiling jobs: LLM rule generation per attribute (bounded fan-out), then rule execution in
// batches, each batch one scan of the table. The three legacy job types are the two phases, alone or together.

import { continueAsNew, isCancellation } from '@temporalio/workflow';
import type { ProfilingJobInput, ProfilingJobResult } from '../common/jobs';
import type { AttributeDescriptor } from '../common/rules';
import { DATABASE_ACTIVITY, LLM_ACTIVITY, RULE_EXECUTION_ACTIVITY } from './activity-options';
import { describeError, failureSummary, JobControl, type JobOutcome } from './control';

const llm = (control: JobControl) => control.activities(LLM_ACTIVITY);
const rules = (control: JobControl) => control.activities(RULE_EXECUTION_ACTIVITY);
const database = (control: JobControl) => control.activities(DATABASE_ACTIVITY);

type Phase = 'generate_rules' | 'execute_rules';

/** `data_profiling`: generate rules for every attribute, then run them. */
export async function dataProfiling(input: ProfilingJobInput): Promise<ProfilingJobResult> {
  return profile(input, ['generate_rules', 'execute_rules'], dataProfiling);
}

/** `data_profiling_llm_generation`: generate and store rules only. */
export async function dataProfilingLlmGeneration(input: ProfilingJobInput): Promise<ProfilingJobResult> {
  return profile(input, ['generate_rules'], dataProfilingLlmGeneration);
}

/** `data_profiling_rule_execution`: run the rules an earlier generation job stored (`rulesFromJobId`). */
export async function dataProfilingRuleExecution(input: ProfilingJobInput): Promise<ProfilingJobResult> {
  return profile(input, ['execute_rules'], dataProfilingRuleExecution);
}

type ProfilingWorkflow = (input: ProfilingJobInput) => Promise<ProfilingJobResult>;

async function profile(input: ProfilingJobInput, phases: Phase[], self: ProfilingWorkflow): Promise<ProfilingJobResult> {
  const control = new JobControl(input, input.attributes.length * phases.length);
  const rulesJobId = input.rulesFromJobId ?? input.jobId;
  // A continued run starts in the phase it stopped in, with the attributes that phase had left.
  const startPhase = input.resumeAt ? phases.indexOf(input.resumeAt.phase) : 0;
  const failed = new Set(input.resumeAt?.failed ?? []);
  const result = await control.run(async () => {
    for (const phase of phases.slice(startPhase)) {
      const resuming = input.resumeAt?.phase === phase ? new Set(input.resumeAt.remaining) : undefined;
      const todo = input.attributes.filter((a) => (resuming ? resuming.has(a.name) : !failed.has(a.name)));
      if (phase === 'execute_rules' && !resuming && phases.includes('generate_rules')) control.skipSteps(failed.size);
      const left = phase === 'generate_rules' ? await generateRules(control, input, todo, failed) : await runRules(control, input, rulesJobId, todo);
      if (left.length > 0) {
        const carried = await control.carryOver();
        return continueAsNew<ProfilingWorkflow>({ ...input, carried, resumeAt: { phase, remaining: left.map((a) => a.name), failed: [...failed] } });
      }
    }
    return outcomeOf(await database(control).summarizeProfiling({ jobId: input.jobId, rulesJobId, attributesTotal: input.attributes.length }));
  });
  return result as unknown as ProfilingJobResult;
}

/**
 * Generates rules for `attributes`, adding the ones that failed for good to `failed` (their reason is
 * stored). Returns the attributes left for a continued run because this run's history is full.
 */
async function generateRules(control: JobControl, input: ProfilingJobInput, attributes: AttributeDescriptor[], failed: Set<string>): Promise<AttributeDescriptor[]> {
  control.beginPhase('Generating validation rules');
  return control.forEach(attributes, {
    concurrency: input.llmConcurrency,
    label: (attribute) => attribute.name,
    work: async (attribute) => {
      try {
        const outcome = await llm(control).generateValidationRules({ jobId: input.jobId, dataSourceId: input.dataSourceId, attribute, llm: control.llmCall() });
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
}

/** Runs the stored rules of `attributes` in batches; returns the attributes left for a continued run. */
async function runRules(control: JobControl, input: ProfilingJobInput, rulesJobId: string, attributes: AttributeDescriptor[]): Promise<AttributeDescriptor[]> {
  control.beginPhase('Executing validation rules');
  const batches: AttributeDescriptor[][] = [];
  for (let i = 0; i < attributes.length; i += input.ruleBatchSize) batches.push(attributes.slice(i, i + input.ruleBatchSize));
  const left = await control.forEach(batches, {
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
  return left.flat();
}

function outcomeOf(summary: ProfilingJobResult): JobOutcome {
  const { attributesFailed, attributesTotal, failedAttributes } = summary;
  return {
    status: attributesTotal > 0 && attributesFailed === attributesTotal ? 'failed' : 'completed',
    error: failureSummary(attributesFailed, attributesTotal, 'attributes failed', failedAttributes.map((f) => `${f.attribute} (${f.reason})`)),
    result: summary as unknown as Record<string, unknown>,
  };
}
