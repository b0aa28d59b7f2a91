// Disaster recovery end to end: a cluster from `mkube up` (one worker in the lab mkbk, subnets
// 10.213.226-227, LoadBalancer pool 10.213.228.0/24) with objects and running pods → `mkube backup`
// → an object created after the backup → `mkube down` and the data dir wiped → `mkube restore` →
// `mkube up` again with the same flags: the backed-up objects are there (kubectl), the later one is
// not, the store's revision bumped by 1,000,000,000 and marked compacted (etcdutl's --bump-revision /
// --mark-compacted: a watch from the backup's resourceVersion is 410 Gone, an update's RV is above the
// bumped revision), the node reconnects and
// becomes Ready, the pods created before run again (the node agent recreates their containers).
// A damaged backup and a data dir that holds a cluster are refused.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, waitFor } from '@mkube/testing';

const run = promisify(execFile);
/** mkube restore's --bump-revision (RESTORE_REVISION_BUMP, packages/cli/src/restore_control_plane.ts). */
const RESTORE_REVISION_BUMP = 1_000_000_000;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MKUBE = join(root, 'packages', 'cli', 'dist', 'src', 'bin', 'mkube.js');
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';

let base = '';
let dataDir = '';
let upArgs: string[] = [];

const mkube = (args: string[], timeout = 300_000) => run(process.execPath, [MKUBE, ...args], { timeout });

async function mkubeFails(args: string[]): Promise<string> {
  try {
    await mkube(args, 120_000);
  } catch (err) {
    return (err as { stderr?: string }).stderr ?? '';
  }
  throw new Error(`mkube ${args.join(' ')} unexpectedly succeeded`);
}

async function kubectl(args: string[], input?: string): Promise<string> {
  if (input !== undefined) {
    const file = join(base, `manifest-${Date.now()}.yaml`);
    writeFileSync(file, input);
    args = args.map((a) => (a === '-' ? file : a));
  }
  const { stdout } = await run(KUBECTL, ['--kubeconfig', join(dataDir, 'admin.kubeconfig'), ...args], { timeout: 60_000 });
  return stdout;
}

/** @mkube/testing's waitFor, polling every 500 ms (each probe runs kubectl). */
const until = <T>(what: string, timeoutMs: number, probe: () => Promise<T>) => waitFor(what, timeoutMs, probe, 500);

interface Obj {
  metadata: { name: string; uid: string; resourceVersion: string };
  data?: Record<string, string>;
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<{ ready: boolean; restartCount: number }> };
}

const get = async (args: string[]): Promise<Obj> => JSON.parse(await kubectl(['get', ...args, '-o', 'json'])) as Obj;

async function podRunning(name: string): Promise<Obj> {
  return until(`pod dr/${name} Running and ready`, 180_000, async () => {
    const p = await get(['pod', '-n', 'dr', name]);
    return p.status?.phase === 'Running' && p.status.containerStatuses?.every((c) => c.ready) ? p : undefined;
  });
}

async function nodeReady(): Promise<string> {
  return until('the node to be Ready', 180_000, async () => {
    const nodes = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json'])) as { items: Obj[] };
    const n = nodes.items[0];
    return n && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? n.metadata.name : undefined;
  });
}

test.before(async () => {
  base = mkdtempSync(join(tmpdir(), 'mkube-dr-'));
  dataDir = join(base, 'cluster');
  upArgs = ['up', '--data-dir', dataDir, '--workers', '1', '--lab-name', 'mkbk', '--lab-subnet', '226', '--lb-address-pool', '10.213.228.0/24', '--api-port', String(await freePort())];
});

test.after.always(async () => {
  if (dataDir) await mkube(['down', '--data-dir', dataDir], 120_000).catch(() => undefined);
  if (base) rmSync(base, { recursive: true, force: true });
});

// Shared by the steps below (each a test, so that each stays within ava's timeout).
let node = '';
let sleeper: Obj;
let webPod: Obj;
let settings: Obj;
let secret: Obj;
let file = '';
let backupRevision = 0;

test.serial('a cluster from mkube up with a namespace, a ConfigMap, a Secret, a pod and a Deployment running', async (t) => {
  t.timeout(360_000);
  await mkube(upArgs);
  node = await nodeReady();
  await kubectl(['create', 'namespace', 'dr']);
  await kubectl(['create', 'configmap', 'settings', '-n', 'dr', '--from-literal=mode=blue', '--from-literal=replicas=3']);
  await kubectl(['create', 'secret', 'generic', 'token', '-n', 'dr', '--from-literal=password=s3cret']);
  await kubectl(['apply', '-f', '-'], `apiVersion: v1
kind: Pod
metadata: { name: sleeper, namespace: dr }
spec:
  containers: [{ name: main, image: busybox, command: [sleep, "3600"] }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: dr }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: main, image: busybox, command: [sleep, "3600"] }]
`);
  sleeper = await podRunning('sleeper');
  webPod = await until('the web Deployment pod', 180_000, async () => {
    const l = JSON.parse(await kubectl(['get', 'pods', '-n', 'dr', '-l', 'app=web', '-o', 'json'])) as { items: Obj[] };
    return l.items.length === 1 && l.items[0]!.status?.phase === 'Running' ? l.items[0] : undefined;
  });
  settings = await get(['configmap', '-n', 'dr', 'settings']);
  secret = await get(['secret', '-n', 'dr', 'token']);
  t.pass();
});

test.serial('mkube backup: one 0600 file with the store snapshot and the PKI', async (t) => {
  t.timeout(180_000);
  file = join(base, 'cluster-backup.tar');
  const b = await mkube(['backup', '--data-dir', dataDir, '--output', file], 120_000);
  t.regex(b.stdout, /^Backup written to .*cluster-backup\.tar \(store revision (\d+), snapshot sha256 [0-9a-f]{64}\)\.\n/);
  backupRevision = Number(/store revision (\d+)/.exec(b.stdout)![1]);
  t.is(statSync(file).mode & 0o777, 0o600);
  const listing = (await run('tar', ['-tf', file])).stdout.split('\n');
  t.true(listing.includes('manifest.json') && listing.includes('snapshot.db') && listing.includes('apiserver/pki/ca.key'));
  t.false(listing.some((f) => f.startsWith('apiserver/store/')), 'the store data itself is the snapshot');
  let highestRv = 0;
  for (const o of [settings, secret, sleeper, webPod]) highestRv = Math.max(highestRv, Number(o.metadata.resourceVersion));
  t.true(backupRevision >= highestRv);
  // Made after the backup: not in it.
  await kubectl(['create', 'configmap', 'after-backup', '-n', 'dr', '--from-literal=x=1']);
});

test.serial('disaster: the cluster stopped and its data dir wiped; a damaged backup refused; mkube restore', async (t) => {
  t.timeout(240_000);
  await mkube(['down', '--data-dir', dataDir], 120_000);
  rmSync(dataDir, { recursive: true, force: true });

  // A damaged backup is refused and leaves the data dir without a cluster.
  const damaged = join(base, 'damaged');
  await run('mkdir', ['-p', damaged]);
  await run('tar', ['-xf', file, '-C', damaged]);
  const snap = readFileSync(join(damaged, 'snapshot.db'));
  snap[Math.floor(snap.length / 3)]! ^= 0x10;
  writeFileSync(join(damaged, 'snapshot.db'), snap);
  await run('tar', ['-cf', join(base, 'damaged.tar'), '-C', damaged, '.']);
  const refused = await mkubeFails(['restore', join(base, 'damaged.tar'), '--data-dir', dataDir]);
  t.regex(refused, /mkube restore: .*damaged\.tar: the store snapshot is damaged: snapshot .* is corrupt: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64} .*\[BACKUP_CORRUPT\]/);
  t.false(existsSync(join(dataDir, 'apiserver')));

  const r = await mkube(['restore', file, '--data-dir', dataDir], 120_000);
  t.regex(r.stdout, new RegExp(`^Restored .* into .*: store revision ${backupRevision} bumped to ${backupRevision + RESTORE_REVISION_BUMP}, new store member [0-9a-f]+ of cluster [0-9a-f]+\\.\\nStart it with: mkube up --data-dir `));
  t.regex(await mkubeFails(['restore', file, '--data-dir', dataDir]), /cannot restore into .*apiserver exists .*\[DATA_DIR_IN_USE\]/);
});

test.serial('mkube up again: the objects of the backup, not the later one, resourceVersions continuing, the node Ready', async (t) => {
  t.timeout(360_000);
  await mkube(upArgs);
  // The node reconnects and becomes Ready under its name.
  t.is(await nodeReady(), node);
  const settings2 = await get(['configmap', '-n', 'dr', 'settings']);
  t.deepEqual(settings2.data, { mode: 'blue', replicas: '3' });
  t.is(settings2.metadata.uid, settings.metadata.uid);
  t.is(settings2.metadata.resourceVersion, settings.metadata.resourceVersion);
  t.is((await get(['secret', '-n', 'dr', 'token'])).metadata.uid, secret.metadata.uid);
  const gone = await kubectl(['get', 'configmap', '-n', 'dr', 'after-backup']).then(() => 'found', (err: { stderr?: string }) => err.stderr ?? '');
  t.regex(gone, /Error from server \(NotFound\): configmaps "after-backup" not found/);
  // A watch from a resourceVersion of the old cluster: 410 Gone (the informers of the old cluster's clients relist).
  const oldWatch = await kubectl(['get', '--raw', `/api/v1/namespaces/dr/configmaps?watch=1&timeoutSeconds=1&resourceVersion=${backupRevision}`]);
  t.regex(oldWatch, /"type":"ERROR".*"reason":"Expired".*"code":410/);
  // resourceVersions continue above the bumped revision.
  await kubectl(['patch', 'configmap', '-n', 'dr', 'settings', '--type', 'merge', '-p', '{"data":{"mode":"green"}}']);
  const settings3 = await get(['configmap', '-n', 'dr', 'settings']);
  t.true(Number(settings3.metadata.resourceVersion) > backupRevision + RESTORE_REVISION_BUMP, `RV ${settings3.metadata.resourceVersion} > ${backupRevision} + ${RESTORE_REVISION_BUMP}`);
});

test.serial('the pods created before the backup run again on the node (same objects, containers recreated)', async (t) => {
  t.timeout(240_000);
  const sleeper2 = await podRunning('sleeper');
  t.is(sleeper2.metadata.uid, sleeper.metadata.uid);
  const web2 = await podRunning(webPod.metadata.name);
  t.is(web2.metadata.uid, webPod.metadata.uid);
});
