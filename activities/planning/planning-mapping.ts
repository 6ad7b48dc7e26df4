// PDE auto-mapping side effects: for one plan data element, pre-filter the data source's catalogue to the
// top-k similar columns, ask the LLM to pick among them (answers naming other columns are invalid and asked
// again), and store the plan's current mapping — never over one a person accepted. Each job's outcome per
// PDE is stored too, so a retried or continued PDE is never sent to the LLM again.

import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import { FailureType } from '../../common/failures';
import type { LlmCallContext } from '../../common/llm';
import type { Database } from '../../db/database';
import { completeStructured, type LlmDeps } from '../llm/llm';
import { topCandidateColumns, type CatalogueColumn } from './planning-candidates';
import {
  PDE_MAPPING_TASK,
  pdeItemKey,
  pdeMappingPrompt,
  pdeMappingSchema,
  type PdeMappingAnswer,
} from './planning-prompts';
import { jobLlmUsage, type JobLlmUsage } from '../llm/llm-usage';

export interface PdeMappingOutcome {
  pdeId: number;
  outcome: 'mapped' | 'failed' | 'skipped_accepted';
  classification?: string;
  reason?: string;
  reused: boolean;
}

export interface PdeMappingResult {
  planId: string;
  dataSourceId: string;
  pdesTotal: number;
  mapped: number;
  failed: number;
  skippedAccepted: number;
  byClassification: Record<string, number>;
  failedPdes: { pdeId: number; name: string; reason: string }[];
  llm: JobLlmUsage;
}

export interface MapPdeInput {
  jobId: string;
  planId: string;
  dataSourceId: string;
  pdeId: number;
  /** How many pre-filtered catalogue columns the prompt offers. */
  candidateColumns: number;
  llm: LlmCallContext;
}

/** A catalogue changes rarely; re-reading it for each of 10 000 PDEs would be most of a job's queries. */
const CATALOGUE_TTL_MS = 30_000;

export function createPdeMappingActivities({ db, llm }: { db: Kysely<Database>; llm: LlmDeps }) {
  const catalogues = new Map<string, { readAt: number; columns: Promise<CatalogueColumn[]> }>();

  function catalogueOf(dataSourceId: string): Promise<CatalogueColumn[]> {
    const cached = catalogues.get(dataSourceId);
    if (cached && Date.now() - cached.readAt < CATALOGUE_TTL_MS) return cached.columns;
    const columns = db
      .selectFrom('data_source_attributes')
      .select(['name', 'data_type as dataType', 'description'])
      .where('data_source_id', '=', dataSourceId)
      .orderBy('position')
      .execute();
    catalogues.set(dataSourceId, { readAt: Date.now(), columns });
    columns.catch(() => catalogues.delete(dataSourceId));
    return columns;
  }

  async function storeOutcome(
    executor: Kysely<Database>,
    jobId: string,
    outcome: PdeMappingOutcome,
  ): Promise<PdeMappingOutcome> {
    await executor
      .insertInto('pde_mapping_outcomes')
      .values({
        job_id: jobId,
        pde_id: outcome.pdeId,
        outcome: outcome.outcome,
        classification: outcome.classification ?? null,
        failure_reason: outcome.reason ?? null,
      })
      .onConflict((oc) => oc.columns(['job_id', 'pde_id']).doNothing())
      .execute();
    return outcome;
  }

  async function mapPlanDataElement(input: MapPdeInput): Promise<PdeMappingOutcome> {
    const { jobId, planId, pdeId } = input;
    const stored = await db
      .selectFrom('pde_mapping_outcomes')
      .selectAll()
      .where('job_id', '=', jobId)
      .where('pde_id', '=', pdeId)
      .executeTakeFirst();
    if (stored)
      return {
        pdeId,
        outcome: stored.outcome,
        classification: stored.classification ?? undefined,
        reason: stored.failure_reason ?? undefined,
        reused: true,
      };

    const pde = await db
      .selectFrom('plan_data_elements')
      .select(['name', 'description', 'data_type'])
      .where('plan_id', '=', planId)
      .where('pde_id', '=', pdeId)
      .executeTakeFirst();
    if (!pde)
      return storeOutcome(db, jobId, {
        pdeId,
        outcome: 'failed',
        reason: `PDE ${pdeId} is no longer in plan ${planId}`,
        reused: false,
      });
    const current = await db
      .selectFrom('pde_mappings')
      .select('status')
      .where('plan_id', '=', planId)
      .where('pde_id', '=', pdeId)
      .executeTakeFirst();
    if (current?.status === 'accepted')
      return storeOutcome(db, jobId, { pdeId, outcome: 'skipped_accepted', reused: false });

    const catalogue = await catalogueOf(input.dataSourceId);
    if (catalogue.length === 0)
      throw ApplicationFailure.nonRetryable(
        `data source ${input.dataSourceId} has no catalogue columns`,
        FailureType.InvalidJobInput,
      );
    const descriptor = { pdeId, name: pde.name, description: pde.description, dataType: pde.data_type };
    const offered = topCandidateColumns(descriptor, catalogue, input.candidateColumns);
    log.info('mapping plan data element', { jobId, pdeId, offered: offered.length });
    const answer = await completeStructured(
      llm,
      {
        ...pdeMappingPrompt(planId, descriptor, offered, llm.settings.maxPromptTokens),
        name: PDE_MAPPING_TASK,
        schema: pdeMappingSchema(offered.map((c) => c.name)),
      },
      { ...input.llm, item: pdeItemKey(planId, pdeId) },
    );
    if (!answer.ok) return storeOutcome(db, jobId, { pdeId, outcome: 'failed', reason: answer.reason, reused: false });
    return storeMapping(input, answer.value);
  }

  /** Writes the suggestion unless a person accepted a mapping meanwhile; the outcome commits with it. */
  async function storeMapping(input: MapPdeInput, answer: PdeMappingAnswer): Promise<PdeMappingOutcome> {
    const { jobId, planId, pdeId } = input;
    const mapping = {
      job_id: jobId,
      data_source_id: input.dataSourceId,
      column_names: [...new Set(answer.columnNames)],
      confidence: answer.confidence,
      classification: answer.classification,
      risk_rating: answer.riskRating,
      rationale: answer.rationale,
      status: 'suggested' as const,
      updated_at: new Date(),
    };
    return db.transaction().execute(async (trx) => {
      const written = await trx
        .insertInto('pde_mappings')
        .values({ plan_id: planId, pde_id: pdeId, ...mapping })
        .onConflict((oc) =>
          oc.columns(['plan_id', 'pde_id']).doUpdateSet(mapping).where('pde_mappings.status', '<>', 'accepted'),
        )
        .returning('pde_id')
        .executeTakeFirst();
      const outcome: PdeMappingOutcome = written
        ? { pdeId, outcome: 'mapped', classification: answer.classification, reused: false }
        : { pdeId, outcome: 'skipped_accepted', reused: false };
      return storeOutcome(trx, jobId, outcome);
    });
  }

  /** Records a PDE whose activity failed for good (retries exhausted or a non-retryable error). */
  async function recordPdeMappingFailure(input: { jobId: string; pdeId: number; reason: string }): Promise<void> {
    await storeOutcome(db, input.jobId, { pdeId: input.pdeId, outcome: 'failed', reason: input.reason, reused: false });
  }

  async function summarizePdeMapping(input: {
    jobId: string;
    planId: string;
    dataSourceId: string;
    pdesTotal: number;
  }): Promise<PdeMappingResult> {
    const outcomes = await db
      .selectFrom('pde_mapping_outcomes')
      .innerJoin('plan_data_elements', 'plan_data_elements.pde_id', 'pde_mapping_outcomes.pde_id')
      .select(['pde_mapping_outcomes.pde_id', 'name', 'outcome', 'classification', 'failure_reason'])
      .where('job_id', '=', input.jobId)
      .orderBy('pde_mapping_outcomes.pde_id')
      .execute();
    const count = (outcome: string) => outcomes.filter((o) => o.outcome === outcome).length;
    const byClassification: Record<string, number> = {};
    for (const o of outcomes)
      if (o.outcome === 'mapped' && o.classification)
        byClassification[o.classification] = (byClassification[o.classification] ?? 0) + 1;
    const failed = outcomes.filter((o) => o.outcome === 'failed');
    return {
      planId: input.planId,
      dataSourceId: input.dataSourceId,
      pdesTotal: input.pdesTotal,
      mapped: count('mapped'),
      failed: failed.length,
      skippedAccepted: count('skipped_accepted'),
      byClassification,
      // The job row keeps a readable sample; every failure stays in pde_mapping_outcomes.
      failedPdes: failed
        .slice(0, 50)
        .map((o) => ({ pdeId: Number(o.pde_id), name: o.name, reason: o.failure_reason ?? 'unknown' })),
      llm: await jobLlmUsage(db, input.jobId),
    };
  }

  return { mapPlanDataElement, recordPdeMappingFailure, summarizePdeMapping };
}
