// Splits a document into overlapping chunks small enough for one LLM prompt. Line-aware: a chunk ends at a
// line break when it can, and the next chunk repeats the last lines (up to `overlap` characters) so a
// field described across a boundary is still seen whole by one prompt.

export interface ChunkOptions {
  /** Most characters in a chunk (a line longer than this is cut into pieces). */
  size: number;
  /** Characters of trailing whole lines a chunk shares with the next one. */
  overlap: number;
}

export interface TextChunk {
  index: number;
  /** Offset of the chunk's first character in the document. */
  start: number;
  content: string;
}

interface Line {
  start: number;
  text: string;
}

/** Lines with their newline kept, lines longer than `size` cut so every piece fits a chunk. */
function linesOf(text: string, size: number): Line[] {
  const lines: Line[] = [];
  let offset = 0;
  for (const line of text.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
    for (let cut = 0; cut < line.length; cut += size)
      lines.push({ start: offset + cut, text: line.slice(cut, cut + size) });
    offset += line.length;
  }
  return lines;
}

export function chunkText(text: string, { size, overlap }: ChunkOptions): TextChunk[] {
  if (size < 1 || overlap < 0 || overlap >= size)
    throw new RangeError(`invalid chunking: size ${size}, overlap ${overlap}`);
  const lines = linesOf(text, size);
  const chunks: TextChunk[] = [];
  let first = 0;
  while (first < lines.length) {
    let end = first;
    let length = 0;
    while (end < lines.length && (end === first || length + lines[end]!.text.length <= size))
      length += lines[end++]!.text.length;
    chunks.push({
      index: chunks.length,
      start: lines[first]!.start,
      content: lines
        .slice(first, end)
        .map((l) => l.text)
        .join(''),
    });
    if (end >= lines.length) break;
    // Step back over whole lines that fit in the overlap, but always move forward by at least one line.
    let next = end;
    let shared = 0;
    while (next - 1 > first && shared + lines[next - 1]!.text.length <= overlap) shared += lines[--next]!.text.length;
    first = next;
  }
  return chunks.filter((c) => c.content.trim().length > 0).map((c, index) => ({ ...c, index }));
}
