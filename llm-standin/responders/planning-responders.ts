// The stand-in's answers to the planning tasks, computed from the prompt alone so tests can state exact
// results: field lines ("Field Name — description") become attributes; a PDE maps to the offered column
// sharing the most words with it, classified and risk-rated from keywords.

import type { CatalogueColumn, PdeDescriptor } from '../../activities/planning/planning-candidates';
import type { CLASSIFICATIONS, DATA_TYPES, RISK_RATINGS } from '../../activities/planning/planning-prompts';
import { contentTokens, jaccard, nameTokens } from '../../activities/planning/planning-text';

type DataType = (typeof DATA_TYPES)[number];
type Classification = (typeof CLASSIFICATIONS)[number];
type Risk = (typeof RISK_RATINGS)[number];

/** "Account Number — Unique identifier …", optionally bulleted or bold. */
const FIELD_LINE = /^\s*(?:[-*]\s+)?(?:\*\*)?([A-Za-z][A-Za-z0-9 ./'()-]{0,60}?)(?:\*\*)?\s+[—–]\s+(.+?)\s*$/;

function dataTypeOf(description: string): DataType {
  if (/\bY\/N\b|\bflag\b|\bindicator\b/i.test(description)) return 'boolean';
  // Counts and amounts first: "past due at the report date" is a number of days, not a date.
  if (/\binteger\b|^number of\b/i.test(description)) return 'integer';
  if (/\bamount\b|\bdollars\b|\bpercentage\b|\brate\b/i.test(description)) return 'numeric';
  if (/\bdate\b|YYYY-MM-DD/i.test(description)) return 'date';
  return 'text';
}

function constraintsOf(description: string): string[] {
  const constraints: string[] = [];
  if (/\brequired\b|\bmust be reported\b/i.test(description)) constraints.push('required');
  if (/\bnon-negative\b/i.test(description)) constraints.push('non-negative');
  const between = /between (-?\d+(?:\.\d+)?) and (-?\d+(?:\.\d+)?)/i.exec(description);
  if (between) constraints.push(`range ${between[1]}..${between[2]}`);
  const format = /\bformat ([^,;]+?)(?:[,;.]|$)/i.exec(description);
  if (format) constraints.push(`format ${format[1]!.trim()}`);
  const oneOf = /one of: ([A-Z0-9_, ]+)/.exec(description);
  if (oneOf)
    constraints.push(
      `one of ${oneOf[1]!
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
        .join(', ')}`,
    );
  return constraints;
}

/** The text between the `<<<` and `>>>` lines of activities/planning/planning-prompts.ts. */
function chunkText(prompt: string): string {
  const start = prompt.indexOf('\n<<<\n');
  const end = prompt.lastIndexOf('\n>>>');
  return start < 0 || end < start ? '' : prompt.slice(start + 5, end);
}

export function answerAttributeExtraction(prompt: string) {
  const attributes = chunkText(prompt)
    .split('\n')
    .map((line) => FIELD_LINE.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map(([, name, description]) => ({
      name: name!.trim(),
      description: description!,
      dataType: dataTypeOf(description!),
      constraints: constraintsOf(description!),
    }));
  return { attributes };
}

function jsonAfter<T>(prompt: string, marker: string): T {
  const line = prompt.split('\n').find((l) => l.startsWith(marker));
  if (!line) throw new Error(`prompt has no ${marker} line`);
  return JSON.parse(line.slice(marker.length)) as T;
}

function classify(pde: PdeDescriptor): Classification {
  const text = `${pde.name} ${pde.description}`;
  if (/\bssn\b|social security|e-?mail|phone|birth|\bzip\b|postal|address/i.test(text)) return 'PII';
  if (/amount|balance|limit|payment|income|\brate\b|\bapr\b|interest|fee|exposure|dollars/i.test(text))
    return 'financial';
  if (/identifier|\bid\b|number|status|score|grade|date/i.test(text)) return 'CDE';
  return 'other';
}

const BASE_RISK: Record<Classification, Risk> = { PII: 'high', financial: 'medium', CDE: 'medium', other: 'low' };
const RAISED: Record<Risk, Risk> = { low: 'medium', medium: 'high', high: 'high' };

export function answerPdeMapping(prompt: string) {
  const pde = jsonAfter<PdeDescriptor>(prompt, 'PDE: ');
  const candidates = jsonAfter<CatalogueColumn[]>(prompt, 'CANDIDATES: ');
  const pdeWords = contentTokens(`${pde.name} ${pde.description}`);
  const scored = candidates.map((c) => ({
    name: c.name,
    names: jaccard(nameTokens(pde.name), nameTokens(c.name)),
    words: jaccard(pdeWords, contentTokens(`${c.name} ${c.description}`)),
  }));
  // Highest name overlap wins, description overlap breaks ties, then the order offered.
  const best = scored.reduce((a, b) => (b.names > a.names || (b.names === a.names && b.words > a.words) ? b : a));
  const overlap = Math.max(best.names, best.words);
  const confidence = Math.round(Math.min(0.99, 0.3 + 0.7 * overlap) * 100) / 100;
  const classification = classify(pde);
  return {
    columnNames: [best.name],
    confidence,
    classification,
    riskRating: confidence < 0.5 ? RAISED[BASE_RISK[classification]] : BASE_RISK[classification],
    rationale: `${best.name} shares the most words with ${pde.name} (name overlap ${best.names.toFixed(2)}, description overlap ${best.words.toFixed(2)})`,
  };
}
