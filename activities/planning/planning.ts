// The planning family's activities in one factory: attribute generation from documents and PDE mapping.

import type { Kysely } from 'kysely';
import type { Database } from '../../db/database';
import type { LlmDeps } from '../llm/llm';
import { createAttributeGenerationActivities } from './planning-generation';
import { createPdeMappingActivities } from './planning-mapping';

export function createPlanningActivities(deps: { db: Kysely<Database>; llm: LlmDeps }) {
  return { ...createAttributeGenerationActivities(deps), ...createPdeMappingActivities(deps) };
}
