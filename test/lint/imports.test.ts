// Test code imports other packages by name, never by relative path: a file
// under packages/<p>/test may reach only packages/<p> by a relative import,
// and a file under test/ (e2e, chaos, lint) none of packages/ — fixtures come
// from @mkube/testing, components from their package's public entry. Every
// static import, export-from and dynamic import('...') with a string literal
// is checked; the first test proves the scanner catches each form.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** The relative imports in `source` (a file at repo path `file`) that leave what it may reach. */
function crossings(file: string, source: string): string[] {
  const parts = file.split(sep);
  const allowed = parts[0] === 'packages' ? join('packages', parts[1]!) + sep : undefined;
  const bad: string[] = [];
  for (const m of source.matchAll(SPECIFIER)) {
    const target = relative(root, resolve(root, dirname(file), m[1]!));
    const ok = allowed ? target.startsWith(allowed) : !target.startsWith('packages' + sep) && target !== 'packages';
    if (!ok) bad.push(`${file}: '${m[1]}'`);
  }
  return bad;
}

test('the scanner finds static, re-export and dynamic imports of another package', (t) => {
  const src = [
    "import { a } from '../../store/test/helpers/etcd_process.js';",
    "export { b } from '../../../store/src/raft/seeded_random.js';",
    "const { c } = await import('../../store/src/x.js');",
    "import '../../apiserver/src/side_effect.js';",
    "import { ok } from '../src/own.js';",
    "import { alsoOk } from './helpers/cluster.js';",
  ].join('\n');
  // One level deeper, '../../store' stays inside packages/controllers; '../../../store' leaves it.
  t.is(crossings(join('packages', 'controllers', 'test', 'helpers', 'x.ts'), src).length, 1);
  t.is(crossings(join('packages', 'controllers', 'test', 'x.test.ts'), src).length, 4);
  t.deepEqual(crossings(join('test', 'e2e', 'x.test.ts'), "import { m } from '../../packages/controllers/src/manager.js';\nimport { h } from './control_plane.js';"), [`${join('test', 'e2e', 'x.test.ts')}: '../../packages/controllers/src/manager.js'`]);
});

test("no test file imports another package's sources or test helpers by relative path", (t) => {
  const files = [
    ...readdirSync(join(root, 'packages')).flatMap((p) => {
      try {
        return sourceFiles(join(root, 'packages', p, 'test'));
      } catch {
        return [];
      }
    }),
    // This file's own examples above are strings, not imports.
    ...sourceFiles(join(root, 'test')).filter((f) => f !== fileURLToPath(import.meta.url)),
  ];
  t.true(files.length > 100, `only ${files.length} test files found`);
  const bad = files.flatMap((f) => crossings(relative(root, f), readFileSync(f, 'utf8')));
  t.deepEqual(bad, [], `import these through their package (@mkube/testing for fixtures):\n${bad.join('\n')}`);
});
