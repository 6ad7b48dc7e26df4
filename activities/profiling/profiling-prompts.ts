// Prompt text for the LLM tasks. The `TASK:` and `ITEM:` lines are part of the contract with the local
// stand-in (it answers per task and counts calls per item); a real model just reads them as context.

import type { AttributeDescriptor } from '../../common/rules';
import type { ColumnProfile } from './column-profile';
import { DESCRIPTION_MAX_CHARS, fitPrompt, truncateText, type PromptText } from '../llm/prompt-budget';

export const VALIDATION_RULES_TASK = 'generate_validation_rules';

const RULES_SYSTEM_PROMPT = `You are a data-quality analyst. Propose validation rules for one column of a table.
Answer with JSON only: {"rules": [{"rule": RULE, "description": string, "severity": "low"|"medium"|"high"}]}.
RULE is one of:
{"kind":"not_null"} | {"kind":"range","min"?:number,"max"?:number} | {"kind":"allowed_values","values":[string]}
| {"kind":"pattern","regex":string (POSIX regular expression)} | {"kind":"length","min"?:int,"max"?:int}
| {"kind":"unique"} | {"kind":"freshness","maxAgeDays":int} | {"kind":"date_range","notBefore"?:"YYYY-MM-DD","notAfter"?:"YYYY-MM-DD"}
Use only what the column's description and profile support. Never write SQL.`;

/**
 * The column and its profile, within `maxTokens`. Values in the profile are already cut to a bounded length
 * (column-profile.ts); an over-budget prompt drops, in this order, most common values beyond the first three,
 * then the rest of them, then the extremes, and shortens the description.
 */
export function validationRulesPrompt(
  dataSourceId: string,
  attribute: AttributeDescriptor,
  profile: ColumnProfile,
  maxTokens: number,
): PromptText {
  const render = (topValues: number, extremes: boolean, descriptionChars: number) => {
    const shown = {
      ...profile,
      topValues: profile.topValues.slice(0, topValues),
      ...(extremes ? {} : { min: null, max: null }),
    };
    const column = {
      name: attribute.name,
      dataType: attribute.dataType,
      description: truncateText(attribute.description, descriptionChars),
      profile: shown,
    };
    const user = [
      `TASK: ${VALIDATION_RULES_TASK}`,
      `ITEM: ${dataSourceId}.${attribute.name}`,
      'Column:',
      JSON.stringify(column, null, 2),
    ].join('\n');
    return { system: RULES_SYSTEM_PROMPT, user };
  };
  return fitPrompt(
    [
      () => render(Infinity, true, DESCRIPTION_MAX_CHARS),
      () => render(3, true, DESCRIPTION_MAX_CHARS),
      () => render(0, true, DESCRIPTION_MAX_CHARS),
      () => render(0, false, 200),
    ],
    maxTokens,
  );
}
