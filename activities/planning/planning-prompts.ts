// Prompt text and answer schemas of the planning jobs' LLM tasks. The `TASK:` and `ITEM:` lines are the
// contract with the local stand-in (llm-standin/responders/planning-responders.ts); the one-line JSON blocks after
// `PDE:` and `CANDIDATES:` are how it, and a reader of the logs, find the data in the prompt.

import { z } from 'zod';
import type { CatalogueColumn } from './planning-candidates';
import {
  CHARS_PER_TOKEN,
  DESCRIPTION_MAX_CHARS,
  fitPrompt,
  NAME_MAX_CHARS,
  promptTokens,
  truncateText,
  truncationMarker,
  type PromptText,
} from '../llm/prompt-budget';

export const ATTRIBUTE_EXTRACTION_TASK = 'extract_plan_attributes';
export const PDE_MAPPING_TASK = 'map_plan_data_element';

export const DATA_TYPES = ['integer', 'numeric', 'text', 'date', 'timestamp', 'boolean'] as const;
export const CLASSIFICATIONS = ['CDE', 'PII', 'financial', 'other'] as const;
export const RISK_RATINGS = ['low', 'medium', 'high'] as const;

export const extractedAttributesSchema = z.object({
  attributes: z
    .array(
      z.object({
        name: z.string().trim().min(1).max(200),
        description: z.string().trim().max(2_000),
        dataType: z.enum(DATA_TYPES),
        constraints: z.array(z.string().trim().max(300)).max(20).default([]),
      }),
    )
    .max(200),
});

const EXTRACTION_SYSTEM_PROMPT = `You are a regulatory-reporting analyst. From an excerpt of a reporting instruction, list the data
fields (attributes) a bank must report. Answer with JSON only:
{"attributes": [{"name": string, "description": string, "dataType": "integer"|"numeric"|"text"|"date"|"timestamp"|"boolean",
"constraints": [string]}]}. Use the field names as the document writes them; put required-ness, ranges, formats and
allowed values in constraints. List only fields the excerpt defines; an excerpt defining none gives {"attributes": []}.`;

/** Collapses whitespace so a name can never break the one-line ITEM contract. */
const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();

/**
 * One chunk of a document, within `maxTokens`. Chunks are at most 20 000 characters (the job's `chunkSize`
 * limit), so only a budget set below that cuts one: the text is then cut at the end, marked, and the
 * delimiters stay.
 */
export function attributeExtractionPrompt(
  chunk: { planId: string; document: string; chunkIndex: number; content: string },
  maxTokens: number,
): PromptText {
  const render = (content: string) => {
    const user = [
      `TASK: ${ATTRIBUTE_EXTRACTION_TASK}`,
      `ITEM: ${chunkItemKey(chunk.planId, chunk.document, chunk.chunkIndex)}`,
      `Document: ${documentName(chunk.document)}, chunk ${chunk.chunkIndex}`,
      'Text:',
      '<<<',
      content,
      '>>>',
    ].join('\n');
    return { system: EXTRACTION_SYSTEM_PROMPT, user };
  };
  const frame = render('');
  const room = (maxTokens - promptTokens(frame)) * CHARS_PER_TOKEN - truncationMarker(chunk.content.length).length;
  return fitPrompt(
    [() => render(chunk.content), () => render(truncateText(chunk.content, Math.max(0, room)))],
    maxTokens,
  );
}

/** The answer must name only offered columns: anything else is invalid output and is asked again. */
export function pdeMappingSchema(offered: readonly string[]) {
  return z.object({
    columnNames: z
      .array(z.enum(offered as [string, ...string[]]))
      .min(1)
      .max(3),
    confidence: z.number().min(0).max(1),
    classification: z.enum(CLASSIFICATIONS),
    riskRating: z.enum(RISK_RATINGS),
    rationale: z.string().max(1_000).default(''),
  });
}

export type PdeMappingAnswer = z.output<ReturnType<typeof pdeMappingSchema>>;

const MAPPING_SYSTEM_PROMPT = `You map a plan data element (PDE) of a regulatory report to the data-source column(s) that hold it.
Choose only among the candidate columns given. Answer with JSON only:
{"columnNames": [string, 1 to 3 candidate names], "confidence": number 0-1, "classification": "CDE"|"PII"|"financial"|"other",
"riskRating": "low"|"medium"|"high", "rationale": string}. Classification: PII for personal data (names, contact data,
government ids), financial for amounts, balances and rates, CDE for other critical data elements, else other.`;

export interface PdeForPrompt {
  pdeId: number;
  name: string;
  description: string;
  dataType: string;
}

/**
 * The PDE and its candidate columns, within `maxTokens`. Every candidate stays (the answer may name only
 * them); over budget their descriptions are shortened, then dropped, then the PDE's own description is shortened.
 */
export function pdeMappingPrompt(
  planId: string,
  pde: PdeForPrompt,
  candidates: readonly CatalogueColumn[],
  maxTokens: number,
): PromptText {
  const render = (candidateChars: number, pdeChars: number) => {
    const user = [
      `TASK: ${PDE_MAPPING_TASK}`,
      `ITEM: ${pdeItemKey(planId, pde.pdeId)}`,
      `PDE: ${JSON.stringify({ name: truncateText(pde.name, NAME_MAX_CHARS), description: truncateText(pde.description, pdeChars), dataType: pde.dataType })}`,
      `CANDIDATES: ${JSON.stringify(candidates.map((c) => ({ name: c.name, dataType: c.dataType, description: truncateText(c.description, candidateChars) })))}`,
    ].join('\n');
    return { system: MAPPING_SYSTEM_PROMPT, user };
  };
  return fitPrompt(
    [
      () => render(DESCRIPTION_MAX_CHARS, DESCRIPTION_MAX_CHARS),
      () => render(200, DESCRIPTION_MAX_CHARS),
      () => render(0, DESCRIPTION_MAX_CHARS),
      () => render(0, 200),
    ],
    maxTokens,
  );
}

/** The ITEM key of a PDE's mapping call, as the stand-in counts it and llm_calls records it. */
export const pdeItemKey = (planId: string, pdeId: number) => `${oneLine(planId)}/pde-${pdeId}`;

/** The ITEM key of a chunk's extraction call: plan, document name (cut, as in the prompt) and chunk index. */
export const chunkItemKey = (planId: string, document: string, chunkIndex: number) =>
  `${oneLine(planId)}/${documentName(document)}#${chunkIndex}`;

const documentName = (document: string) => truncateText(oneLine(document), NAME_MAX_CHARS);
