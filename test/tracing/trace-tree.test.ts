// The trace helpers alone (pure functions): an OTLP JSON export flattened to spans, and spans printed as the indented
// tree the tracing test writes to .tmp/trace-tree.txt and docs/operations.md shows.

import { spansOfExport } from '../support/otlp-receiver';
import { ancestry, formatTraceTree, type TraceSpan } from '../support/trace-tree';

const ms = (n: number) => BigInt(n) * 1_000_000n;
const span = (
  id: string,
  parent: string | undefined,
  name: string,
  start: number,
  end: number,
  extra = {},
): TraceSpan => ({
  traceId: 't1',
  spanId: id,
  parentSpanId: parent,
  name,
  kind: 1,
  service: id.startsWith('a') ? 'api' : 'worker',
  startNs: ms(start),
  endNs: ms(end),
  attributes: {},
  ...extra,
});

it('prints children under their parents in start order, folding runs of alike leaves into one line', () => {
  const spans = [
    span('w2', 'w1', 'RunActivity:generate', 30, 80),
    span('a1', undefined, 'POST /api/v1/jobs', 0, 100),
    span('w1', 'a2', 'RunWorkflow:job', 20, 95),
    span('a2', 'a1', 'StartWorkflow:job', 10, 20),
    span('w3', 'w2', 'pg.query:SELECT\n  db', 31, 33),
    span('w4', 'w2', 'pg.query:SELECT db', 34, 38),
    span('w5', 'w2', 'POST', 40, 70, { kind: 3, attributes: { 'url.full': 'http://llm/v1/chat/completions' } }),
    span('w6', 'w2', 'pg.query:INSERT db', 71, 72, { error: true }),
    span('w7', 'gone', 'orphan', 90, 91),
  ];
  expect(formatTraceTree(spans).split('\n')).toEqual([
    'POST /api/v1/jobs  [api, 100 ms]',
    '  StartWorkflow:job  [api, 10 ms]',
    '    RunWorkflow:job  [worker, 75 ms]',
    '      RunActivity:generate  [worker, 50 ms]',
    '        pg.query:SELECT db ×2  [worker, 6.0 ms]',
    '        POST http://llm/v1/chat/completions  [worker, 30 ms]',
    '        pg.query:INSERT db  [worker, 1.0 ms] ERROR',
    'orphan  [worker, 1.0 ms]',
  ]);
  expect(ancestry(spans[4]!, spans).map((s) => s.spanId)).toEqual(['w3', 'w2', 'w1', 'a2', 'a1']);
});

it('flattens an OTLP JSON export with its service name, hex ids and typed attributes', () => {
  const spans = spansOfExport({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'synapse-jobs-worker' } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: 'ab',
                spanId: 'cd',
                parentSpanId: '',
                name: 'RunActivity:x',
                kind: 1,
                startTimeUnixNano: '1700000000000000000',
                // A number (some exporters send them) is read as well, here one a double holds exactly.
                endTimeUnixNano: 1_700_000_001_000_000_000,
                attributes: [
                  { key: 'temporalWorkflowId', value: { stringValue: 'job-1' } },
                  { key: 'attempt', value: { intValue: '2' } },
                  { key: 'retry', value: { boolValue: false } },
                ],
                status: { code: 2 },
              },
            ],
          },
        ],
      },
    ],
  });
  expect(spans).toEqual([
    {
      traceId: 'ab',
      spanId: 'cd',
      parentSpanId: undefined,
      name: 'RunActivity:x',
      kind: 1,
      service: 'synapse-jobs-worker',
      startNs: 1700000000000000000n,
      endNs: 1700000001000000000n,
      attributes: { temporalWorkflowId: 'job-1', attempt: 2, retry: false },
      error: true,
    },
  ]);
});
