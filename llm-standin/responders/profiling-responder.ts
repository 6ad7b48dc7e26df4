// The stand-in's answer to `generate_validation_rules`: reads the column description from the prompt
// and proposes the rules a careful analyst would, deterministically, in the rule DSL.

import type { ProposedRule, ValidationRule } from '../../common/rules';

interface ColumnInPrompt {
  name: string;
  dataType: string;
  description: string;
}

/** Pulls the JSON column block that activities/profiling/profiling-prompts.ts puts after the `Column:` line. */
function columnFromPrompt(prompt: string): ColumnInPrompt {
  const start = prompt.indexOf('{', prompt.indexOf('Column:'));
  if (start < 0) throw new Error('prompt has no column block');
  return JSON.parse(prompt.slice(start)) as ColumnInPrompt;
}

const proposal = (
  rule: ValidationRule,
  description: string,
  severity: ProposedRule['severity'] = 'medium',
): ProposedRule => ({ rule, description, severity });

/** Digit-shape formats as the data dictionary writes them ("NNN-NNN-NNNN"), as a POSIX regex. */
const formatRegex = (shape: string) => `^${shape.replace(/N/g, '[0-9]')}$`;

function rulesFromDescription(column: ColumnInPrompt): ProposedRule[] {
  const text = column.description;
  const rules: ProposedRule[] = [];
  if (!/self-reported|optional/i.test(text))
    rules.push(proposal({ kind: 'not_null' }, `${column.name} must be present`, 'high'));

  const between = /between (-?[\d.]+) and (-?[\d.]+)/i.exec(text);
  if (between && column.dataType === 'text')
    rules.push(
      proposal({ kind: 'length', min: Number(between[1]), max: Number(between[2]) }, `${column.name} length bounds`),
    );
  else if (between)
    rules.push(
      proposal(
        { kind: 'range', min: Number(between[1]), max: Number(between[2]) },
        `${column.name} within documented bounds`,
        'high',
      ),
    );

  const oneOf = /one of: ([A-Z0-9_, ]+)/.exec(text);
  if (oneOf)
    rules.push(
      proposal(
        {
          kind: 'allowed_values',
          values: oneOf[1]!
            .split(',')
            .map((v) => v.trim())
            .filter(Boolean),
        },
        `${column.name} from its code list`,
        'high',
      ),
    );

  const prefixed = /format ([A-Z]+) followed by (\d+) digits/.exec(text);
  const shaped = /format (N[N-]*N)\b/.exec(text);
  if (/valid email/i.test(text))
    rules.push(
      proposal({ kind: 'pattern', regex: '^[^@[:space:]]+@[^@[:space:]]+\\.[a-z]{2,}$' }, 'well-formed email address'),
    );
  else if (prefixed)
    rules.push(proposal({ kind: 'pattern', regex: `^${prefixed[1]}[0-9]{${prefixed[2]}}$` }, `${column.name} format`));
  else if (shaped) rules.push(proposal({ kind: 'pattern', regex: formatRegex(shaped[1]!) }, `${column.name} format`));

  const fixedLength = /length (\d+)$/.exec(text);
  if (fixedLength)
    rules.push(
      proposal(
        { kind: 'length', min: Number(fixedLength[1]), max: Number(fixedLength[1]) },
        `${column.name} fixed length`,
      ),
    );
  if (/unique/i.test(text)) rules.push(proposal({ kind: 'unique' }, `${column.name} identifies one record`, 'high'));

  const within = /within (\d+) days/.exec(text);
  if (within)
    rules.push(proposal({ kind: 'freshness', maxAgeDays: Number(within[1]) }, `${column.name} is recent`, 'low'));
  const notBefore = /not before (\d{4}-\d{2}-\d{2})/.exec(text);
  if (notBefore) rules.push(proposal({ kind: 'date_range', notBefore: notBefore[1] }, `${column.name} is plausible`));
  return rules;
}

export function answerValidationRules(prompt: string): { rules: ProposedRule[] } {
  return { rules: rulesFromDescription(columnFromPrompt(prompt)) };
}
