// The store's layers (see packages/store/README.md) and a checker of the
// imports between them: every relative import of a file under src/ is
// resolved to the layer it lands in (the first directory under src/, or the
// file name for top-level files) and checked against what its own layer may
// import. Imports are found with TypeScript's preProcessFile, so multi-line
// imports, `import type`, `export … from`, `import('…')` types and dynamic
// imports are all seen, and commented-out imports are not.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * What each layer may import besides itself, lowest first. mvcc is below
 * server; client and server sit side by side on the neutral api/transport/util
 * modules; embedded (startStore, the worker thread) joins them; bin and the
 * package entry point (index.ts) sit on top.
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  gen: [],
  codec: [],
  util: [],
  api: ['gen'],
  transport: ['api'],
  raft: [],
  check: [],
  mvcc: ['api', 'codec'],
  wal: ['raft'],
  client: ['api', 'transport', 'gen', 'util'],
  server: ['api', 'transport', 'mvcc', 'raft', 'wal', 'codec', 'gen', 'util'],
  embedded: ['api', 'transport', 'client', 'server', 'mvcc', 'raft', 'codec', 'gen', 'util'],
  bin: ['embedded', 'server', 'client', 'api', 'transport', 'util'],
  'index.ts': ['embedded', 'server', 'client', 'api', 'util'],
};

export interface ImportEdge {
  /** Importing file, relative to src/ with '/' separators. */
  from: string;
  /** Imported file, relative to src/ (resolved from the specifier; may lie outside src/ as ../…). */
  to: string;
  specifier: string;
}

export interface Violation extends ImportEdge {
  reason: string;
}

function posix(p: string): string {
  return p.split(sep).join('/');
}

/** The layer of a path relative to src/: its first directory, or the file name for a top-level file. */
export function layerOf(rel: string): string {
  const i = rel.indexOf('/');
  return i < 0 ? rel : rel.slice(0, i);
}

/** The relative imports of one source text (`file` relative to src/), resolved to paths relative to src/. */
export function importsOf(file: string, text: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const f of ts.preProcessFile(text, true, true).importedFiles) {
    if (!f.fileName.startsWith('.')) continue;
    const target = posix(join(dirname(file), f.fileName)).replace(/\.js$/, '.ts');
    edges.push({ from: file, to: target, specifier: f.fileName });
  }
  return edges;
}

/** Why `edge` breaks the layering, or undefined when it is allowed. */
export function checkEdge(edge: ImportEdge): string | undefined {
  const from = layerOf(edge.from);
  const allowed = LAYERS[from];
  if (!allowed) return `${from} is not a known layer (add it to LAYERS and the README)`;
  if (edge.to.startsWith('../')) return 'imports from outside src/';
  const to = layerOf(edge.to);
  if (to === from) return undefined;
  if (!LAYERS[to]) return `${to} is not a known layer`;
  if (!allowed.includes(to)) return `${from} may not import ${to} (${from} may import: ${allowed.join(', ') || 'nothing'})`;
  return undefined;
}

/** Every .ts file under src/, relative to src/. */
export function sourceFiles(root = SRC): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) out.push(posix(relative(root, p)));
    }
  };
  walk(root);
  return out.sort();
}

/** The import edges of every file under src/. */
export function allImports(root = SRC): ImportEdge[] {
  return sourceFiles(root).flatMap((f) => importsOf(f, readFileSync(join(root, f), 'utf8')));
}

export function violations(edges: readonly ImportEdge[]): Violation[] {
  const out: Violation[] = [];
  for (const e of edges) {
    const reason = checkEdge(e);
    if (reason) out.push({ ...e, reason });
  }
  return out;
}

/** The files reachable from `entry` (relative to src/) through relative imports. */
export function reachable(entry: string, edges: readonly ImportEdge[]): Set<string> {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const seen = new Set<string>([entry]);
  const todo = [entry];
  while (todo.length > 0) {
    for (const t of next.get(todo.pop()!) ?? []) {
      if (!seen.has(t)) {
        seen.add(t);
        todo.push(t);
      }
    }
  }
  return seen;
}

export function describe(v: Violation): string {
  return `src/${v.from} imports ${v.specifier} (src/${v.to}): ${v.reason}`;
}
