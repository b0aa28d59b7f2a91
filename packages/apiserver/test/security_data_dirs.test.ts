// Issue 10, hole 7 (files): the API server's data dir, PKI dirs (cluster and
// embedded-store PKI) and the embedded store's dirs are 0700, private keys and
// admin.kubeconfig 0600, on a first start over a data dir that already exists
// 0755 and again after everything was loosened (0755 dirs, 0644 files) while
// the server was down, with etcd's CheckDirPermission warning; a standalone
// store member tightens its data dir the same way, and files found in it lose
// their group/other bits. (LevelDB creates its files with the process umask;
// the 0700 directory is what keeps other users out of them.)
import test from 'ava';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, parseFlags, startStore } from '@mkube/store';
import { pino, type Logger } from 'pino';
import { startApiServer } from '../src/server.js';
import { api } from './helpers/cluster.js';

const perm = (p: string): number => statSync(p).mode & 0o777;

/** Every entry under `dir` (not following links), with its kind. */
function walk(dir: string, out: Array<{ path: string; dir: boolean }> = []): Array<{ path: string; dir: boolean }> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    out.push({ path: p, dir: e.isDirectory() });
    if (e.isDirectory()) walk(p, out);
  }
  return out;
}

function loosen(dir: string): void {
  chmodSync(dir, 0o755);
  for (const e of walk(dir)) chmodSync(e.path, e.dir ? 0o755 : 0o644);
}

function capture(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }) as unknown as Logger;
  return { log, lines };
}

test('API server with its embedded store: 0700 dirs, 0600 keys and kubeconfig, on a 0755 data dir and again after loosening', async (t) => {
  t.timeout(120_000);
  const base = await mkdtemp(join(tmpdir(), 'mkube-datadirs-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const dataDir = join(base, 'data');
  mkdirSync(dataDir, { mode: 0o755 });
  chmodSync(dataDir, 0o755);

  const check = (what: string): void => {
    t.is(perm(dataDir), 0o700, `${what}: data dir`);
    for (const d of ['pki', 'pki/etcd', 'store', 'store/member']) t.is(perm(join(dataDir, d)), 0o700, `${what}: ${d}`);
    const keys = walk(dataDir).filter((e) => e.path.endsWith('.key'));
    t.true(keys.length >= 5, `${what}: keys found: ${keys.map((k) => k.path).join(' ')}`);
    for (const k of keys) t.is(perm(k.path), 0o600, `${what}: ${k.path}`);
    t.is(perm(join(dataDir, 'admin.kubeconfig')), 0o600, `${what}: admin.kubeconfig`);
    for (const e of walk(join(dataDir, 'store')).filter((x) => x.dir)) t.is(perm(e.path), 0o700, `${what}: ${e.path}`);
  };

  const first = capture();
  let server = await startApiServer({ dataDir, securePort: 0, grpcPort: -1, compactionIntervalMs: 0, logger: first.log });
  try {
    t.is((await api(server, 'GET', '/readyz')).status, 200);
    check('first start');
    t.true(
      first.lines.some((l) => l.level === 40 && String(l.msg).startsWith(`directory ${JSON.stringify(dataDir)} exist, but the permission is "drwxr-xr-x". The recommended permission is "-rwx------"`)),
      JSON.stringify(first.lines),
    );
  } finally {
    await server.stop();
  }

  loosen(dataDir);
  t.is(perm(join(dataDir, 'pki', 'ca.key')), 0o644, 'loosened');
  const second = capture();
  server = await startApiServer({ dataDir, securePort: 0, grpcPort: -1, compactionIntervalMs: 0, logger: second.log });
  try {
    t.is((await api(server, 'GET', '/readyz')).status, 200, 'serves after the restart on the same data');
    check('restart');
    t.true(second.lines.some((l) => String(l.msg).includes('to prevent possible unprivileged access to the data')));
  } finally {
    await server.stop();
  }
});

test('a standalone store member makes its 0755 data dir 0700 and its files owner-only', async (t) => {
  t.timeout(60_000);
  const base = await mkdtemp(join(tmpdir(), 'mkube-storedir-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const dataDir = join(base, 'member');
  mkdirSync(dataDir, { mode: 0o755 });
  chmodSync(dataDir, 0o755);
  const [client, peer] = [await freePort(), await freePort()];
  const flags = (): ReturnType<typeof parseFlags> =>
    parseFlags([
      '--name', 's1', '--data-dir', dataDir,
      '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `s1=http://127.0.0.1:${peer}`,
    ]);
  const parsed = flags();
  if (parsed.kind !== 'run') throw new Error('unexpected flags');
  const { log, lines } = capture();
  let store = await startStore(parsed.config, log);
  await store.stop(true);
  t.is(perm(dataDir), 0o700);
  t.true(lines.some((l) => String(l.msg).includes('The recommended permission is "-rwx------"')), JSON.stringify(lines));

  loosen(dataDir);
  // A file of ours that no library rewrites: it must come back owner-only.
  writeFileSync(join(dataDir, 'db', 'planted.bin'), 'x', { mode: 0o666 });
  chmodSync(join(dataDir, 'db', 'planted.bin'), 0o666);
  store = await startStore(parsed.config, pino({ level: 'silent' }));
  try {
    t.is(perm(dataDir), 0o700);
    for (const e of walk(dataDir).filter((x) => x.dir)) t.is(perm(e.path), 0o700, e.path);
    t.is(perm(join(dataDir, 'db', 'planted.bin')), 0o600);
  } finally {
    await store.stop(true);
  }
});
