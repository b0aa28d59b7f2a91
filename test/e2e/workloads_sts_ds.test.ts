// StatefulSets and DaemonSets on real containers: three lab workers (network namespaces with
// their own containerd; the third node agent starts only later) run mkube-node-agent against one
// API server, with the scheduler and the controller manager (statefulset, daemonset,
// garbagecollector). kubectl 1.33 drives them.
// StatefulSet web (3 replicas, OrderedReady): web-1 is created only after web-0 is Ready, each pod
// has its stable hostname; `kubectl delete pod web-1` brings web-1 back; a rolling update with
// partition 1 updates web-2 then web-1 and leaves web-0; `rollout history/undo/status` work;
// scaling to 1 deletes web-2, and web-1 only once web-2 is gone.
// DaemonSet agent: one pod per node, none on a node tainted NoSchedule, a pod for the node that
// joins later and for the tainted node once untainted; a rolling update and its undo.
// StatefulSet data with a volumeClaimTemplate on the local-path provisioner: each pod writes its
// name to its volume; a deleted pod comes back on the same node with its file; scaling down keeps
// the claims, unless persistentVolumeClaimRetentionPolicy.whenScaled is Delete.
import test from 'ava';
import { type ChildProcess } from 'node:child_process';
import { pino } from 'pino';
import { Resources, type WatchHandle } from '@mkube/client';
import type { Pod } from '@mkube/api';
import { ControllerManager } from '@mkube/controllers';
import { killChild, KUBECTL, kubectlFor, labDown, labUp, run, startLabAgents, startScheduler, waitFor, waitNodesReady, type LabAgents, type LabNode, type LabSummary } from '@mkube/testing';
import { startControlPlane, type ControlPlane } from './control_plane.js';

const LAB = 'mkwl';
const SUBNET = 132; // nodes 10.213.132.0/24, pods 10.213.133.0/24, 10.213.134.0/24 and 10.213.135.0/24

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
let cm: ControllerManager | undefined;
let scheduler: ChildProcess | undefined;
let watch: WatchHandle | undefined;
const agents: LabAgents[] = [];
const workers: LabNode[] = [];

type Seen = { type: string; name: string; uid: string; deleting: boolean; ready: boolean; revision?: string };
const timeline: Seen[] = [];

const { k, apply } = kubectlFor(() => cp!);
const isReady = (p: Pod) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Running' && !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
const podList = async (selector: string) => (await cp!.client.resource<Pod>(Resources.pods).list('default', { labelSelector: selector })).items;

async function startWorker(w: LabNode): Promise<void> {
  agents.push(await startLabAgents(cp!, LAB, [w], () => ['--node-lease-renew-interval', '2']));
}

test.before(async () => {
  lab = await labUp(['--workers', '3', '--name', LAB, '--subnet', String(SUBNET)], 120_000);
  workers.push(...lab.workers);
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  cm = new ControllerManager({
    kubeconfig: cp.kubeconfigPath,
    leaderElect: false,
    controllers: ['statefulset', 'daemonset', 'garbagecollector', 'persistentvolume-binder', 'pvc-protection'],
    metricsPort: -1,
    logger: pino({ level: process.env.MKUBE_DEBUG ? 'debug' : 'silent' }),
  });
  await cm.start();
  scheduler = startScheduler(cp.kubeconfigPath);
  // Two nodes now; the third joins in the DaemonSet test.
  for (const w of workers.slice(0, 2)) await startWorker(w);
  await waitNodesReady(() => cp!.client.resource(Resources.nodes).list(), 2);
  // Every change to the StatefulSet's pods, in order.
  const pods = cp.client.resource<Pod>(Resources.pods);
  const { resourceVersion } = await pods.list('default', { labelSelector: 'app=web' });
  watch = pods.watch('default', { labelSelector: 'app=web', resourceVersion, timeoutSeconds: 1800 }, (type, p) => {
    if (type === 'BOOKMARK' || type === 'ERROR') return;
    timeline.push({ type, name: p.metadata.name, uid: p.metadata.uid, deleting: !!p.metadata.deletionTimestamp, ready: isReady(p), revision: p.metadata.labels?.['controller-revision-hash'] });
  });
});

test.after.always(async () => {
  watch?.stop();
  for (const a of agents) await a.kill();
  await killChild(scheduler);
  await cm?.stop();
  await cp?.stop();
  await labDown(LAB);
  for (const a of agents) a.remove();
});

const STS = (replicas: number) => `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: ${replicas}
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'exec sleep 3600']
`;

/** The first index in the timeline where `pred` holds, or -1. */
const firstAt = (pred: (s: Seen) => boolean): number => timeline.findIndex(pred);

test.serial('StatefulSet: ordered creation, stable names and hostnames, a deleted pod comes back, rollout status', async (t) => {
  t.timeout(300_000);
  await apply('sts', STS(3));
  t.regex(await k(['rollout', 'status', 'sts/web', '--timeout=180s'], 200_000), /partitioned roll out complete: 3 new pods have been updated/);
  const pods = await podList('app=web');
  t.deepEqual(pods.map((p) => p.metadata.name).sort(), ['web-0', 'web-1', 'web-2']);
  // OrderedReady: each pod appears only after the one before it was Ready.
  for (const [prev, next] of [['web-0', 'web-1'], ['web-1', 'web-2']] as const) {
    const readyAt = firstAt((s) => s.name === prev && s.ready);
    const addedAt = firstAt((s) => s.name === next && s.type === 'ADDED');
    t.true(readyAt >= 0 && addedAt > readyAt, `${next} created (event ${addedAt}) after ${prev} was Ready (event ${readyAt})`);
  }
  for (const p of pods) {
    t.is(p.spec?.hostname, p.metadata.name);
    t.is(p.spec?.subdomain, 'web');
    t.is(p.metadata.labels?.['statefulset.kubernetes.io/pod-name'], p.metadata.name);
    t.is(p.metadata.labels?.['apps.kubernetes.io/pod-index'], p.metadata.name.slice(4));
  }
  t.is((await k(['exec', 'web-1', '--', 'hostname'])).trim(), 'web-1');
  t.regex(await k(['get', 'sts', 'web']), /web\s+3\/3\s/);
  // kubectl delete pod web-1: web-1 again, a new incarnation.
  const oldUid = pods.find((p) => p.metadata.name === 'web-1')!.metadata.uid;
  await k(['delete', 'pod', 'web-1', '--wait=false']);
  const back = await waitFor('web-1 back and Ready', 90_000, async () => {
    const p = (await podList('app=web')).find((x) => x.metadata.name === 'web-1');
    return p && p.metadata.uid !== oldUid && isReady(p) ? p : undefined;
  });
  t.is(back.metadata.name, 'web-1');
  const events = await k(['get', 'events', '--field-selector', 'involvedObject.kind=StatefulSet', '-o', 'jsonpath={range .items[*]}{.reason} {.message}{"\\n"}{end}']);
  t.regex(events, /SuccessfulCreate create Pod web-1 in StatefulSet web successful/);
});

test.serial('StatefulSet: a rolling update with a partition, rollout history, undo; scale down in reverse order', async (t) => {
  t.timeout(360_000);
  const sts = async () => JSON.parse(await k(['get', 'sts', 'web', '-o', 'json'])) as { metadata: { generation: number }; status: { currentRevision: string; updateRevision: string; updatedReplicas?: number; observedGeneration?: number; readyReplicas?: number } };
  const rev1 = (await sts()).status.currentRevision;
  const rolloutStart = timeline.length;
  await k(['patch', 'sts', 'web', '-p', '{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":1}}}}']);
  await k(['set', 'env', 'sts/web', 'VERSION=2']);
  const updated = await waitFor('web-1 and web-2 at the update revision and Ready', 150_000, async () => {
    const s = await sts();
    if (s.status.updateRevision === rev1 || s.status.updatedReplicas !== 2 || s.status.readyReplicas !== 3) return undefined;
    return s;
  });
  const rev2 = updated.status.updateRevision;
  t.is(updated.status.currentRevision, rev1);
  const byName = new Map((await podList('app=web')).map((p) => [p.metadata.name, p.metadata.labels?.['controller-revision-hash']]));
  t.deepEqual([byName.get('web-0'), byName.get('web-1'), byName.get('web-2')], [rev1, rev2, rev2]);
  // web-2 was replaced before web-1.
  const rollout = timeline.slice(rolloutStart);
  const del2 = rollout.findIndex((s) => s.name === 'web-2' && s.deleting);
  const del1 = rollout.findIndex((s) => s.name === 'web-1' && s.deleting);
  t.true(del2 >= 0 && del1 > del2, `web-2 (${del2}) replaced before web-1 (${del1})`);
  t.regex(await k(['rollout', 'status', 'sts/web', '--timeout=5s']), /partitioned roll out complete: 2 new pods have been updated/);
  const history = await k(['rollout', 'history', 'sts/web']);
  t.regex(history, /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
  // kubectl decodes a revision's data (the RawExtension) into the template it shows.
  t.regex(await k(['rollout', 'history', 'sts/web', '--revision=2']), /VERSION:\s+2/);
  t.regex(await k(['get', 'controllerrevisions']), new RegExp(`${rev2}\\s+statefulset.apps/web\\s+2\\s`));
  // A revision's data is immutable.
  const changed = await run(KUBECTL, ['--kubeconfig', cp!.kubeconfigPath, 'patch', 'controllerrevision', rev2, '--type', 'merge', '-p', '{"data":{"spec":{"template":{"metadata":{"labels":{"x":"y"}}}}}}'], 30_000).then(
    () => 'accepted',
    (err: Error) => err.message,
  );
  t.regex(changed, /data: Invalid value: .*field is immutable/);
  // Partition 0 finishes the rollout; then undo goes back to revision 1's template.
  await k(['patch', 'sts', 'web', '-p', '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}']);
  // kubectl reports a RollingUpdate with rollingUpdate set (the API server defaults partition 0) as partitioned.
  const done3 = /partitioned roll out complete: 3 new pods have been updated/;
  t.regex(await k(['rollout', 'status', 'sts/web', '--timeout=150s'], 160_000), done3);
  t.regex(await k(['rollout', 'undo', 'sts/web']), /statefulset.apps\/web rolled back/);
  t.regex(await k(['rollout', 'status', 'sts/web', '--timeout=150s'], 160_000), done3);
  await waitFor('current and update revision back at revision 1', 60_000, async () => {
    const s = await sts();
    return s.status.currentRevision === rev1 && s.status.updateRevision === rev1 ? true : undefined;
  });
  const envs = (await podList('app=web')).map((p) => p.spec?.containers?.[0]?.env ?? []);
  t.true(envs.every((e) => e.length === 0), 'the template without VERSION again');
  t.regex(await k(['rollout', 'history', 'sts/web']), /\n2\s+<none>\n3\s+<none>/);

  // Scale to 1: web-2 goes first; web-1 is deleted only once web-2 is gone.
  const before = timeline.length;
  await k(['scale', 'sts', 'web', '--replicas=1']);
  await waitFor('only web-0 left', 90_000, async () => {
    const names = (await podList('app=web')).map((p) => p.metadata.name);
    return names.length === 1 && names[0] === 'web-0' ? true : undefined;
  });
  const after = timeline.slice(before);
  const gone2 = after.findIndex((s) => s.name === 'web-2' && s.type === 'DELETED');
  const touched1 = after.findIndex((s) => s.name === 'web-1' && (s.deleting || s.type === 'DELETED'));
  t.true(gone2 >= 0 && touched1 > gone2, `web-1 deleted (${touched1}) after web-2 was gone (${gone2})`);
  const gone = await cp!.client.request('GET', '/api/v1/namespaces/default/pods/web-2').then(() => 200, (err: { code?: number }) => err.code);
  t.is(gone, 404);
});

const DS = (extraEnv = '') => `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'exec sleep 3600']${extraEnv}
`;

test.serial('DaemonSet: one pod per eligible node, a joining node gets one, a tainted node none; rolling update and undo', async (t) => {
  t.timeout(360_000);
  const [w1, w2, w3] = workers as [LabNode, LabNode, LabNode];
  await k(['taint', 'node', w2.name, 'dedicated=db:NoSchedule']);
  await apply('ds', DS());
  t.regex(await k(['rollout', 'status', 'ds/agent', '--timeout=120s'], 130_000), /daemon set "agent" successfully rolled out/);
  const placed = async () => {
    const ps = (await podList('app=agent')).filter((p) => !p.metadata.deletionTimestamp);
    return ps.map((p) => p.spec?.nodeName ?? '?').sort();
  };
  t.deepEqual(await placed(), [w1.name], 'nothing on the tainted node');
  const pod = (await podList('app=agent'))[0]!;
  t.deepEqual(pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms, [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [w1.name] }] }]);
  // The third node joins: it gets its pod.
  await startWorker(w3);
  await waitFor(`a Ready daemon pod on ${w3.name}`, 120_000, async () => ((await podList('app=agent')).some((p) => p.spec?.nodeName === w3.name && isReady(p)) ? true : undefined));
  // Untainted, w2 gets one too: exactly one per node.
  await k(['taint', 'node', w2.name, 'dedicated=db:NoSchedule-']);
  t.regex(await k(['rollout', 'status', 'ds/agent', '--timeout=120s'], 130_000), /successfully rolled out/);
  t.deepEqual(await placed(), [w1.name, w2.name, w3.name].sort());
  const ds = async () => JSON.parse(await k(['get', 'ds', 'agent', '-o', 'json'])) as { status: Record<string, number> };
  t.like((await ds()).status, { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 3, numberAvailable: 3, updatedNumberScheduled: 3, numberMisscheduled: 0 });
  // A rolling update (maxUnavailable 1 by default): every node ends with one pod of the new template.
  await apply('ds', DS('\n        env: [{name: VERSION, value: "2"}]'));
  t.regex(await k(['rollout', 'status', 'ds/agent', '--timeout=180s'], 190_000), /successfully rolled out/);
  const v2 = await podList('app=agent');
  t.is(v2.length, 3);
  t.true(v2.every((p) => p.spec?.containers?.[0]?.env?.[0]?.value === '2'));
  t.regex(await k(['rollout', 'history', 'ds/agent']), /\n1\s+<none>\n2\s+<none>/);
  t.regex(await k(['rollout', 'undo', 'ds/agent']), /daemonset.apps\/agent rolled back/);
  t.regex(await k(['rollout', 'status', 'ds/agent', '--timeout=180s'], 190_000), /successfully rolled out/);
  await waitFor('three pods of the first template', 60_000, async () => {
    const ps = (await podList('app=agent')).filter((p) => !p.metadata.deletionTimestamp);
    return ps.length === 3 && ps.every((p) => !p.spec?.containers?.[0]?.env?.length) ? true : undefined;
  });
  t.deepEqual(await placed(), [w1.name, w2.name, w3.name].sort());
  const events = await k(['get', 'events', '--field-selector', 'involvedObject.kind=DaemonSet', '-o', 'jsonpath={range .items[*]}{.reason} {.message}{"\\n"}{end}']);
  t.regex(events, /SuccessfulCreate Created pod: agent-\w+/);
  t.regex(events, /SuccessfulDelete Deleted pod: agent-\w+/);
});

const DATA = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: data
spec:
  replicas: 3
  serviceName: data
  selector:
    matchLabels: {app: data}
  template:
    metadata:
      labels: {app: data}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, '[ -f /data/name ] || hostname > /data/name; echo started >> /data/log; exec sleep 3600']
        volumeMounts: [{name: www, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: local-path
      resources: {requests: {storage: 1Mi}}
`;

test.serial('StatefulSet with volumeClaimTemplates: one claim per pod, data kept across pod deletion and scale down', async (t) => {
  t.timeout(300_000);
  await apply('sc', `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: local-path}
provisioner: mkube.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
`);
  await apply('data', DATA);
  const rolledOut = await k(['rollout', 'status', 'sts/data', '--timeout=180s'], 200_000).catch(async (err: Error) => {
    // What held it up: the pods, claims, volumes and their events.
    t.log(await k(['get', 'pods,pvc,pv', '-o', 'wide']).catch(String));
    t.log(await k(['get', 'events', '--sort-by=.lastTimestamp']).catch(String));
    throw err;
  });
  t.regex(rolledOut, /roll out complete: 3 new pods|rolling update complete 3 pods/);
  const claims = JSON.parse(await k(['get', 'pvc', '-o', 'json'])) as { items: Array<{ metadata: { name: string; ownerReferences?: unknown[] }; status?: { phase?: string } }> };
  t.deepEqual(claims.items.map((c) => c.metadata.name).sort(), ['www-data-0', 'www-data-1', 'www-data-2']);
  t.true(claims.items.every((c) => c.status?.phase === 'Bound' && !c.metadata.ownerReferences));
  for (const n of ['data-0', 'data-1', 'data-2']) t.is((await k(['exec', n, '--', 'cat', '/data/name'])).trim(), n);
  const before = (await podList('app=data')).find((p) => p.metadata.name === 'data-1')!;
  await k(['delete', 'pod', 'data-1', '--wait=false']);
  const back = await waitFor('data-1 back and Ready', 120_000, async () => {
    const p = (await podList('app=data')).find((x) => x.metadata.name === 'data-1');
    return p && p.metadata.uid !== before.metadata.uid && isReady(p) ? p : undefined;
  });
  t.is(back.spec?.nodeName, before.spec?.nodeName, 'back on the node that holds its volume');
  t.is((await k(['exec', 'data-1', '--', 'cat', '/data/name'])).trim(), 'data-1');
  t.is((await k(['exec', 'data-1', '--', 'cat', '/data/log'])).trim(), 'started\nstarted', 'the volume of the first incarnation');
  // Retain (the default): scaling down keeps the claim.
  await k(['scale', 'sts', 'data', '--replicas=2']);
  await waitFor('data-2 gone', 60_000, async () => ((await podList('app=data')).some((p) => p.metadata.name === 'data-2') ? undefined : true));
  t.regex(await k(['get', 'pvc', 'www-data-2']), /www-data-2\s+Bound/);
  // whenScaled: Delete — the condemned pod owns its claim, which goes with it.
  await k(['patch', 'sts', 'data', '-p', '{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenScaled":"Delete","whenDeleted":"Retain"}}}']);
  await k(['scale', 'sts', 'data', '--replicas=1']);
  await waitFor('www-data-1 gone (404)', 90_000, async () => {
    const code = await cp!.client.request('GET', '/api/v1/namespaces/default/persistentvolumeclaims/www-data-1').then(() => 200, (err: { code?: number }) => err.code);
    return code === 404 ? true : undefined;
  });
  t.regex(await k(['get', 'pvc']), /www-data-0\s+Bound[\s\S]*www-data-2\s+Bound/);
});
