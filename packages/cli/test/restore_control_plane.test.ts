// `mkube restore --control-plane`'s checks before it writes anything: the --initial-cluster parser (NAME=https://IP:PORT,
// names and URLs unique), this host listed with its name and advertise address, a data dir holding a cluster refused,
// a file that is not a backup and a damaged snapshot — each with its code, through the mkube binary as an operator runs it. The restore itself runs
// end to end in test/e2e/restore_ha.test.ts.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { parseInitialCluster } from '../src/restore_control_plane.js';

const MKUBE = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'bin', 'mkube.js');
const CLUSTER = 'cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380,cp3=https://10.0.0.13:2380';

let base = '';
test.before(() => {
  base = mkdtempSync(join(tmpdir(), 'mkube-restore-cp-'));
});
test.after.always(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

function mkube(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MKUBE, ...args], { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const restoreArgs = (file: string, dir: string, extra: string[] = []) => ['restore', file, '--control-plane', '--data-dir', dir, '--node-name', 'cp1', '--advertise-address', '10.0.0.11', '--initial-cluster', CLUSTER, ...extra];

test('--initial-cluster: every NAME=https://IP:PORT, in order; malformed, duplicate or empty lists refused', (t) => {
  t.deepEqual(parseInitialCluster(CLUSTER), [
    { name: 'cp1', peerURL: 'https://10.0.0.11:2380', address: '10.0.0.11' },
    { name: 'cp2', peerURL: 'https://10.0.0.12:2380', address: '10.0.0.12' },
    { name: 'cp3', peerURL: 'https://10.0.0.13:2380', address: '10.0.0.13' },
  ]);
  t.throws(() => parseInitialCluster('cp1=http://10.0.0.11:2380'), { message: /"cp1=http:\/\/10\.0\.0\.11:2380" is not NAME=https:\/\/IP:PORT/ });
  t.throws(() => parseInitialCluster('cp1=https://10.0.0.11:2380,cp1=https://10.0.0.12:2380'), { message: /listed twice/ });
  t.throws(() => parseInitialCluster('cp1=https://10.0.0.11:2380,cp2=https://10.0.0.11:2380'), { message: /listed twice/ });
  t.throws(() => parseInitialCluster(' , '), { message: /lists no member/ });
});

test('mkube restore --control-plane refuses, before writing anything: this host not listed, flags missing, no backup, a data dir in use', async (t) => {
  const dir = join(base, 'cp1');
  const notListed = await mkube(['restore', join(base, 'none.tar'), '--control-plane', '--data-dir', dir, '--node-name', 'cp9', '--advertise-address', '10.0.0.11', '--initial-cluster', CLUSTER]);
  t.is(notListed.code, 1);
  t.regex(notListed.stderr, /^mkube restore: --initial-cluster must list this control plane as cp9=https:\/\/10\.0\.0\.11:2380 \(its --node-name and --advertise-address\) \[UNSUPPORTED\]\n$/);
  const wrongAddress = await mkube(['restore', join(base, 'none.tar'), '--control-plane', '--data-dir', dir, '--node-name', 'cp1', '--advertise-address', '10.0.0.12', '--initial-cluster', CLUSTER]);
  t.regex(wrongAddress.stderr, /must list this control plane as cp1=https:\/\/10\.0\.0\.12:2380/);
  const noFlags = await mkube(['restore', join(base, 'none.tar'), '--control-plane', '--data-dir', dir]);
  t.is(noFlags.code, 1);
  t.regex(noFlags.stderr, /needs --advertise-address IP and --initial-cluster NAME=https:\/\/IP:2380/);
  const missing = await mkube(restoreArgs(join(base, 'none.tar'), dir));
  t.is(missing.code, 1);
  t.regex(missing.stderr, /none\.tar: no such backup file \[NOT_A_BACKUP\]/);
  const inUse = join(base, 'in-use');
  mkdirSync(join(inUse, 'apiserver'), { recursive: true });
  writeFileSync(join(inUse, 'apiserver', 'x'), '');
  writeFileSync(join(base, 'some.tar'), '');
  const busy = await mkube(restoreArgs(join(base, 'some.tar'), inUse));
  t.is(busy.code, 1);
  t.regex(busy.stderr, /cannot restore into .*in-use: .*apiserver exists \(restore into a new or emptied data dir\) \[DATA_DIR_IN_USE\]/);
});

test('mkube restore --control-plane refuses a file that is not a backup and a damaged snapshot; nothing but the logs dir is left in the data dir', async (t) => {
  const junk = join(base, 'junk.tar');
  writeFileSync(junk, 'not a tar archive');
  const dir = join(base, 'cp1-junk');
  const notTar = await mkube(restoreArgs(junk, dir));
  t.is(notTar.code, 1);
  t.regex(notTar.stderr, /junk\.tar is not an mkube backup \(tar: [^]*\) \[NOT_A_BACKUP\]/);

  // A backup's layout with a damaged snapshot (no trailing SHA-256).
  const make = (name: string, kind: string, snapshot: Buffer) => {
    const src = join(base, `${name}-src`);
    mkdirSync(join(src, 'apiserver', 'pki'), { recursive: true });
    writeFileSync(join(src, 'snapshot.db'), snapshot);
    writeFileSync(join(src, 'manifest.json'), JSON.stringify({ format: 'mkube-backup/v1', createdAt: new Date().toISOString(), store: { kind, endpoint: 'https://10.0.0.11:2379', revision: 5, sha256: '00', size: snapshot.length } }));
    const file = join(base, `${name}.tar`);
    execFileSync('tar', ['-cf', file, '-C', src, 'manifest.json', 'snapshot.db', 'apiserver']);
    return file;
  };
  const damagedDir = join(base, 'cp1-damaged');
  const damaged = await mkube(restoreArgs(make('damaged', 'member', Buffer.alloc(100, 7)), damagedDir));
  t.is(damaged.code, 1);
  t.regex(damaged.stderr, /damaged\.tar: the store snapshot is damaged: .* \[BACKUP_CORRUPT\]/);
  t.deepEqual(readdirSync(damagedDir).filter((f) => f !== 'logs'), [], 'nothing written but the logs dir');
  t.deepEqual(readdirSync(join(damagedDir, 'logs')), []);
});
