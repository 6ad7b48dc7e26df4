// `npm run docs:check`: the docs name files, and a file that moved leaves a page pointing nowhere. Every
// backticked repository path in README.md, CONTRIBUTING.md, bench/README.md and docs/*.md must exist, and every
// relative link (with its #anchor) must resolve. Run by .ci/run with the other static checks.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const pages = [
  'README.md',
  'CONTRIBUTING.md',
  'bench/README.md',
  ...readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
// .tmp holds what runs write (screenshots, a trace tree), never committed: a fresh clone has none of it yet.
const topLevel = new Set(readdirSync(root).filter((name) => name !== '.git' && name !== '.tmp'));

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- ]/gu, '')
    .replace(/ /g, '-');

function exists(relative: string): boolean {
  const full = path.join(root, relative.replace(/\/$/, ''));
  // `client/cli/cli` names client/cli/cli.ts as an import would.
  return existsSync(full) || ['.ts', '.js', '.json', '.md'].some((ext) => existsSync(full + ext));
}

const problems: string[] = [];
let checked = 0;
for (const page of pages) {
  const text = readFileSync(path.join(root, page), 'utf8');
  const lineOf = (index: number) => text.slice(0, index).split('\n').length;
  for (const span of text.matchAll(/`([^`\n]+)`/g)) {
    // A span may hold a command (`npx tsx bench/x.ts`): every token that starts with a top-level folder is a path.
    for (const raw of span[1]!.split(/[\s,()=]+/)) {
      const token = raw.replace(/^["']|["'.;:]+$/g, '');
      if (!token.includes('/') || /[<*{…$]/.test(token) || /^[a-z]+:/.test(token)) continue;
      if (!topLevel.has(token.split('/')[0]!)) continue;
      checked++;
      if (!exists(token)) problems.push(`${page}:${lineOf(span.index)}: no such path ${token}`);
    }
  }
  for (const link of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const href = link[1]!;
    if (/^[a-z]+:/.test(href) || href.startsWith('#')) continue;
    const [target, anchor] = href.split('#') as [string, string | undefined];
    const resolved = path.normalize(path.join(path.dirname(page), target));
    checked++;
    if (!existsSync(path.join(root, resolved))) {
      problems.push(`${page}:${lineOf(link.index)}: broken link ${href}`);
    } else if (anchor && resolved.endsWith('.md')) {
      const headings = [...readFileSync(path.join(root, resolved), 'utf8').matchAll(/^#+ (.*)$/gm)].map((h) =>
        anchorOf(h[1]!),
      );
      if (!headings.includes(anchor))
        problems.push(`${page}:${lineOf(link.index)}: no heading for #${anchor} in ${resolved}`);
    }
  }
}

for (const problem of problems) console.error(problem);
console.log(`${checked} paths and links checked in ${pages.length} pages, ${problems.length} broken`);
process.exit(problems.length === 0 ? 0 : 1);
