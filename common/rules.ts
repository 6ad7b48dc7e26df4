// The validation-rule DSL: what the LLM may propose. Rules are data; rule execution compiles them to
// parameterised SQL, so nothing the model writes ever reaches the database as SQL text.

export type ValidationRule =
  | { kind: 'not_null' }
  | { kind: 'range'; min?: number; max?: number }
  | { kind: 'allowed_values'; values: string[] }
  | { kind: 'pattern'; regex: string }
  | { kind: 'length'; min?: number; max?: number }
  | { kind: 'unique' }
  | { kind: 'freshness'; maxAgeDays: number }
  | { kind: 'date_range'; notBefore?: string; notAfter?: string };

/** A rule as proposed for one attribute, with the model's reason and a severity for reports. */
export interface ProposedRule {
  rule: ValidationRule;
  description: string;
  severity: 'low' | 'medium' | 'high';
}

/** A column of a data source, as the catalogue describes it. */
export interface AttributeDescriptor {
  name: string;
  dataType: 'integer' | 'numeric' | 'text' | 'date' | 'timestamp' | 'boolean';
  description: string;
}
