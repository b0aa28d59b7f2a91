// Disaster recovery of a cluster whose store runs on its control planes: `mkube up --control-planes 3 --workers 1` in the
// lab (deploy/lab/lab.sh --name mkrs --subnet 252 --pod-prefix 27: hosts 10.213.252.11-14, their pod subnets /27s of
// 10.213.253.0/24, LoadBalancer pool 10.213.253.224/27) → objects and a Deployment's pods → `mkube backup` → an object
// created after the backup, one deleted, a pod created → every control plane lost (all its processes SIGKILLed, its
// data dir removed; the worker keeps running) → `mkube restore FILE --control-plane --advertise-address IP
// --initial-cluster ...` run on the three hosts at once, as on machines → every member restored from the same snapshot
// with its latest revision bumped by 1,000,000,000 and marked compacted (etcdutl's --bump-revision/--mark-compacted),
// every API server serving the backup's objects (same uid and resourceVersion), the later object a 404, the deleted one
// back, a watch from a resourceVersion of the old cluster answered 410 Gone, the next write above the bumped revision,
// every API server in the kubernetes Endpoints; the worker's processes NOT restarted (same pids): its node agent's
// informers got 410 Gone and relisted on their own → its Node Ready, the Deployment's pods running, the pod created
// after the backup gone from the API and its container stopped on the worker.
// Bounds: set-up 6 min, the restore test 5 min; the after hook stops every process, the lab and the data dir.
import { mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { labDown } from '@mkube/testing';
import { readState, stopProcess } from '@mkube/cli';
import { killOnHost, Lab, mkube, mkubeOn, run, waitUntil, type HostRecord } from './ha_lab.js';

const LAB = 'mkrs';
const SUBNET = 252;
const POOL = '10.213.253.224/27';
/** mkube restore's --bump-revision (RESTORE_REVISION_BUMP, packages/cli/src/restore_control_plane.ts). */
const RESTORE_REVISION_BUMP = 1_000_000_000;

let work = '';
let lab: Lab;
let backupFile = '';
let backupRevision = 0;
const before: Record<string, { uid: string; resourceVersion: string }> = {};
let webPods: string[] = [];
let afterPodIP = '';

const meta = async (what: string[], ctx?: string) => {
  const r = await lab.kubectl([...(ctx ? [`--context=${ctx}`] : []), 'get', ...what, '-o', 'jsonpath={.metadata.uid} {.metadata.resourceVersion}']);
  if (r.code !== 0) throw new Error(`kubectl get ${what.join(' ')}: ${r.err}`);
  const [uid, resourceVersion] = r.out.trim().split(' ');
  return { uid: uid!, resourceVersion: resourceVersion! };
};

const runningPods = async (selector: string) => {
  const r = await lab.kubectl(['get', 'pods', '-n', 'keep', '-l', selector, '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.phase}={.status.podIP} {end}']);
  return r.out.trim().split(' ').filter(Boolean).map((p) => p.split('=')).filter(([, phase]) => phase === 'Running').map(([name, , ip]) => ({ name: name!, ip: ip! }));
};

/** An HTTP GET from the worker's network namespace (the pod network): the status code, '000' when nothing answers. */
const curlFromWorker = async (ip: string) => (await run('nsenter', [`--net=/run/netns/${lab.workers()[0]!.netns!}`, 'curl', '-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', `http://${ip}/`], 5000)).out;

test.before(async (t) => {
  work = mkdtempSync(join(tmpdir(), 'mkube-rsha-'));
  lab = new Lab(join(work, 'cluster'), work);
  await labDown(LAB).catch(() => undefined);
  const started = Date.now();
  const r = await mkube(['up', '--control-planes', '3', '--workers', '1', '--data-dir', lab.dir, '--lab-name', LAB, '--lab-subnet', String(SUBNET), '--lab-pod-prefix', '27', '--lb-address-pool', POOL], 360_000);
  if (r.code !== 0) throw new Error(`mkube up failed (${r.code}):\n${r.out}\n${r.err}`);
  t.log(`mkube up --control-planes 3 --workers 1: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  lab.load();
});

test.after.always(async () => {
  if (lab) {
    await mkube(['down', '--data-dir', lab.dir], 180_000);
    for (const h of lab.hosts) for (const c of readState(h.dataDir)?.components ?? []) await stopProcess(c.pid, 2000).catch(() => undefined);
  }
  await labDown(LAB).catch(() => undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('objects and pods, mkube backup of the 3-control-plane cluster, then a later object, a deletion and a pod', async (t) => {
  const k = async (args: string[]) => {
    const r = await lab.kubectl(args);
    t.is(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}`);
    return r.out;
  };
  await k(['create', 'namespace', 'keep']);
  await k(['create', 'configmap', 'before', '-n', 'keep', '--from-literal=k=before']);
  await k(['create', 'configmap', 'deleted-later', '-n', 'keep', '--from-literal=k=deleted']);
  await k(['create', 'deployment', 'web', '-n', 'keep', '--image=nginx', '--replicas=2']);
  webPods = (await waitUntil('2 web pods running', 120_000, async () => {
    const p = await runningPods('app=web');
    return p.length === 2 ? p : undefined;
  })).map((p) => p.name).sort();
  for (const what of [['namespace', 'keep'], ['configmap', 'before', '-n', 'keep'], ['configmap', 'deleted-later', '-n', 'keep'], ['deployment', 'web', '-n', 'keep'], ...webPods.map((p) => ['pod', p, '-n', 'keep'])]) {
    before[what.slice(0, 2).join('/')] = await meta(what);
  }

  backupFile = join(work, 'backup.tar');
  const b = await mkube(['backup', '--data-dir', lab.dir, '--output', backupFile], 120_000);
  t.is(b.code, 0, b.err);
  backupRevision = Number(/store revision (\d+)/.exec(b.out)![1]);
  t.is(statSync(backupFile).mode & 0o777, 0o600);
  t.log(`backup at store revision ${backupRevision}`);
  // Everything read before the backup is at or below its revision.
  for (const m of Object.values(before)) t.true(Number(m.resourceVersion) <= backupRevision);

  await k(['create', 'configmap', 'after', '-n', 'keep', '--from-literal=k=after']);
  await k(['delete', 'configmap', 'deleted-later', '-n', 'keep']);
  await k(['run', 'after-pod', '-n', 'keep', '--image=nginx', '--labels=app=after']);
  afterPodIP = (await waitUntil('the after-pod running', 120_000, async () => (await runningPods('app=after'))[0]))!.ip;
  t.is(await curlFromWorker(afterPodIP), '200');
});

test.serial('every control plane lost, mkube restore --control-plane on all three: the backup\'s revision and objects on every member and API server, the worker back', async (t) => {
  const planes = lab.planes();
  // The disaster: every control-plane process killed, every control plane's data gone (moved away: the after hook removes it).
  for (const h of planes) killOnHost(h);
  for (const h of planes) for (const c of readState(h.dataDir)?.components ?? []) await stopProcess(c.pid, 5000).catch(() => undefined);
  for (const h of planes) renameSync(h.dataDir, `${h.dataDir}.lost`);
  // The worker keeps running: its processes are the same after the restore (no restart).
  const w: HostRecord = lab.workers()[0]!;
  const workerPids = (readState(w.dataDir)?.components ?? []).map((c) => `${c.name}:${c.pid}`).sort();
  t.true(workerPids.length > 0);

  const initialCluster = planes.map((h) => `${h.name}=https://${h.address}:2380`).join(',');
  const startedAt = Date.now();
  const results = await Promise.all(planes.map((h) => mkubeOn(h, ['restore', backupFile, '--control-plane', '--advertise-address', h.address, '--initial-cluster', initialCluster,
    '--node-name', h.name, '--data-dir', h.dataDir], 240_000)));
  for (const [i, r] of results.entries()) {
    t.is(r.code, 0, `${planes[i]!.name}:\n${r.out}\n${r.err}`);
    // Each member was made from the snapshot at the backup's revision.
    t.regex(r.out, new RegExp(`Control plane ${planes[i]!.name} restored from .*: store revision ${backupRevision} bumped to ${backupRevision + RESTORE_REVISION_BUMP}, member [0-9a-f]+ of the new store cluster [0-9a-f]+`));
  }
  t.log(`3 control planes restored and serving ${Date.now() - startedAt} ms after mkube restore started on each`);
  // One new store cluster: the same cluster ID reported by every host, three different members.
  const ids = results.map((r) => /member ([0-9a-f]+) of the new store cluster ([0-9a-f]+)/.exec(r.out)!);
  t.is(new Set(ids.map((m) => m[2])).size, 1);
  t.is(new Set(ids.map((m) => m[1])).size, 3);

  const s = await waitUntil('3 started voters with one leader', 60_000, async () => {
    const st = await lab.status();
    return st.store?.members.length === 3 && st.store.members.every((m) => m.started && !m.learner) && st.store.members.filter((m) => m.leader).length === 1 ? st : undefined;
  });
  t.deepEqual(s.store!.members.map((m) => m.name).sort(), planes.map((h) => h.name).sort());
  // Every member has the same data: the same revision once writes settle (one more write, then every Status equal).
  const revs = await waitUntil('every member at one revision', 30_000, async () => {
    const rs = await Promise.all(planes.map((h) => lab.memberStatus(h).then((m) => m.revision)));
    return rs.every((r) => r === rs[0]) ? rs : undefined;
  });
  t.true(revs[0]! > backupRevision + RESTORE_REVISION_BUMP, `members at ${revs[0]}`);

  // Every API server serves the backup's objects with their uid and resourceVersion; the later one is gone, the deleted one back.
  for (const h of planes) {
    const ready = await lab.https(h.apiServer!, 'GET', '/readyz', undefined, 5000);
    t.is(ready.status, 200, h.name);
    for (const [key, m] of Object.entries(before)) {
      const [kind, name] = key.split('/');
      const got = await meta(kind === 'namespace' ? [kind!, name!] : [kind!, name!, '-n', 'keep'], `mkube-${h.name}`);
      t.deepEqual(got, m, `${h.name}: ${key}`);
    }
    t.is((await lab.https(h.apiServer!, 'GET', '/api/v1/namespaces/keep/configmaps/after', undefined, 5000)).status, 404, `${h.name}: after`);
    t.is((await lab.https(h.apiServer!, 'GET', '/api/v1/namespaces/keep/pods/after-pod', undefined, 5000)).status, 404, `${h.name}: after-pod`);
    const back = await lab.https(h.apiServer!, 'GET', '/api/v1/namespaces/keep/configmaps/deleted-later', undefined, 5000);
    t.is(back.status, 200, `${h.name}: deleted-later`);
  }
  // A watch from a resourceVersion of the old cluster (the backup's, as an informer of the old cluster holds): 410 Gone.
  const oldWatch = await lab.https(planes[0]!.apiServer!, 'GET', `/api/v1/namespaces/keep/configmaps?watch=1&timeoutSeconds=1&resourceVersion=${backupRevision}`, undefined, 10_000);
  t.is(oldWatch.status, 200, oldWatch.body);
  t.regex(oldWatch.body, /"type":"ERROR".*"reason":"Expired".*"code":410/, 'a watch from the old revision is Gone (410, too old resource version)');
  t.log(`watch from resourceVersion ${backupRevision}: ${oldWatch.body.trim().slice(0, 300)}`);
  // The next change gets a resourceVersion above the bumped revision.
  const labelled = await lab.kubectl(['label', 'configmap', 'before', '-n', 'keep', 'restored=yes']);
  t.is(labelled.code, 0, labelled.err);
  const rv = Number((await meta(['configmap', 'before', '-n', 'keep'])).resourceVersion);
  t.true(rv > backupRevision + RESTORE_REVISION_BUMP, `resourceVersion ${rv} after the restore, backup at ${backupRevision}`);
  await waitUntil('the kubernetes Endpoints to list the 3 API servers', 60_000, async () => {
    const ep = await lab.kubectl(['get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[*].addresses[*].ip}']);
    return ep.out.trim().split(/\s+/).sort().join(',') === planes.map((p) => p.address).sort().join(',') ? true : undefined;
  });

  // The worker, not restarted: its node agent relists on the 410s and reconciles; its lease renewed after the restore, Ready.
  await waitUntil(`node ${w.name}'s lease renewed after the restore`, 60_000, async () => {
    const r = await lab.kubectl(['get', 'lease', '-n', 'kube-node-lease', w.name, '-o', 'jsonpath={.spec.renewTime}']);
    return Date.parse(r.out) > startedAt ? true : undefined;
  });
  await waitUntil(`node ${w.name} Ready`, 60_000, async () => {
    const r = await lab.kubectl(['get', 'node', w.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
    return r.out === 'True' ? true : undefined;
  });
  const web = await waitUntil('the 2 web pods of the backup running', 120_000, async () => {
    const p = await runningPods('app=web');
    return p.length === 2 && p.map((x) => x.name).sort().join() === webPods.join() ? p : undefined;
  });
  for (const p of web) await waitUntil(`web pod ${p.name} answering`, 60_000, async () => ((await curlFromWorker(p.ip)) === '200' ? true : undefined));
  // The pod created after the backup is not in the restored cluster: its container is stopped on the worker.
  await waitUntil('the after-pod\'s container stopped (nothing answers on its IP)', 90_000, async () => ((await curlFromWorker(afterPodIP)) === '000' ? true : undefined));
  t.log(`worker ${w.name} (not restarted) Ready with its pods reconciled ${Math.round((Date.now() - startedAt) / 1000)} s after mkube restore started`);
  t.deepEqual((readState(w.dataDir)?.components ?? []).map((c) => `${c.name}:${c.pid}`).sort(), workerPids, 'the worker\'s processes were not restarted');
  const healthy = await waitUntil('mkube status healthy', 60_000, async () => ((await lab.status()).healthy ? true : undefined));
  t.true(healthy);
});
