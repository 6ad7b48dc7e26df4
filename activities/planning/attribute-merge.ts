// Merges the attribute candidates extracted chunk by chunk into one list without duplicates: candidates
// are the same attribute when their names normalise alike ("Acct No." = "Account Number") or when their
// descriptions say nearly the same thing and their names share a word. Pure and deterministic, so a
// re-run merges identically and the unit test can state the exact result.

import { contentTokens, jaccard, nameTokens, normaliseName } from './planning-text';

export interface AttributeCandidate {
  name: string;
  description: string;
  dataType: string;
  constraints: string[];
}

/** Where a candidate was found: a document (by id and name) and the chunk's index in it. */
export interface CandidateSource {
  documentId: number;
  document: string;
  chunk: number;
}

export type SourcedCandidate = AttributeCandidate & { source: CandidateSource };

export interface ProvenanceEntry extends CandidateSource {
  /** The name as the document spelt it. */
  name: string;
}

export interface MergedAttribute {
  name: string;
  description: string;
  dataType: string;
  constraints: string[];
  provenance: ProvenanceEntry[];
}

/** Descriptions at least this similar (token Jaccard) describe one attribute, if the names also share a word. */
export const DESCRIPTION_SIMILARITY = 0.6;

/** Candidates in document order, then chunk order, then as extracted: the order every tie is broken by. */
function inSourceOrder(candidates: readonly SourcedCandidate[]): SourcedCandidate[] {
  return candidates
    .map((candidate, position) => ({ candidate, position }))
    .sort(
      (a, b) =>
        a.candidate.source.documentId - b.candidate.source.documentId ||
        a.candidate.source.chunk - b.candidate.source.chunk ||
        a.position - b.position,
    )
    .map((x) => x.candidate);
}

function sameAttribute(a: SourcedCandidate, b: SourcedCandidate): boolean {
  if (normaliseName(a.name) === normaliseName(b.name)) return true;
  const sharedNameWord = [...nameTokens(a.name)].some((token) => nameTokens(b.name).has(token));
  return (
    sharedNameWord && jaccard(contentTokens(a.description), contentTokens(b.description)) >= DESCRIPTION_SIMILARITY
  );
}

/** Groups candidates transitively (union-find); each group lists its members in source order. */
function groupsOf(candidates: SourcedCandidate[]): SourcedCandidate[][] {
  const parent = candidates.map((_, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i]!)));
  for (let i = 0; i < candidates.length; i++) {
    for (let j = i + 1; j < candidates.length; j++) {
      if (root(i) !== root(j) && sameAttribute(candidates[i]!, candidates[j]!))
        parent[Math.max(root(i), root(j))] = Math.min(root(i), root(j));
    }
  }
  const groups = new Map<number, SourcedCandidate[]>();
  candidates.forEach((candidate, i) => groups.set(root(i), [...(groups.get(root(i)) ?? []), candidate]));
  return [...groups.values()];
}

/** The value most members give; the first one seen wins a tie. */
function mostCommon(values: string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return values.reduce((best, value) => (counts.get(value)! > counts.get(best)! ? value : best), values[0]!);
}

function mergeGroup(group: SourcedCandidate[]): MergedAttribute {
  return {
    name: mostCommon(group.map((c) => normaliseName(c.name))),
    // The longest description usually says the most; the first one seen wins a tie.
    description: group.reduce(
      (best, c) => (c.description.trim().length > best.length ? c.description.trim() : best),
      '',
    ),
    dataType: mostCommon(group.map((c) => c.dataType)),
    constraints: [...new Set(group.flatMap((c) => c.constraints.map((k) => k.trim()).filter(Boolean)))].sort(),
    provenance: group.map((c) => ({ ...c.source, name: c.name })),
  };
}

/**
 * Merges candidates into attributes, in the order each attribute was first seen. Two groups that end up
 * with the same name (possible only through transitive matches) are kept apart by a numeric suffix.
 */
export function mergeAttributeCandidates(candidates: readonly SourcedCandidate[]): MergedAttribute[] {
  const usable = inSourceOrder(candidates).filter((c) => normaliseName(c.name) !== '');
  const merged = groupsOf(usable).map(mergeGroup);
  const taken = new Map<string, number>();
  return merged.map((attribute) => {
    const seen = taken.get(attribute.name) ?? 0;
    taken.set(attribute.name, seen + 1);
    return seen === 0 ? attribute : { ...attribute, name: `${attribute.name}_${seen + 1}` };
  });
}
