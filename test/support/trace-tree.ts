// A trace as a person reads it: its spans as an indented tree under their parents, in start order, each with its
// service and duration; runs of alike leaf siblings (a batch of SQL statements) folded into one line with a count.
// Pure functions over received spans (test/support/otlp-receiver.ts), for the tracing test's output and docs.

/** OTLP's SpanKind for a call out (an HTTP request, a query), whose URL the tree shows. */
export const CLIENT_SPAN = 3;

export interface TraceSpan {
  traceId: string;
  spanId: string;
  /** Undefined for a trace's root. */
  parentSpanId?: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  service: string;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, string | number | boolean>;
  error?: boolean;
}

/**
 * The spans of one trace as indented lines, two spaces a level. A span whose parent is not among `spans` (not
 * received, or from another process that does not export) is shown as a root. Leaf siblings with the same name and
 * service that follow each other are one line, `name ×N`, with their summed duration.
 */
export function formatTraceTree(spans: readonly TraceSpan[]): string {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string | undefined, TraceSpan[]>();
  for (const span of spans) {
    const parent = span.parentSpanId !== undefined && ids.has(span.parentSpanId) ? span.parentSpanId : undefined;
    children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    const siblings = [...(children.get(parent) ?? [])].sort((a, b) =>
      a.startNs === b.startNs ? a.name.localeCompare(b.name) : a.startNs < b.startNs ? -1 : 1,
    );
    for (let i = 0; i < siblings.length;) {
      const span = siblings[i]!;
      let count = 1;
      let durationNs = span.endNs - span.startNs;
      if (!children.has(span.spanId))
        while (i + count < siblings.length && alikeLeaf(span, siblings[i + count]!, children)) {
          durationNs += siblings[i + count]!.endNs - siblings[i + count]!.startNs;
          count++;
        }
      const times = count > 1 ? ` ×${count}` : '';
      const failed = span.error ? ' ERROR' : '';
      lines.push(
        `${'  '.repeat(depth)}${labelOf(span)}${times}  [${span.service}, ${milliseconds(durationNs)}]${failed}`,
      );
      if (count === 1) walk(span.spanId, depth + 1);
      i += count;
    }
  };
  walk(undefined, 0);
  return lines.join('\n');
}

/** The span's name on one line (a statement's name may hold its SQL's line breaks); an HTTP call's with its URL. */
function labelOf(span: TraceSpan): string {
  const name = span.name.replace(/\s+/g, ' ');
  const url = httpUrl(span);
  return span.kind === CLIENT_SPAN && typeof url === 'string' ? `${name} ${url}` : name;
}

/**
 * An HTTP client span's URL: `url.full` (undici's instrumentation, and http's under the stable conventions) or
 * `http.url` (http's instrumentation by default, which the LLM client's node:http transport is traced by).
 */
export function httpUrl(span: TraceSpan): unknown {
  return span.attributes['url.full'] ?? span.attributes['http.url'];
}

function alikeLeaf(a: TraceSpan, b: TraceSpan, children: Map<string | undefined, TraceSpan[]>): boolean {
  return !children.has(b.spanId) && labelOf(a) === labelOf(b) && a.service === b.service && !a.error && !b.error;
}

function milliseconds(ns: bigint): string {
  const ms = Number(ns) / 1e6;
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** The chain of span names from `span` up to its trace's root (parents missing from `spans` end it). */
export function ancestry(span: TraceSpan, spans: readonly TraceSpan[]): TraceSpan[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const chain = [span];
  // Bounded by the number of spans, so ids that loop (a broken export) cannot hang the test.
  for (let parent = byId.get(span.parentSpanId ?? ''); parent && chain.length <= spans.length;) {
    chain.push(parent);
    parent = byId.get(parent.parentSpanId ?? '');
  }
  return chain;
}
