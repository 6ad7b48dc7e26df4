// The planning jobs: attribute generation (documents → chunks → LLM candidates per chunk → merged plan data
// elements), PDE auto-mapping (one LLM suggestion per PDE among pre-filtered columns) and regeneration
// (mapping again for chosen PDEs, accepted mappings untouched). Long jobs continue as new with what is left.

import { continueAsNew, patched, proxyActivities } from '@temporalio/workflow';
import type { PlanningActivities } from '../../activities';
import type { AttributeGenerationResult, ChunkRef } from '../../activities/planning/planning-generation';
import type { PdeMappingResult } from '../../activities/planning/planning-mapping';
import type { JobInputBase, JobStart } from '../../common/jobs';
import { DATABASE_ACTIVITY, LLM_ACTIVITY } from '../control/activity-options';
import { isInterruption } from '../control/run-each';
import { describeError, failureSummary, JobControl, type JobOutcome } from '../control/control';

const llm = (control: JobControl) => control.activities<PlanningActivities>(LLM_ACTIVITY);
const database = (control: JobControl) => control.activities<PlanningActivities>(DATABASE_ACTIVITY);

/** What `llm_attribute_generation` receives: the plan and the documents prepare() stored for it. */
export interface AttributeGenerationJobInput extends JobInputBase {
  planId: string;
  documentIds: number[];
  chunkSize: number;
  chunkOverlap: number;
  llmConcurrency: number;
  /** On a continued run: the chunks still to do, and how many the job has in all. */
  resumeAt?: { chunks: ChunkRef[]; totalChunks: number };
}

/**
 * What `pde_auto_mapping` and `pde_regeneration` receive: PDE ids only, however many (descriptions stay in the
 * database).
 */
export interface PdeMappingJobInput extends JobInputBase {
  planId: string;
  dataSourceId: string;
  /** The PDEs this run maps; on a continued run, those the earlier runs left. */
  pdeIds: number[];
  /** Set on a continued run: how many PDEs the job has in all. */
  pdesTotal?: number;
  candidateColumns: number;
  llmConcurrency: number;
}

/**
 * Jobs started before splitting moved under the job control split first (a cancel there left the row pending); they
 * replay that way.
 */
const SPLIT_UNDER_JOB_CONTROL = 'split-documents-under-job-control';
/**
 * The same change, decided in the run's first activation, before the admission's local activity: asked after it, a
 * replay can reach the question an activation earlier than the run did, before its marker is announced, and fail as
 * non-deterministic (workflows/control/control.ts, RUN_START_DECISIONS). A separate id, so runs
 * recorded with the marker after the admission replay unchanged.
 */
const SPLIT_UNDER_JOB_CONTROL_FROM_START = 'split-under-job-control-decided-at-run-start';

/** `llm_attribute_generation`: extract attributes from every chunk, then merge them into the plan's PDEs. */
export async function llmAttributeGeneration(
  start: JobStart<AttributeGenerationJobInput>,
): Promise<AttributeGenerationResult> {
  // Progress is counted in chunks (plus the merge): a new job knows how many once it has split its documents.
  const splitUnderControlFromStart = patched(SPLIT_UNDER_JOB_CONTROL_FROM_START);
  const [control, input] = await JobControl.begin(start, (i) => (i.resumeAt ? i.resumeAt.totalChunks + 1 : 0));
  const splitFirst = !input.resumeAt && !(splitUnderControlFromStart || patched(SPLIT_UNDER_JOB_CONTROL));
  const known = input.resumeAt ?? (splitFirst ? allOf(await chunkDocuments(input)) : undefined);
  if (known && !input.resumeAt) control.setTotalSteps(known.totalChunks + 1);
  return control.run(async () => {
    const { chunks, totalChunks } = known ?? (await splitDocuments(control, input));
    control.beginPhase('Extracting attributes');
    const left = await control.forEach(chunks, {
      concurrency: input.llmConcurrency,
      llmCalls: 1,
      label: (chunk) => `document ${chunk.documentId} chunk ${chunk.chunkIndex}`,
      work: async (chunk) => {
        try {
          const outcome = await llm(control).extractAttributeCandidates({
            jobId: input.jobId,
            planId: input.planId,
            chunk,
            llm: control.llmCall(),
          });
          return outcome.status === 'completed';
        } catch (error) {
          if (isInterruption(error)) throw error; // cancelled, or its call deferred by a pause
          // Retries are exhausted or the request can never succeed: record it and let the job go on.
          await database(control).recordChunkFailure({ jobId: input.jobId, chunk, reason: describeError(error) });
          return false;
        }
      },
    });
    if (left.length > 0) {
      return continueAsNew<typeof llmAttributeGeneration>({
        ...input,
        carried: await control.carryOver(),
        resumeAt: { chunks: left, totalChunks },
      });
    }
    control.beginPhase('Merging attributes');
    const result = await database(control).mergePlanAttributes({ jobId: input.jobId, planId: input.planId });
    control.skipSteps(1);
    return {
      status: result.chunks > 0 && result.chunksFailed === result.chunks ? 'failed' : 'completed',
      error: failureSummary(
        result.chunksFailed,
        result.chunks,
        'chunks failed',
        result.failedChunks.map((f) => `${f.document}#${f.chunk} (${f.reason})`),
      ),
      result,
    } satisfies JobOutcome;
  });
}

async function splitDocuments(
  control: JobControl,
  input: AttributeGenerationJobInput,
): Promise<{ chunks: ChunkRef[]; totalChunks: number }> {
  control.beginPhase('Splitting documents');
  const split = allOf(await chunkDocuments(input));
  control.setTotalSteps(split.totalChunks + 1);
  return split;
}

const allOf = (chunks: ChunkRef[]) => ({ chunks, totalChunks: chunks.length });

async function chunkDocuments(input: AttributeGenerationJobInput): Promise<ChunkRef[]> {
  const options = { ...DATABASE_ACTIVITY, priority: { priorityKey: input.priority, fairnessKey: input.owner } };
  return proxyActivities<PlanningActivities>(options).chunkPlanningDocuments({
    documentIds: input.documentIds,
    size: input.chunkSize,
    overlap: input.chunkOverlap,
  });
}

/** `pde_auto_mapping`: suggest a mapping for every PDE given. */
export async function pdeAutoMapping(start: JobStart<PdeMappingJobInput>): Promise<PdeMappingResult> {
  return mapPdes(start);
}

/** `pde_regeneration`: map the chosen PDEs again; mappings a person accepted are skipped and counted. */
export async function pdeRegeneration(start: JobStart<PdeMappingJobInput>): Promise<PdeMappingResult> {
  return mapPdes(start);
}

type MappingWorkflow = (input: PdeMappingJobInput) => Promise<PdeMappingResult>;

async function mapPdes(start: JobStart<PdeMappingJobInput>): Promise<PdeMappingResult> {
  const [control, input] = await JobControl.begin(start, (i) => i.pdesTotal ?? i.pdeIds.length);
  const pdesTotal = input.pdesTotal ?? input.pdeIds.length;
  return control.run(async () => {
    control.beginPhase('Mapping plan data elements');
    const left = await control.forEach(input.pdeIds, {
      concurrency: input.llmConcurrency,
      llmCalls: 1,
      label: (pdeId) => `PDE ${pdeId}`,
      work: async (pdeId) => {
        const { jobId, planId, dataSourceId, candidateColumns } = input;
        try {
          const outcome = await llm(control).mapPlanDataElement({
            jobId,
            planId,
            dataSourceId,
            pdeId,
            candidateColumns,
            llm: control.llmCall(),
          });
          return outcome.outcome !== 'failed';
        } catch (error) {
          if (isInterruption(error)) throw error; // cancelled, or its call deferred by a pause
          await database(control).recordPdeMappingFailure({ jobId, pdeId, reason: describeError(error) });
          return false;
        }
      },
    });
    if (left.length > 0)
      return continueAsNew<MappingWorkflow>({ ...input, carried: await control.carryOver(), pdeIds: left, pdesTotal });
    return mappingOutcome(
      await database(control).summarizePdeMapping({
        jobId: input.jobId,
        planId: input.planId,
        dataSourceId: input.dataSourceId,
        pdesTotal,
      }),
    );
  });
}

function mappingOutcome(result: PdeMappingResult): JobOutcome<PdeMappingResult> {
  return {
    // Every PDE it tried failed: nothing useful came of the job.
    status: result.failed > 0 && result.mapped === 0 ? 'failed' : 'completed',
    error: failureSummary(
      result.failed,
      result.pdesTotal,
      'PDEs failed',
      result.failedPdes.map((f) => `${f.name} (${f.reason})`),
    ),
    result,
  };
}
