// The data-profiling jobs: LLM rule generation per attribute (bounded fan-out), then rule execution in
// batches, each batch one scan of the table. The three legacy job types are the two phases, alone or together.

import { ApplicationFailure } from '@temporalio/common';
import { continueAsNew, isCancellation, patched } from '@temporalio/workflow';
import type { ProfilingActivities } from '../../activities';
import type { JobStart, ProfilingJobInput, ProfilingJobResult } from '../../common/jobs';
import type { AttributeDescriptor } from '../../common/rules';
import { DATABASE_ACTIVITY, LLM_ACTIVITY, RULE_EXECUTION_ACTIVITY } from '../control/activity-options';
import { isInterruption } from '../control/run-each';
import { describeError, failureSummary, JobControl, type JobOutcome } from '../control/control';

const llm = (control: JobControl) => control.activities<ProfilingActivities>(LLM_ACTIVITY);
const rules = (control: JobControl) => control.activities<ProfilingActivities>(RULE_EXECUTION_ACTIVITY);
const database = (control: JobControl) => control.activities<ProfilingActivities>(DATABASE_ACTIVITY);

/**
 * From this version on, a rule batch that failed for good is recorded rule by rule (it counts as rules not
 * run instead of vanishing), and a job whose rules existed but none ran ends failed. Older histories did neither.
 */
const TRUTHFUL_RULE_EXECUTION = 'profiling-rules-not-run-recorded';

type Phase = 'generate_rules' | 'execute_rules';

/** `data_profiling`: generate rules for every attribute, then run them. */
export async function dataProfiling(start: JobStart<ProfilingJobInput>): Promise<ProfilingJobResult> {
  return profile(start, ['generate_rules', 'execute_rules']);
}

/** `data_profiling_llm_generation`: generate and store rules only. */
export async function dataProfilingLlmGeneration(start: JobStart<ProfilingJobInput>): Promise<ProfilingJobResult> {
  return profile(start, ['generate_rules']);
}

/** `data_profiling_rule_execution`: run the rules an earlier generation job stored (`rulesFromJobId`). */
export async function dataProfilingRuleExecution(start: JobStart<ProfilingJobInput>): Promise<ProfilingJobResult> {
  return profile(start, ['execute_rules']);
}

type ProfilingWorkflow = (input: ProfilingJobInput) => Promise<ProfilingJobResult>;

async function profile(start: JobStart<ProfilingJobInput>, phases: Phase[]): Promise<ProfilingJobResult> {
  const [control, input] = await JobControl.begin(start, (i) => i.attributes.length * phases.length);
  const rulesJobId = input.rulesFromJobId ?? input.jobId;
  // A continued run starts in the phase it stopped in, with the attributes that phase had left.
  const startPhase = input.resumeAt ? phases.indexOf(input.resumeAt.phase) : 0;
  const failed = new Set(input.resumeAt?.failed ?? []);
  return control.run(async () => {
    for (const phase of phases.slice(startPhase)) {
      const resuming = input.resumeAt?.phase === phase ? new Set(input.resumeAt.remaining) : undefined;
      const todo = input.attributes.filter((a) => (resuming ? resuming.has(a.name) : !failed.has(a.name)));
      if (phase === 'execute_rules' && !resuming && phases.includes('generate_rules')) control.skipSteps(failed.size);
      const left =
        phase === 'generate_rules'
          ? await generateRules(control, input, todo, failed)
          : await runRules(control, input, rulesJobId, todo);
      if (left.length > 0) {
        const carried = await control.carryOver();
        return continueAsNew<ProfilingWorkflow>({
          ...input,
          carried,
          resumeAt: { phase, remaining: left.map((a) => a.name), failed: [...failed] },
        });
      }
    }
    return outcomeOf(
      await database(control).summarizeProfiling({
        jobId: input.jobId,
        rulesJobId,
        attributesTotal: input.attributes.length,
      }),
    );
  });
}

/**
 * Generates rules for `attributes`, adding the ones that failed for good to `failed` (their reason is
 * stored). Returns the attributes left for a continued run because this run's history is full.
 */
async function generateRules(
  control: JobControl,
  input: ProfilingJobInput,
  attributes: AttributeDescriptor[],
  failed: Set<string>,
): Promise<AttributeDescriptor[]> {
  control.beginPhase('Generating validation rules');
  const perUnit = control.llmItemsPerUnit(input.llmConcurrency);
  if (perUnit > 1) return generateRulesInBatches(control, input, attributes, failed, perUnit);
  return control.forEach(attributes, {
    concurrency: input.llmConcurrency,
    llmCalls: 1,
    label: (attribute) => attribute.name,
    work: async (attribute) => {
      try {
        const outcome = await llm(control).generateValidationRules({
          jobId: input.jobId,
          dataSourceId: input.dataSourceId,
          attribute,
          llm: control.llmCall(),
        });
        if (outcome.status === 'failed') failed.add(attribute.name);
        return outcome.status === 'completed';
      } catch (error) {
        if (isInterruption(error)) throw error; // cancelled, or its call deferred by a pause
        // Retries are exhausted or the request can never succeed: record it and let the job go on.
        failed.add(attribute.name);
        await database(control).recordAttributeFailure({
          jobId: input.jobId,
          attribute: attribute.name,
          reason: describeError(error),
        });
        return false;
      }
    },
  });
}

/**
 * generateRules with `perUnit` attributes to an activity (JobControl.llmItemsPerUnit), their calls concurrent: an
 * attribute that fails for good is recorded by the activity, and a batch whose activity fails for good records those
 * of its attributes not stored yet.
 */
async function generateRulesInBatches(
  control: JobControl,
  input: ProfilingJobInput,
  attributes: AttributeDescriptor[],
  failed: Set<string>,
  perUnit: number,
): Promise<AttributeDescriptor[]> {
  const batches: AttributeDescriptor[][] = [];
  for (let i = 0; i < attributes.length; i += perUnit) batches.push(attributes.slice(i, i + perUnit));
  const left = await control.forEach(batches, {
    concurrency: input.llmConcurrency,
    llmCalls: perUnit,
    label: (batch) => (batch.length > 1 ? `${batch[0]!.name} and ${batch.length - 1} more` : batch[0]!.name),
    weight: (batch) => batch.length,
    work: async (batch) => {
      let failedHere: string[];
      try {
        const outcomes = await llm(control).generateValidationRulesBatch({
          jobId: input.jobId,
          dataSourceId: input.dataSourceId,
          attributes: batch,
          llm: control.llmCall(),
        });
        failedHere = outcomes.filter((o) => o.status === 'failed').map((o) => o.attribute);
      } catch (error) {
        if (isInterruption(error)) throw error; // cancelled, or a call deferred by a pause
        failedHere = await database(control).recordAttributeFailures({
          jobId: input.jobId,
          attributes: batch.map((a) => a.name),
          reason: describeError(error),
        });
      }
      for (const attribute of failedHere) failed.add(attribute);
      return { failed: failedHere.length };
    },
  });
  return left.flat();
}

/** Runs the stored rules of `attributes` in batches; returns the attributes left for a continued run. */
async function runRules(
  control: JobControl,
  input: ProfilingJobInput,
  rulesJobId: string,
  attributes: AttributeDescriptor[],
): Promise<AttributeDescriptor[]> {
  control.beginPhase('Executing validation rules');
  const batches: AttributeDescriptor[][] = [];
  for (let i = 0; i < attributes.length; i += input.ruleBatchSize)
    batches.push(attributes.slice(i, i + input.ruleBatchSize));
  const left = await control.forEach(batches, {
    // Two scans at once keep a core busy while the other waits on I/O, without crowding the database.
    concurrency: 2,
    label: (batch) => `${batch[0]?.name ?? ''} and ${batch.length - 1} more`,
    weight: (batch) => batch.length,
    work: async (batch) => {
      try {
        await rules(control).executeRules({
          jobId: input.jobId,
          rulesJobId,
          dataSourceId: input.dataSourceId,
          attributes: batch,
        });
        return true;
      } catch (error) {
        if (isCancellation(error)) throw error;
        // Retries are exhausted or the batch can never run: its rules did not run, and the result must say so.
        if (patched(TRUTHFUL_RULE_EXECUTION)) {
          await database(control).recordRuleBatchFailure({
            jobId: input.jobId,
            rulesJobId,
            attributes: batch,
            reason: describeError(error),
            sqlstate: sqlStateOf(error),
          });
        }
        return false;
      }
    },
  });
  return left.flat();
}

/**
 * Failed when every attribute failed, or (recorded jobs aside) when rules existed and not one of them ran;
 * otherwise completed, with `error` naming the rules that could not run and every failed attribute's reason.
 */
function outcomeOf(summary: ProfilingJobResult): JobOutcome<ProfilingJobResult> {
  const { attributesFailed, attributesTotal, failedAttributes } = summary;
  const attributes = failureSummary(
    attributesFailed,
    attributesTotal,
    'attributes failed',
    failedAttributes.map((f) => `${f.attribute} (${f.reason})`),
  );
  const allFailed = attributesTotal > 0 && attributesFailed === attributesTotal;
  // A summary from an activity older than rulesTotal has nothing more to say.
  if (summary.rulesTotal === undefined || !patched(TRUTHFUL_RULE_EXECUTION))
    return { status: allFailed ? 'failed' : 'completed', error: attributes, result: summary };
  const { rulesTotal, rulesExecuted, rulesNotRun } = summary;
  const rules = rulesNotRun.length > 0 ? `${rulesNotRun.length} of ${rulesTotal} rules could not run` : null;
  const noneRan = rulesTotal > 0 && rulesExecuted === 0;
  return {
    status: allFailed || noneRan ? 'failed' : 'completed',
    error: [rules, attributes].filter((part) => part !== null).join('; ') || null,
    result: summary,
  };
}

/** The SQLSTATE a DataSourceError carries in its details, if the failure is one. */
function sqlStateOf(error: unknown): string | null {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const sqlstate =
      current instanceof ApplicationFailure
        ? (current.details?.[0] as { sqlstate?: unknown } | undefined)?.sqlstate
        : undefined;
    if (typeof sqlstate === 'string') return sqlstate;
  }
  return null;
}
