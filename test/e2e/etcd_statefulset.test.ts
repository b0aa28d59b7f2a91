// The seed's own example, "a StatefulSet for etcd to store catalog data", on a whole `mkube up --workers 2`
// cluster (lab mketcd, nodes 10.213.152.0/24, pods 10.213.153.0/24 and 10.213.154.0/24) with real containerd
// and kubectl 1.33: the etcd:3.4 image of deploy/images/build.sh (Debian's etcd-server), a headless Service
// etcd publishing not-ready addresses (peers resolve before they are ready, as upstream's etcd StatefulSet
// examples), a 3-replica StatefulSet etcd whose members name each other by their stable DNS names
// (etcd-N.etcd.default.svc.cluster.local) and keep their data on a volumeClaimTemplate `data` (local-path,
// WaitForFirstConsumer). The members form one cluster, a key written is read back; after `kubectl delete
// pod etcd-1` etcd-1 comes back with the same name, claim and node, the same member ID and its data, and
// catches up, while every write through etcd-0 succeeds; a deleted etcd-2 whose node is cordoned waits
// unschedulable, the cluster answering with 2 of 3 members, and returns once uncordoned. mkube up and
// the tests within 4 minutes; `mkube down` removes everything.
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PersistentVolume, PersistentVolumeClaim, Pod } from '@mkube/api';
import { freePort, labDown, REPO_ROOT, run, waitFor } from '@mkube/testing';

const LAB = 'mketcd';
const SUBNET = 152; // nodes 10.213.152.0/24, pods 10.213.153.0/24 and 10.213.154.0/24
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const MKUBE = join(REPO_ROOT, 'packages', 'cli', 'dist', 'src', 'bin', 'mkube.js');
const DOMAIN = 'etcd.default.svc.cluster.local';
const peer = (i: number) => `etcd-${i}=http://etcd-${i}.${DOMAIN}:2380`;

// The whole file (mkube up and both tests) within 4 minutes; the clean-up after it has its own bounds.
const BUDGET_MS = 240_000;
let deadline = Date.now() + BUDGET_MS;
const left = () => Math.max(1_000, deadline - Date.now());

let dataDir = '';
let kubeconfig = '';
let upOutput = '';

const k = async (args: string[], timeoutMs = 60_000) => (await run(KUBECTL, ['--kubeconfig', kubeconfig, ...args], timeoutMs)).stdout;
const getJson = async <T>(args: string[]) => JSON.parse(await k(['get', ...args, '-o', 'json'])) as T;
/** etcdctl in a member's container against that member (a serializable read answers from its own data). */
const etcdctl = (pod: string, args: string[], timeoutMs = 20_000) => k(['exec', pod, '-c', 'etcd', '--', 'etcdctl', '--endpoints=http://127.0.0.1:2379', '--command-timeout=5s', ...args], timeoutMs);
/** `etcdctl endpoint health --cluster` through a member: each endpoint's line (etcdctl writes them to stderr). */
const clusterHealth = async (pod: string) => {
  const r = await run(KUBECTL, ['--kubeconfig', kubeconfig, 'exec', pod, '-c', 'etcd', '--', 'etcdctl', '--endpoints=http://127.0.0.1:2379', '--command-timeout=3s', 'endpoint', 'health', '--cluster'], 30_000)
    .catch((err: Error) => ({ stdout: '', stderr: err.message }));
  return `${r.stdout}${r.stderr}`;
};
const isReady = (p: Pod) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Running' && !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

interface Member { id: string; status: string; name: string; peerURL: string; clientURL: string }
/** `etcdctl member list` (simple format: ID, status, name, peer URLs, client URLs, is learner). */
function members(out: string): Member[] {
  return out.trim().split('\n').filter(Boolean).map((l) => {
    const [id, status, name, peerURL, clientURL] = l.split(', ');
    return { id: id!, status: status!, name: name!, peerURL: peerURL!, clientURL: clientURL! };
  });
}

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: etcd, labels: {app: etcd}}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: etcd}
  ports:
  - {name: client, port: 2379}
  - {name: peer, port: 2380}
`;

// Parallel: a member cannot be healthy (Ready) before a quorum of its peers runs. The heartbeat and
// election timeout are raised for a machine whose two cores many tests share.
const STATEFULSET = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: etcd, labels: {app: etcd}}
spec:
  serviceName: etcd
  replicas: 3
  podManagementPolicy: Parallel
  selector:
    matchLabels: {app: etcd}
  template:
    metadata:
      labels: {app: etcd}
    spec:
      terminationGracePeriodSeconds: 10
      # Members on different nodes where possible (two workers, three members: one node holds two).
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              labelSelector:
                matchLabels: {app: etcd}
              topologyKey: kubernetes.io/hostname
      containers:
      - name: etcd
        image: etcd:3.4
        imagePullPolicy: IfNotPresent
        ports:
        - {name: client, containerPort: 2379}
        - {name: peer, containerPort: 2380}
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        command: [/bin/sh, -ec]
        args:
        - |
          # etcd matches its advertised peer URL against --initial-cluster by resolving it: wait until
          # the headless Service publishes this pod (not ready yet) in cluster DNS.
          until nslookup $(POD_NAME).${DOMAIN} >/dev/null 2>&1; do sleep 1; done
          exec etcd --name $(POD_NAME) --data-dir /var/lib/etcd/data \\
            --listen-peer-urls http://0.0.0.0:2380 --listen-client-urls http://0.0.0.0:2379 \\
            --initial-advertise-peer-urls http://$(POD_NAME).${DOMAIN}:2380 \\
            --advertise-client-urls http://$(POD_NAME).${DOMAIN}:2379 \\
            --initial-cluster ${[0, 1, 2].map(peer).join(',')} \\
            --initial-cluster-state new --initial-cluster-token catalog \\
            --heartbeat-interval 200 --election-timeout 2000
        readinessProbe:
          exec:
            command: [etcdctl, --endpoints=http://127.0.0.1:2379, --command-timeout=3s, endpoint, health]
          periodSeconds: 2
          timeoutSeconds: 5
        volumeMounts:
        - {name: data, mountPath: /var/lib/etcd}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
`;

test.before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'mkube-e2e-etcd-'));
  kubeconfig = join(dataDir, 'admin.kubeconfig');
  const started = Date.now();
  deadline = started + BUDGET_MS;
  upOutput = (await run(process.execPath, [MKUBE, 'up', '--data-dir', dataDir, '--workers', '2', '--lab-name', LAB, '--lab-subnet', String(SUBNET), '--api-port', String(await freePort())], 150_000)).stdout;
  console.log(`mkube up --workers 2: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test.after.always(async () => {
  if (dataDir) await run(process.execPath, [MKUBE, 'down', '--data-dir', dataDir], 120_000).catch((err: Error) => console.log(`mkube down: ${err.message}`));
  // Also after a start-up that failed before the cluster state named the lab.
  await labDown(LAB).catch(() => undefined);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

let memberIds = new Map<string, string>();

test.serial('three etcd members find each other by their stable DNS names and form one cluster; a key written is read back', async (t) => {
  t.timeout(Math.min(120_000, left()));
  t.regex(upOutput, /Nodes mketcd-w1, mketcd-w2 are Ready/);
  const started = Date.now();
  const file = join(dataDir, 'etcd.yaml');
  writeFileSync(file, `${SERVICE}---\n${STATEFULSET}`);
  await k(['apply', '-f', file]);
  t.regex(await k(['rollout', 'status', 'sts/etcd', '--timeout=90s'], 100_000), /partitioned roll out complete: 3 new pods have been updated/);
  t.log(`3 members Ready ${((Date.now() - started) / 1000).toFixed(1)} s after kubectl apply`);

  const pods = (await getJson<{ items: Pod[] }>(['pods', '-l', 'app=etcd'])).items;
  t.deepEqual(pods.map((p) => p.metadata?.name).sort(), ['etcd-0', 'etcd-1', 'etcd-2']);
  for (const p of pods) {
    t.is(p.spec?.hostname, p.metadata?.name);
    t.is(p.spec?.subdomain, 'etcd');
  }
  // Where they run is logged, not asserted: the preferred anti-affinity should spread them, but the
  // scheduler's VolumeBinding PreBind reads the claim it just annotated from a lagging informer and fails
  // the first attempt ("selectedNode annotation reset"), forgetting the assumed pod, so the members'
  // first attempts do not see each other and may all pick one node (which the local volumes then pin).
  t.log(`placement: ${pods.map((p) => `${p.metadata?.name ?? ''} on ${p.spec?.nodeName ?? ''}`).join(', ')}`);
  // Each member's claim data-etcd-N is Bound to a local volume pinned to the member's node.
  for (const p of pods) {
    const pvc = await getJson<PersistentVolumeClaim>(['pvc', `data-${p.metadata?.name ?? ''}`]);
    t.is(pvc.status?.phase, 'Bound');
    const pv = await getJson<PersistentVolume>(['pv', pvc.spec!.volumeName!]);
    t.deepEqual(pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]?.values, [p.spec!.nodeName!]);
  }

  const list = members(await etcdctl('etcd-0', ['member', 'list']));
  t.log(list.map((m) => `${m.id} ${m.status} ${m.name} ${m.peerURL}`).join('\n'));
  t.deepEqual(list.map((m) => m.name).sort(), ['etcd-0', 'etcd-1', 'etcd-2']);
  for (const m of list) {
    t.is(m.status, 'started');
    t.is(m.peerURL, `http://${m.name}.${DOMAIN}:2380`);
    t.is(m.clientURL, `http://${m.name}.${DOMAIN}:2379`);
  }
  memberIds = new Map(list.map((m) => [m.name, m.id]));
  const health = await clusterHealth('etcd-2');
  t.is(health.match(/ is healthy: /g)?.length, 3, health);

  t.is((await etcdctl('etcd-0', ['put', 'catalog/sku-1042', 'blue widget'])).trim(), 'OK');
  t.is((await etcdctl('etcd-2', ['get', 'catalog/sku-1042', '--print-value-only'])).trim(), 'blue widget');
  // Another member reaches it by its DNS name from inside the cluster.
  t.is((await k(['exec', 'etcd-1', '--', 'etcdctl', `--endpoints=http://etcd-0.${DOMAIN}:2379`, 'get', 'catalog/sku-1042', '--print-value-only'])).trim(), 'blue widget');
});

/**
 * `kubectl delete pod NAME` of a running member while writes go through etcd-0 back to back (every one must
 * succeed), and its return: same name, node, claim and volume, the first incarnation's mark on the
 * volume, restarted from its write-ahead log as the same member, healthy, caught up with every write.
 * With `cordon`, the member's node is cordoned first: the new pod waits unschedulable (its volume pins
 * it there) and the 2-of-3 cluster is checked in that window, until uncordon.
 */
async function deleteMember(t: ExecutionContext, name: string, cordon: boolean): Promise<void> {
  t.is(memberIds.size, 3, 'the cluster of the first test');
  const before = await getJson<Pod>(['pod', name]);
  const node = before.spec!.nodeName!;
  const claim = await getJson<PersistentVolumeClaim>(['pvc', `data-${name}`]);
  const uid = before.metadata?.uid ?? '';
  const others = ['etcd-0', 'etcd-1', 'etcd-2'].filter((m) => m !== name);
  const via = others[0]!;

  // A mark on the member's volume, beside its data directory, by this incarnation.
  await k(['exec', name, '--', 'sh', '-c', `echo ${uid} > /var/lib/etcd/written-by`]);

  // Leadership away from the member first, as an operator would before taking it down (a put in flight
  // while the leader changes may fail with "leader changed", which is etcd's answer, not ours).
  const status = await etcdctl(via, ['endpoint', 'status', '--cluster']);
  const leader = status.split('\n').find((l) => l.split(', ')[4] === 'true');
  if (leader?.startsWith(`http://${name}.${DOMAIN}:2379`)) {
    await k(['exec', name, '--', 'etcdctl', '--endpoints=http://127.0.0.1:2379', 'move-leader', memberIds.get(via)!]);
    t.log(`moved leadership from ${name} to ${via}`);
  }

  const probe = `probe/${name}-${uid.slice(0, 8)}/`;
  const writes: Array<{ at: number; ok: boolean; err?: string }> = [];
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const r = await etcdctl(via, ['put', `${probe}${String(i).padStart(4, '0')}`, `v${i}`]).then(() => ({ ok: true }), (err: Error) => ({ ok: false, err: err.message.split('\n').slice(0, 3).join(' ') }));
      writes.push({ at: Date.now(), ...r });
    }
  })();
  const deleted = Date.now();
  try {
    if (cordon) await k(['cordon', node]);
    // Returns once this incarnation is gone.
    await k(['delete', 'pod', name, '--timeout=60s'], 70_000);
    if (cordon) {
      const pending = await waitFor(`a new ${name}, unschedulable on the cordoned node`, 60_000, async () => {
        const p = await getJson<Pod>(['pod', name]).catch(() => undefined);
        if (!p || p.metadata?.uid === uid) return undefined;
        return p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable') ? p : undefined;
      });
      t.falsy(pending.spec?.nodeName);
      t.log(`${name} Pending: ${pending.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message}`);
      // 2 of 3: the member unhealthy, the others healthy; reads and writes through either.
      const health = await clusterHealth(via);
      t.is(health.match(/ is healthy: /g)?.length, 2, health);
      t.regex(health, new RegExp(`http://${name}\\.${DOMAIN.replace(/\./g, '\\.')}:2379 is unhealthy`), health);
      t.is((await etcdctl(others[1]!, ['put', `catalog/while-${name}-away`, 'red gadget'])).trim(), 'OK');
      t.is((await etcdctl(via, ['get', `catalog/while-${name}-away`, '--print-value-only'])).trim(), 'red gadget');
      await waitFor(`three writes while ${name} is away`, 30_000, () => (writes.filter((w) => w.ok && w.at > deleted).length >= 3 ? true : undefined));
      await k(['uncordon', node]);
    }
    const back = await waitFor(`${name} Ready again`, 90_000, async () => {
      const p = await getJson<Pod>(['pod', name]).catch(() => undefined);
      return p && p.metadata?.uid !== uid && isReady(p) ? p : undefined;
    });
    t.log(`${name} back and Ready ${((Date.now() - deleted) / 1000).toFixed(1)} s after the delete${cordon ? ' (its node cordoned meanwhile)' : ''}`);
    t.is(back.spec?.nodeName, node, 'on the node its local volume pins it to');
    t.is(back.spec?.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName, `data-${name}`);
    const claimAfter = await getJson<PersistentVolumeClaim>(['pvc', `data-${name}`]);
    t.is(claimAfter.metadata?.uid, claim.metadata?.uid, 'the same claim');
    t.is(claimAfter.spec?.volumeName, claim.spec?.volumeName, 'the same volume');
  } finally {
    writing = false;
    await writer;
    if (cordon) await k(['uncordon', node]).catch(() => undefined);
  }
  const failed = writes.filter((w) => !w.ok);
  t.log(`${writes.length} writes through ${via} during the delete and return of ${name}, ${failed.length} failed`);
  t.deepEqual(failed, [], 'the cluster answered throughout');

  // Its data directory survived: the first incarnation's mark is there, and etcd restarted the member
  // from its write-ahead log rather than starting a new one.
  t.is((await k(['exec', name, '--', 'cat', '/var/lib/etcd/written-by'])).trim(), uid);
  const logs = await k(['logs', name]);
  t.regex(logs, new RegExp(`restarting member ${memberIds.get(name)!} in cluster`), logs.slice(-2000));
  t.notRegex(logs, /\bstarting member [0-9a-f]+ in cluster/);
  // It rejoined as the same member and caught up.
  const list = members(await etcdctl(name, ['member', 'list']));
  t.deepEqual(new Map(list.map((m) => [m.name, m.id])), memberIds);
  t.true(list.every((m) => m.status === 'started'));
  const health = await clusterHealth(name);
  t.is(health.match(/ is healthy: /g)?.length, 3, health);
  // From its own copy (serializable): the key of the first test, every write made while it was away
  // (a range's Count is every key in it, whatever the limit).
  t.is((await etcdctl(name, ['get', 'catalog/sku-1042', '--print-value-only', '--consistency=s'])).trim(), 'blue widget');
  const okWrites = writes.filter((w) => w.ok).length;
  const caughtUp = await waitFor(`${name} to apply every write made while it was away`, 30_000, async () => {
    const probes = Number((await etcdctl(name, ['get', probe, '--prefix', '--keys-only', '--limit=1', '--write-out=fields', '--consistency=s'])).match(/"Count" : (\d+)/)?.[1]);
    if (!(probes >= okWrites)) return undefined;
    if (cordon && (await etcdctl(name, ['get', `catalog/while-${name}-away`, '--print-value-only', '--consistency=s'])).trim() !== 'red gadget') return undefined;
    return probes;
  });
  t.is(caughtUp, writes.length);
}

test.serial('kubectl delete pod etcd-1: etcd-1 comes back on its node with its claim, member ID and data; every write meanwhile succeeds', async (t) => {
  t.timeout(left());
  await deleteMember(t, 'etcd-1', false);
});

test.serial('with its node cordoned, a deleted etcd-2 waits unschedulable and the cluster answers with 2 of 3 members; uncordoned, it returns', async (t) => {
  t.timeout(left());
  await deleteMember(t, 'etcd-2', true);
});
