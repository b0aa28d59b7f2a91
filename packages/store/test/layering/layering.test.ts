// The store's layering holds: mvcc does not import server, client and server
// do not import each other, every layer imports only what README.md allows,
// and the `@mkube/store/client` entry point loads no server code. The checker
// itself is tested on made-up sources so that this test can fail.
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { allImports, checkEdge, describe, importsOf, LAYERS, layerOf, reachable, SRC, sourceFiles, violations } from './layers.js';

const edges = allImports();

test('the checker sees every form of import and flags a forbidden one', (t) => {
  const text = [
    "import { EtcdError } from '../server/backend.js';",
    "import type {\n  Member,\n} from '../server/member.js';",
    "export * from '../client/index.js';",
    "type T = import('../server/config.js').MemberConfig;",
    "// import { nope } from '../server/nope.js';",
    "import { ok } from './codec.js';",
    "import { also } from '../api/kv.js';",
    "import * as grpc from '@grpc/grpc-js';",
  ].join('\n');
  const found = importsOf('mvcc/fake.ts', text);
  t.deepEqual(
    found.map((e) => e.to),
    ['server/backend.ts', 'server/member.ts', 'client/index.ts', 'server/config.ts', 'mvcc/codec.ts', 'api/kv.ts'],
  );
  t.deepEqual(
    violations(found).map((v) => v.to),
    ['server/backend.ts', 'server/member.ts', 'client/index.ts', 'server/config.ts'],
  );
  t.regex(checkEdge({ from: 'client/x.ts', to: 'server/y.ts', specifier: '../server/y.js' }) ?? '', /client may not import server/);
  t.regex(checkEdge({ from: 'server/x.ts', to: 'client/y.ts', specifier: '../client/y.js' }) ?? '', /server may not import client/);
  t.regex(checkEdge({ from: 'newlayer/x.ts', to: 'api/kv.ts', specifier: '../api/kv.js' }) ?? '', /not a known layer/);
  t.is(checkEdge({ from: 'server/x.ts', to: 'mvcc/y.ts', specifier: '../mvcc/y.js' }), undefined);
});

test('the scan covers the source tree and resolves every import to an existing file', (t) => {
  const files = sourceFiles();
  t.true(files.includes('mvcc/kv_store.ts'));
  t.true(edges.some((e) => e.from === 'mvcc/kv_store.ts' && e.to === 'api/etcd_error.ts'));
  const missing = edges.filter((e) => !existsSync(join(SRC, e.to))).map((e) => `src/${e.from} imports ${e.specifier}`);
  t.deepEqual(missing, []);
  const unknown = [...new Set(files.map(layerOf))].filter((l) => !(l in LAYERS));
  t.deepEqual(unknown, [], 'every directory under src/ is a layer in LAYERS (and README.md)');
});

test('no file under src/mvcc imports from src/server (or anything above it)', (t) => {
  const bad = edges.filter((e) => layerOf(e.from) === 'mvcc' && ['server', 'client', 'embedded', 'bin', 'transport'].includes(layerOf(e.to)));
  t.deepEqual(bad.map((e) => `src/${e.from} imports ${e.specifier}`), []);
});

test('client and server do not import each other', (t) => {
  const bad = edges.filter(
    (e) => (layerOf(e.from) === 'client' && layerOf(e.to) === 'server') || (layerOf(e.from) === 'server' && layerOf(e.to) === 'client'),
  );
  t.deepEqual(bad.map((e) => `src/${e.from} imports ${e.specifier}`), []);
});

test('every import follows the layer table', (t) => {
  t.deepEqual(violations(edges).map(describe), []);
});

test('the @mkube/store/client entry point loads no server, embedded or mvcc code', (t) => {
  const loaded = [...reachable('client/index.ts', edges)].filter((f) => ['server', 'embedded', 'mvcc', 'raft', 'bin'].includes(layerOf(f)));
  t.deepEqual(loaded, []);
});
