// Attribute generation side effects: cut a plan's documents into overlapping chunks, ask the LLM for the
// attributes each chunk defines (stored per job and chunk; a stored chunk is never sent again), and merge
// every chunk's candidates into the plan's data elements with their provenance.

import { log } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import type { LlmCallContext } from '../../common/llm';
import type { Database } from '../../db/database';
import { mergeAttributeCandidates, type AttributeCandidate, type SourcedCandidate } from './attribute-merge';
import { chunkText } from './chunking';
import { completeStructured, type LlmDeps } from '../llm/llm';
import {
  ATTRIBUTE_EXTRACTION_TASK,
  attributeExtractionPrompt,
  chunkItemKey,
  extractedAttributesSchema,
} from './planning-prompts';
import { jobLlmUsage, type JobLlmUsage } from '../llm/llm-usage';

export interface ChunkRef {
  documentId: number;
  chunkIndex: number;
}

export interface ChunkOutcome {
  status: 'completed' | 'failed';
  candidates: number;
  reason?: string;
  /** True when an earlier attempt had stored the result and the LLM was not asked again. */
  reused: boolean;
}

export interface AttributeGenerationResult {
  planId: string;
  chunks: number;
  chunksFailed: number;
  candidates: number;
  attributes: number;
  duplicatesMerged: number;
  failedChunks: { document: string; chunk: number; reason: string }[];
  llm: JobLlmUsage;
}

export function createAttributeGenerationActivities({ db, llm }: { db: Kysely<Database>; llm: LlmDeps }) {
  /** Stores each document's chunks once (a retry or a second job on the same documents finds them). */
  async function chunkPlanningDocuments(input: {
    documentIds: number[];
    size: number;
    overlap: number;
  }): Promise<ChunkRef[]> {
    const refs: ChunkRef[] = [];
    for (const documentId of input.documentIds) {
      const document = await db
        .selectFrom('planning_documents')
        .select('content')
        .where('id', '=', documentId)
        .executeTakeFirstOrThrow();
      const chunks = chunkText(document.content, input);
      if (chunks.length > 0) {
        await db
          .insertInto('planning_chunks')
          .values(
            chunks.map((c) => ({
              document_id: documentId,
              chunk_index: c.index,
              start_offset: c.start,
              content: c.content,
            })),
          )
          .onConflict((oc) => oc.columns(['document_id', 'chunk_index']).doNothing())
          .execute();
      }
      refs.push(...chunks.map((c) => ({ documentId, chunkIndex: c.index })));
    }
    return refs;
  }

  async function extractAttributeCandidates(input: {
    jobId: string;
    planId: string;
    chunk: ChunkRef;
    llm: LlmCallContext;
  }): Promise<ChunkOutcome> {
    const { jobId, planId, chunk } = input;
    const stored = await db
      .selectFrom('attribute_candidates')
      .select(['status', 'candidates', 'failure_reason'])
      .where('job_id', '=', jobId)
      .where('document_id', '=', chunk.documentId)
      .where('chunk_index', '=', chunk.chunkIndex)
      .executeTakeFirst();
    if (stored)
      return {
        status: stored.status,
        candidates: stored.candidates.length,
        reason: stored.failure_reason ?? undefined,
        reused: true,
      };

    const row = await db
      .selectFrom('planning_chunks')
      .innerJoin('planning_documents', 'planning_documents.id', 'planning_chunks.document_id')
      .select(['planning_documents.name', 'planning_chunks.content'])
      .where('document_id', '=', chunk.documentId)
      .where('chunk_index', '=', chunk.chunkIndex)
      .executeTakeFirstOrThrow();
    const prompt = attributeExtractionPrompt(
      { planId, document: row.name, chunkIndex: chunk.chunkIndex, content: row.content },
      llm.settings.maxPromptTokens,
    );
    const item = chunkItemKey(planId, row.name, chunk.chunkIndex);
    log.info('extracting attributes', { jobId, item });
    const answer = await completeStructured(
      llm,
      { ...prompt, name: ATTRIBUTE_EXTRACTION_TASK, schema: extractedAttributesSchema },
      { ...input.llm, item },
    );
    const candidates: AttributeCandidate[] = answer.ok ? answer.value.attributes : [];
    await storeChunkOutcome(
      jobId,
      chunk,
      answer.ok ? { status: 'completed', candidates } : { status: 'failed', candidates, reason: answer.reason },
    );
    return {
      status: answer.ok ? 'completed' : 'failed',
      candidates: candidates.length,
      reason: answer.ok ? undefined : answer.reason,
      reused: false,
    };
  }

  async function storeChunkOutcome(
    jobId: string,
    chunk: ChunkRef,
    outcome: { status: 'completed' | 'failed'; candidates: AttributeCandidate[]; reason?: string },
  ): Promise<void> {
    await db
      .insertInto('attribute_candidates')
      .values({
        job_id: jobId,
        document_id: chunk.documentId,
        chunk_index: chunk.chunkIndex,
        status: outcome.status,
        candidates: JSON.stringify(outcome.candidates),
        failure_reason: outcome.reason ?? null,
      })
      .onConflict((oc) => oc.columns(['job_id', 'document_id', 'chunk_index']).doNothing())
      .execute();
  }

  /** Records a chunk whose activity failed for good (retries exhausted or a non-retryable error). */
  async function recordChunkFailure(input: { jobId: string; chunk: ChunkRef; reason: string }): Promise<void> {
    await storeChunkOutcome(input.jobId, input.chunk, { status: 'failed', candidates: [], reason: input.reason });
  }

  /** Merges the job's candidates and writes them as the plan's data elements (upserted by name). */
  async function mergePlanAttributes(input: { jobId: string; planId: string }): Promise<AttributeGenerationResult> {
    const rows = await db
      .selectFrom('attribute_candidates')
      .innerJoin('planning_documents', 'planning_documents.id', 'attribute_candidates.document_id')
      .select([
        'document_id',
        'planning_documents.name as document',
        'chunk_index',
        'status',
        'candidates',
        'failure_reason',
      ])
      .where('job_id', '=', input.jobId)
      .orderBy('document_id')
      .orderBy('chunk_index')
      .execute();
    const sourced: SourcedCandidate[] = rows
      .filter((r) => r.status === 'completed')
      .flatMap((r) =>
        r.candidates.map((c) => ({
          ...c,
          source: { documentId: Number(r.document_id), document: r.document, chunk: r.chunk_index },
        })),
      );
    const merged = mergeAttributeCandidates(sourced);
    if (merged.length > 0) {
      await db
        .insertInto('plan_data_elements')
        .values(
          merged.map((a) => ({
            plan_id: input.planId,
            name: a.name,
            description: a.description,
            data_type: a.dataType,
            constraints: a.constraints,
            source_job_id: input.jobId,
            provenance: JSON.stringify(a.provenance),
          })),
        )
        .onConflict((oc) =>
          oc.columns(['plan_id', 'name']).doUpdateSet((eb) => ({
            description: eb.ref('excluded.description'),
            data_type: eb.ref('excluded.data_type'),
            constraints: eb.ref('excluded.constraints'),
            source_job_id: eb.ref('excluded.source_job_id'),
            provenance: eb.ref('excluded.provenance'),
            updated_at: new Date(),
          })),
        )
        .execute();
    }
    const failed = rows.filter((r) => r.status === 'failed');
    return {
      planId: input.planId,
      chunks: rows.length,
      chunksFailed: failed.length,
      candidates: sourced.length,
      attributes: merged.length,
      duplicatesMerged: sourced.length - merged.length,
      failedChunks: failed.map((r) => ({
        document: r.document,
        chunk: r.chunk_index,
        reason: r.failure_reason ?? 'unknown',
      })),
      llm: await jobLlmUsage(db, input.jobId),
    };
  }

  return { chunkPlanningDocuments, extractAttributeCandidates, recordChunkFailure, mergePlanAttributes };
}
