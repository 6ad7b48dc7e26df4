// The pure parts of attribute generation on their own: overlapping, line-aware chunking, and merging
// candidates into de-duplicated attributes with provenance (names normalised, similar descriptions joined).

import { mergeAttributeCandidates, type SourcedCandidate } from '../../activities/planning/attribute-merge';
import { chunkText } from '../../activities/planning/chunking';
import { normaliseName } from '../../activities/planning/planning-text';

const candidate = (
  name: string,
  description: string,
  documentId: number,
  chunk: number,
  extra: Partial<SourcedCandidate> = {},
): SourcedCandidate => ({
  name,
  description,
  dataType: 'text',
  constraints: [],
  source: { documentId, document: `doc-${documentId}`, chunk },
  ...extra,
});

describe('chunkText', () => {
  const text = Array.from({ length: 10 }, (_, i) => `line ${i} ${'x'.repeat(20)}\n`).join(''); // 10 lines of 28 characters

  it('ends chunks at line breaks and repeats the last lines that fit in the overlap', () => {
    const chunks = chunkText(text, { size: 100, overlap: 30 });
    expect(chunks.map((c) => [c.index, c.start, c.content.length])).toEqual([
      [0, 0, 84],
      [1, 56, 84],
      [2, 112, 84],
      [3, 168, 84],
      [4, 224, 56],
    ]);
    // Each chunk starts with the last line of the one before.
    expect(chunks[1]!.content.startsWith(chunks[0]!.content.slice(56))).toBe(true);
    expect(chunks.every((c) => text.slice(c.start, c.start + c.content.length) === c.content)).toBe(true);
  });

  it('cuts a line longer than a chunk into pieces and covers the whole text', () => {
    const chunks = chunkText('a'.repeat(250), { size: 100, overlap: 0 });
    expect(chunks.map((c) => c.content.length)).toEqual([100, 100, 50]);
    expect(chunks.map((c) => c.content).join('')).toBe('a'.repeat(250));
  });

  it('rejects an overlap as large as the chunk, which would never move forward', () => {
    expect(() => chunkText(text, { size: 50, overlap: 50 })).toThrow(RangeError);
  });
});

describe('mergeAttributeCandidates', () => {
  it('normalises names to snake_case and expands abbreviations', () => {
    expect(
      ['Acct No.', 'Account Number', 'account_number', 'Customer Identifier', 'Customer ID', 'E-mail Address'].map(
        normaliseName,
      ),
    ).toEqual(['account_number', 'account_number', 'account_number', 'customer_id', 'customer_id', 'email_address']);
  });

  it('joins candidates with one normalised name or similar descriptions, keeping where each came from', () => {
    const merged = mergeAttributeCandidates([
      candidate('Current Credit Limit', 'Credit limit in effect at month end, amount in US dollars', 2, 0, {
        dataType: 'numeric',
        constraints: ['non-negative'],
      }),
      candidate('Acct No.', 'Account identifier', 1, 0, { constraints: ['required'] }),
      candidate('Account Number', 'Unique identifier of the credit card account', 2, 0),
      candidate('Credit Limit', 'Credit limit in effect at month end, amount in dollars', 1, 1, {
        dataType: 'numeric',
      }),
      // Similar description, but no name word in common: a different attribute.
      candidate('Approved Line', 'Credit limit in effect at month end, amount in US dollars', 1, 2, {
        dataType: 'numeric',
      }),
      candidate('Account Number', 'Unique identifier of the credit card account', 2, 1),
    ]);
    expect(merged).toEqual([
      {
        name: 'account_number',
        description: 'Unique identifier of the credit card account',
        dataType: 'text',
        constraints: ['required'],
        provenance: [
          { documentId: 1, document: 'doc-1', chunk: 0, name: 'Acct No.' },
          { documentId: 2, document: 'doc-2', chunk: 0, name: 'Account Number' },
          { documentId: 2, document: 'doc-2', chunk: 1, name: 'Account Number' },
        ],
      },
      {
        // Tie between the two names: the first one seen (document 1) wins.
        name: 'credit_limit',
        description: 'Credit limit in effect at month end, amount in US dollars',
        dataType: 'numeric',
        constraints: ['non-negative'],
        provenance: [
          { documentId: 1, document: 'doc-1', chunk: 1, name: 'Credit Limit' },
          { documentId: 2, document: 'doc-2', chunk: 0, name: 'Current Credit Limit' },
        ],
      },
      {
        name: 'approved_line',
        description: 'Credit limit in effect at month end, amount in US dollars',
        dataType: 'numeric',
        constraints: [],
        provenance: [{ documentId: 1, document: 'doc-1', chunk: 2, name: 'Approved Line' }],
      },
    ]);
  });

  it('merges the same candidates identically whatever order their chunks arrive in', () => {
    const candidates = [
      candidate(
        'Days Past Due',
        'Number of days the account is past due at month end, integer between 0 and 180',
        2,
        1,
      ),
      candidate(
        'Past Due Days',
        'Number of days the account is past due at the report date, integer between 0 and 180',
        1,
        0,
      ),
      candidate('Borrower State', 'State code', 1, 1),
    ];
    expect(mergeAttributeCandidates([...candidates].reverse())).toEqual(mergeAttributeCandidates(candidates));
    expect(mergeAttributeCandidates(candidates).map((a) => [a.name, a.provenance.length])).toEqual([
      ['past_due_days', 2],
      ['borrower_state', 1],
    ]);
  });
});
