// Text helpers the planning jobs share (merging extracted attributes, pre-filtering catalogue columns,
// the stand-in's answers): one tokenizer and one name normalisation, so "Acct No." means the same everywhere.

const STOPWORDS = new Set([
  'a',
  'an',
  'and',
  'any',
  'as',
  'at',
  'be',
  'by',
  'each',
  'for',
  'from',
  'in',
  'is',
  'its',
  'of',
  'on',
  'or',
  'per',
  'that',
  'the',
  'this',
  'to',
  'with',
]);

/** Abbreviations regulatory documents and catalogues use interchangeably, mapped to one spelling. */
const SYNONYMS: Record<string, string> = {
  acct: 'account',
  num: 'number',
  nbr: 'number',
  identifier: 'id',
  ident: 'id',
  amt: 'amount',
  bal: 'balance',
  dt: 'date',
  cd: 'code',
  desc: 'description',
  pct: 'percent',
  addr: 'address',
  mail: 'email',
  zipcode: 'zip',
};

/** In a field name "No." is "number"; in prose it means no, so only names expand it. */
const NAME_SYNONYMS: Record<string, string> = { ...SYNONYMS, no: 'number' };

/** Lower-case alphanumeric words, abbreviations expanded; stopwords kept (names need them verbatim). */
export function words(text: string, synonyms = SYNONYMS): string[] {
  return (
    text
      .toLowerCase()
      .replace(/e-mail/g, 'email')
      .match(/[a-z0-9]+/g) ?? []
  ).map((w) => synonyms[w] ?? w);
}

/** Tokens of a field or column name, as normaliseName reads it. */
export function nameTokens(name: string): Set<string> {
  return contentTokens(name, NAME_SYNONYMS);
}

/** Content words of a text: as `words`, without stopwords, as a set. */
export function contentTokens(text: string, synonyms = SYNONYMS): Set<string> {
  return new Set(words(text, synonyms).filter((w) => !STOPWORDS.has(w)));
}

/** "Acct No." and "Account Number" both become `account_number`. */
export function normaliseName(name: string): string {
  return words(name, NAME_SYNONYMS).join('_');
}

export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 0;
  let shared = 0;
  for (const token of a) if (b.has(token)) shared++;
  return shared / (a.size + b.size - shared);
}

/** Share of `a`'s tokens that `b` holds too (how much of a PDE a column covers). */
export function coverage(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0) return 0;
  let shared = 0;
  for (const token of a) if (b.has(token)) shared++;
  return shared / a.size;
}
