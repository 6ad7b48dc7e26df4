// The deterministic pre-filter of PDE mapping: ranks a data source's catalogue columns by name, description
// and type similarity to the PDE and keeps the top k, so a prompt stays small (k columns, not hundreds)
// and the LLM's answer can be checked against exactly what it was offered.

import { contentTokens, jaccard, nameTokens } from './planning-text';

export interface CatalogueColumn {
  name: string;
  dataType: string;
  description: string;
}

export interface PdeDescriptor {
  name: string;
  description: string;
  dataType: string;
}

/** Type families: a PDE typed "decimal" fits a numeric column, "string" a text one. */
function typeFamily(dataType: string): string {
  const type = dataType.toLowerCase();
  if (/int|num|dec|float|double|real|money|amount/.test(type)) return 'number';
  if (/timestamp|date|time/.test(type)) return 'date';
  if (/bool|flag/.test(type)) return 'boolean';
  return 'text';
}

/** Name similarity counts most, the descriptions next, a compatible type breaks near-ties. */
export function similarity(pde: PdeDescriptor, column: CatalogueColumn): number {
  const names = jaccard(nameTokens(pde.name), nameTokens(column.name));
  const texts = jaccard(
    contentTokens(`${pde.name} ${pde.description}`),
    contentTokens(`${column.name} ${column.description}`),
  );
  const types = typeFamily(pde.dataType) === typeFamily(column.dataType) ? 1 : 0;
  return 0.6 * names + 0.3 * texts + 0.1 * types;
}

/** The k most similar columns, best first; equal scores keep catalogue order. */
export function topCandidateColumns(
  pde: PdeDescriptor,
  catalogue: readonly CatalogueColumn[],
  k: number,
): CatalogueColumn[] {
  return catalogue
    .map((column, position) => ({ column, position, score: similarity(pde, column) }))
    .sort((a, b) => b.score - a.score || a.position - b.position)
    .slice(0, k)
    .map((ranked) => ranked.column);
}
