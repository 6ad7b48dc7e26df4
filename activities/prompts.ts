// Prompt text for the LLM tasks. The `TASK:` and `ITEM:` lines are part of the contract with the local
// stand-in (it answers per task and counts calls per item); a real model just reads them as context.

import type { AttributeDescriptor } from '../common/rules';
import type { ColumnProfile } from './column-profile';

export const VALIDATION_RULES_TASK = 'generate_validation_rules';

const RULES_SYSTEM_PROMPT = `You are a data-quality analyst. Propose validation rules for one column of a table.
Answer with JSON only: {"rules": [{"rule": RULE, "description": string, "severity": "low"|"medium"|"high"}]}.
RULE is one of:
{"kind":"not_null"} | {"kind":"range","min"?:number,"max"?:number} | {"kind":"allowed_values","values":[string]}
| {"kind":"pattern","regex":string (POSIX regular expression)} | {"kind":"length","min"?:int,"max"?:int}
| {"kind":"unique"} | {"kind":"freshness","maxAgeDays":int} | {"kind":"date_range","notBefore"?:"YYYY-MM-DD","notAfter"?:"YYYY-MM-DD"}
Use only what the column's description and profile support. Never write SQL.`;

export function validationRulesPrompt(dataSourceId: string, attribute: AttributeDescriptor, profile: ColumnProfile) {
  const user = [
    `TASK: ${VALIDATION_RULES_TASK}`,
    `ITEM: ${dataSourceId}.${attribute.name}`,
    'Column:',
    JSON.stringify({ name: attribute.name, dataType: attribute.dataType, description: attribute.description, profile }, null, 2),
  ].join('\n');
  return { system: RULES_SYSTEM_PROMPT, user };
}
