// Text PostgreSQL can store: no NUL (text and jsonb refuse it) and no lone UTF-16 surrogate (pg encodes
// one as U+FFFD, so two different strings would be stored alike). One check for every request and import.

/** A high surrogate not followed by a low one, or a low one not preceded by a high one (matched by code unit). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `text` cannot be stored as it is, or undefined when it can. */
export function unstorableTextProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000), which PostgreSQL cannot store';
  if (LONE_SURROGATE.test(text))
    return 'contains a lone UTF-16 surrogate (not a character), which cannot be stored as given';
  return undefined;
}

export interface UnstorableText {
  /** Dotted path of the string, or of the object whose key it is (`metadata.notes`; `(body)` for the value itself). */
  field: string;
  problem: string;
}

/**
 * The first string or object key anywhere in `value` that cannot be stored, depth first. Iterative, so a
 * value nested thousands deep is walked without exhausting the stack.
 */
export function findUnstorableText(value: unknown, whole = '(body)'): UnstorableText | undefined {
  const stack: [unknown, string[]][] = [[value, []]];
  const name = (path: string[]) => (path.length ? path.join('.') : whole);
  while (stack.length > 0) {
    const [current, path] = stack.pop()!;
    if (typeof current === 'string') {
      const problem = unstorableTextProblem(current);
      if (problem) return { field: name(path), problem };
    } else if (Array.isArray(current)) {
      for (let index = current.length - 1; index >= 0; index--) stack.push([current[index], [...path, String(index)]]);
    } else if (typeof current === 'object' && current !== null) {
      const entries = Object.entries(current);
      for (const [key] of entries) {
        const problem = unstorableTextProblem(key);
        // The key is named escaped (JSON), so the answer itself stays storable and printable.
        if (problem) return { field: name(path), problem: `key ${JSON.stringify(key)} ${problem}` };
      }
      for (let index = entries.length - 1; index >= 0; index--)
        stack.push([entries[index]![1], [...path, entries[index]![0]]]);
    }
  }
  return undefined;
}

/**
 * `text` made storable for records that must be written whatever came in (audit, reports): NUL shown as `\0`, lone
 * surrogates as U+FFFD.
 */
export function storableText(text: string): string {
  return text.replaceAll('\u0000', '\\0').replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD');
}
