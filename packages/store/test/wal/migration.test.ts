// A data directory written by mkube-store before the WAL (the Raft log in
// LevelDB: fixtures/legacy-leveldb-member.tar.gz, one member made by the
// previous release — 57 puts over 40 keys, one delete, snapshots every 20
// entries, so the old log holds a snapshot record at 60 and entry 61) started
// by the real binary: the log moves into the WAL, the LevelDB keeps no raft/
// keys, the key space and revisions are as before, writes continue and survive
// a restart. Then a corrupt record inside the WAL refuses the start with
// DATA_CORRUPT naming the segment and offset.
import test from 'ava';
import { ClassicLevel } from 'classic-level';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, STORE_BIN, waitFor } from '@mkube/testing';
import { RecordType } from '../../src/wal/record.js';
import { recordsOf, tempDir } from './wal_helpers.js';

const run = promisify(execFile);
const FIXTURE = join(import.meta.dirname, 'fixtures', 'legacy-leveldb-member.tar.gz');
/** The fixture's member: its id and cluster id derive from this name, peer URL and token. */
const PEER = 'http://127.0.0.1:2380';

interface Started {
  proc: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startMember(dataDir: string, clientPort: number, metricsPort: number): Started {
  const proc = spawn(process.execPath, [
    STORE_BIN, '--name', 'legacy', '--data-dir', dataDir,
    '--listen-client-urls', `http://127.0.0.1:${clientPort}`, '--listen-peer-urls', '', '--initial-advertise-peer-urls', PEER,
    '--initial-cluster', `legacy=${PEER}`, '--listen-metrics-urls', `http://127.0.0.1:${metricsPort}`,
    '--snapshot-count', '20', '--snapshot-catchup-entries', '5', '--wal-segment-bytes', '65536', '--log-level', 'info',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Logs (pino, stdout) and start-up errors (stderr) in one text.
  let err = '';
  for (const s of [proc.stdout!, proc.stderr!]) {
    s.setEncoding('utf8');
    s.on('data', (d: string) => (err += d));
  }
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  return { proc, stderr: () => err, exited };
}

async function stopMember(m: Started): Promise<void> {
  if (m.proc.exitCode !== null || m.proc.signalCode !== null) return;
  m.proc.kill('SIGTERM');
  const code = await Promise.race([m.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
  if (code === 'timeout') {
    m.proc.kill('SIGKILL');
    await m.exited;
  }
}

async function etcdctl(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('etcdctl', ['--endpoints', `127.0.0.1:${port}`, '--command-timeout', '5s', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 });
  return stdout;
}

async function healthy(metricsPort: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${metricsPort}/health`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** The fixture's keys: /legacy/k<i> holds the last of value-1..value-57 written to it (i = n % 40); k3 was deleted. */
function expectedKeys(): Record<string, string> {
  const out: Record<string, string> = {};
  for (let n = 1; n <= 57; n++) out[`/legacy/k${n % 40}`] = `value-${n}`;
  delete out['/legacy/k3'];
  return out;
}

async function keys(port: number, prefix: string): Promise<{ revision: number; kvs: Record<string, string> }> {
  const res = JSON.parse(await etcdctl(port, 'get', '--prefix', prefix, '-w', 'json')) as { header: { revision: number }; kvs?: Array<{ key: string; value: string }> };
  const kvs: Record<string, string> = {};
  for (const kv of res.kvs ?? []) kvs[Buffer.from(kv.key, 'base64').toString()] = Buffer.from(kv.value, 'base64').toString();
  return { revision: res.header.revision, kvs };
}

async function raftKeysInLevelDb(dataDir: string): Promise<number> {
  const db = new ClassicLevel<Buffer, Buffer>(join(dataDir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    return (await db.keys({ gte: Buffer.from('raft/'), lt: Buffer.from('raft0') }).all()).length;
  } finally {
    await db.close();
  }
}

test.serial('a data dir with the Raft log in LevelDB is migrated into the WAL on start; then a corrupt WAL record refuses the start', async (t) => {
  t.timeout(120_000);
  const dataDir = join(tempDir(t, 'mkube-wal-migration-'), 'member');
  await run('mkdir', ['-m', '0700', dataDir]);
  await run('tar', ['xzf', FIXTURE, '-C', dataDir]);
  t.true((await raftKeysInLevelDb(dataDir)) > 0, 'the fixture keeps its Raft log in LevelDB');
  const [client, metrics] = [await freePort(), await freePort()];

  let m = startMember(dataDir, client, metrics);
  t.teardown(() => stopMember(m));
  await waitFor('the migrated member to be healthy', 30_000, () => healthy(metrics)).catch((err: Error) => {
    throw new Error(`${err.message}; stderr: ${m.stderr().slice(-2000)}`);
  });
  t.regex(m.stderr(), /migrated the Raft log from LevelDB to the WAL/);
  const migrated = JSON.parse(m.stderr().split('\n').find((l) => l.includes('migrated the Raft log'))!) as { entries: number; snapshotIndex: number; lastIndex: number; commit: number };
  t.like(migrated, { snapshotIndex: 60, lastIndex: 61, commit: 61, entries: 1 });
  const before = await keys(client, '/legacy/');
  t.deepEqual(before.kvs, expectedKeys(), 'the key space is what the old member held');
  t.is(before.revision, 58, 'and so is its revision');
  for (let i = 0; i < 30; i++) await etcdctl(client, 'put', `/after/${i}`, `v${i}`);
  t.is((await keys(client, '/after/')).revision, 88);
  await stopMember(m);
  t.is(await raftKeysInLevelDb(dataDir), 0, 'no raft/ key is left in LevelDB');
  const segs = readdirSync(join(dataDir, 'wal')).filter((n) => n.endsWith('.wal'));
  t.true(segs.length >= 1 && segs.includes('0000000000000000-0000000000000000.wal'), segs.join(' '));

  m = startMember(dataDir, client, metrics);
  await waitFor('the member to restart over its WAL', 30_000, () => healthy(metrics)).catch((err: Error) => {
    throw new Error(`${err.message}; stderr: ${m.stderr().slice(-2000)}`);
  });
  t.notRegex(m.stderr(), /migrated/, 'the second start reads the WAL only');
  const after = await keys(client, '/');
  t.is(Object.keys(after.kvs).length, 39 + 30);
  t.is(after.revision, 88);
  await etcdctl(client, 'put', '/after/last', 'x');
  await stopMember(m);

  // A record in the middle of the WAL's last segment corrupted: the member refuses to start.
  const last = join(dataDir, 'wal', readdirSync(join(dataDir, 'wal')).filter((n) => n.endsWith('.wal')).sort().at(-1)!);
  const entryRecs = recordsOf(last).filter((r) => r.type === RecordType.Entry);
  t.true(entryRecs.length >= 3, `${entryRecs.length} entry records in ${last}`);
  const victim = entryRecs[Math.floor(entryRecs.length / 2)]!;
  const bytes = readFileSync(last);
  bytes[victim.offset + 20] = bytes[victim.offset + 20]! ^ 0xff;
  writeFileSync(last, bytes);
  m = startMember(dataDir, client, metrics);
  const code = await Promise.race([m.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 20_000))]);
  t.not(code, 'running', 'the member with a corrupt WAL exits');
  t.not(code, 0);
  const stderr = m.stderr();
  t.regex(stderr, /DATA_CORRUPT/);
  t.true(stderr.includes(last) && stderr.includes(`at offset ${victim.offset}`), stderr.slice(-1500));
});
