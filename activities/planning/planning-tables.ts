// What the planning jobs store: documents and their chunks, extracted attribute candidates, plan data elements and
// their mappings.
// Composed with the other families' tables into the one `Database` in db/database.ts.

import type { ColumnType, Generated } from 'kysely';
import type { Json } from '../../db/column-types';
import type { AttributeCandidate, ProvenanceEntry } from './attribute-merge';

export interface PlanningDocumentsTable {
  id: Generated<number>;
  plan_id: string;
  name: string;
  content: string;
  created_at: Generated<Date>;
}

export interface PlanningChunksTable {
  document_id: number;
  chunk_index: number;
  start_offset: number;
  content: string;
}

export interface AttributeCandidatesTable {
  job_id: string;
  document_id: number;
  chunk_index: number;
  status: 'completed' | 'failed';
  candidates: Json<AttributeCandidate[]>;
  failure_reason: string | null;
  updated_at: Generated<Date>;
}

export interface PlanDataElementsTable {
  pde_id: Generated<number>;
  plan_id: string;
  name: string;
  description: string;
  data_type: string;
  constraints: ColumnType<string[], string[] | undefined, string[]>;
  source_job_id: string | null;
  /** Where each merged candidate came from; `{ source: 'request' }` for a PDE a mapping request named. */
  provenance: Json<(ProvenanceEntry | { source: 'request' })[]>;
  updated_at: Generated<Date>;
}

export interface PdeMappingsTable {
  plan_id: string;
  pde_id: number;
  job_id: string;
  data_source_id: string;
  column_names: string[];
  confidence: number;
  classification: 'CDE' | 'PII' | 'financial' | 'other';
  risk_rating: 'low' | 'medium' | 'high';
  rationale: string;
  /** A person's `accepted` is never overwritten by a mapping or regeneration job. */
  status: Generated<'suggested' | 'accepted' | 'rejected'>;
  updated_at: Generated<Date>;
}

export interface PdeMappingOutcomesTable {
  job_id: string;
  pde_id: number;
  outcome: 'mapped' | 'failed' | 'skipped_accepted';
  classification: string | null;
  failure_reason: string | null;
  updated_at: Generated<Date>;
}

export interface PlanningTables {
  planning_documents: PlanningDocumentsTable;
  planning_chunks: PlanningChunksTable;
  attribute_candidates: AttributeCandidatesTable;
  plan_data_elements: PlanDataElementsTable;
  pde_mappings: PdeMappingsTable;
  pde_mapping_outcomes: PdeMappingOutcomesTable;
}
