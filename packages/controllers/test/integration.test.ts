// The controllers against a real API server on a real etcd 3.4: deployments
// roll out, scale, roll back (with the real kubectl), pods are replaced,
// endpoints follow readiness, namespaces and owners are cleaned up.
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import test from 'ava';
import { Resources, type KubeObject } from '@mkube/client';
import { eventually, isReady, setPodReady, sleep, startFixture, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

const pods = () => fx.client.resource(Resources.pods);
const deployments = () => fx.client.resource(Resources.deployments);
const replicasets = () => fx.client.resource(Resources.replicasets);

async function namespace(name: string): Promise<void> {
  await fx.client.resource(Resources.namespaces).create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

function deployment(ns: string, name: string, replicas: number, image: string, strategy: Record<string, unknown> = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      strategy,
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image, ports: [{ name: 'http', containerPort: 8080 }] }] } },
    },
  };
}

const live = (items: KubeObject[]) => items.filter((p) => !p.metadata.deletionTimestamp);
const listPods = async (ns: string, app: string) => live((await pods().list(ns, { labelSelector: `app=${app}` })).items);

/** Plays the kubelet: marks not-ready pods of the namespace ready, one every `intervalMs` (all at once when 0). */
function kubelet(ns: string, intervalMs = 0): { stop(): void } {
  let running = true;
  void (async () => {
    while (running) {
      try {
        for (const p of live((await pods().list(ns)).items)) {
          if (!running) break;
          if (isReady(p) || p.metadata.annotations?.['test/never-ready']) continue;
          await setPodReady(fx.client, p, true).catch(() => undefined);
          if (intervalMs) {
            await sleep(intervalMs);
            break;
          }
        }
      } catch {
        // the namespace may be going away
      }
      await sleep(intervalMs || 100);
    }
  })();
  return {
    stop() {
      running = false;
    },
  };
}

function kubectl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/kubectl', args, { env: { ...process.env, KUBECONFIG: fx.server.kubeconfigPath, HOME: fx.dir }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

function httpGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port: fx.manager.port, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

test.serial('the manager holds the kube-controller-manager lease and serves /healthz and /metrics', async (t) => {
  await eventually('leadership', async () => fx.manager.isLeader());
  const lease = await fx.client.resource(Resources.leases).get('kube-system', 'kube-controller-manager');
  t.truthy(lease.spec.holderIdentity);
  const get = (path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port: fx.manager.port, path }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
        .on('error', reject)
        .end();
    });
  t.is((await get('/healthz')).body, 'ok');
  await eventually('queue metrics', async () => (await get('/metrics')).body.includes('workqueue_adds_total{name="namespace"}') || (await get('/metrics')).body.includes('workqueue_adds_total'));
  const m = await get('/metrics');
  t.regex(m.body, /workqueue_depth\{name="replicaset"\}/);
});

test.serial('a Deployment with 3 replicas gets a ReplicaSet and 3 pods; status and conditions follow readiness; scaling', async (t) => {
  await namespace('web');
  await deployments().create('web', deployment('web', 'app', 3, 'busybox:1'));
  const rs = await eventually('ReplicaSet', async () => (await replicasets().list('web')).items[0]);
  t.regex(rs.metadata.name, /^app-[bcdfghjklmnpqrstvwxz2456789]+$/);
  t.is(rs.metadata.annotations!['deployment.kubernetes.io/revision'], '1');
  t.is(rs.metadata.ownerReferences![0].kind, 'Deployment');
  const created = await eventually('3 pods', async () => {
    const ps = await listPods('web', 'app');
    return ps.length === 3 ? ps : undefined;
  });
  t.true(created.every((p) => p.metadata.name.startsWith(`${rs.metadata.name}-`) && p.metadata.ownerReferences?.[0]?.uid === rs.metadata.uid));
  await sleep(500);
  t.is((await listPods('web', 'app')).length, 3, 'no over-creation');
  let d = await deployments().get('web', 'app');
  t.is(d.status?.availableReplicas ?? 0, 0);
  const k = kubelet('web');
  t.teardown(() => k.stop());
  d = await eventually('deployment available', async () => {
    const cur = await deployments().get('web', 'app');
    return cur.status?.availableReplicas === 3 && cur.status?.conditions?.find((c: { type: string; reason: string }) => c.type === 'Progressing')?.reason === 'NewReplicaSetAvailable' ? cur : undefined;
  });
  t.like(d.status, { replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, observedGeneration: 1 });
  t.is(d.status.conditions.find((c: { type: string }) => c.type === 'Available').reason, 'MinimumReplicasAvailable');
  await deployments().patch('web', 'app', { spec: { replicas: 5 } });
  await eventually('5 ready', async () => (await deployments().get('web', 'app')).status?.availableReplicas === 5);
  t.is((await listPods('web', 'app')).length, 5);
  await deployments().patch('web', 'app', { spec: { replicas: 3 } });
  await eventually('back to 3 pods', async () => (await listPods('web', 'app')).length === 3 && (await deployments().get('web', 'app')).status?.replicas === 3);
  t.is((await replicasets().list('web')).items.length, 1);
});

test.serial('a template change rolls out within maxSurge/maxUnavailable (observed by watch); kubectl rollout status and undo work', async (t) => {
  // 4 replicas, surge 1, unavailable 1.
  await deployments().patch('web', 'app', { spec: { replicas: 4, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } } });
  const k0 = kubelet('web');
  await eventually('4 available', async () => (await deployments().get('web', 'app')).status?.availableReplicas === 4 && (await listPods('web', 'app')).length === 4);
  k0.stop();
  await sleep(300);
  // Watch pods and record the worst moments.
  const state = new Map<string, KubeObject>();
  let maxPods = 0;
  let minReady = Infinity;
  const { items, resourceVersion } = await pods().list('web');
  for (const p of items) state.set(p.metadata.name, p);
  const w = pods().watch('web', { resourceVersion }, (type, obj: KubeObject) => {
    if (type === 'BOOKMARK' || type === 'ERROR') return;
    if (type === 'DELETED') state.delete(obj.metadata.name);
    else state.set(obj.metadata.name, obj);
    const alive = live([...state.values()]);
    maxPods = Math.max(maxPods, alive.length);
    minReady = Math.min(minReady, alive.filter(isReady).length);
  });
  t.teardown(() => w.stop());
  const k = kubelet('web', 250);
  t.teardown(() => k.stop());
  await deployments().patch('web', 'app', { spec: { template: { spec: { containers: [{ name: 'main', image: 'busybox:2', ports: [{ name: 'http', containerPort: 8080 }] }] } } } });
  const status = await kubectl(['rollout', 'status', 'deployment/app', '-n', 'web', '--timeout=60s']);
  t.is(status.code, 0, status.err);
  t.regex(status.out, /successfully rolled out/);
  const after = await listPods('web', 'app');
  t.is(after.length, 4);
  t.true(after.every((p) => p.spec.containers[0].image === 'busybox:2'));
  await sleep(300);
  w.stop();
  t.true(maxPods <= 5, `at most replicas+maxSurge pods (saw ${maxPods})`);
  t.true(minReady >= 3, `at least replicas-maxUnavailable ready (saw ${minReady})`);
  const rss = (await replicasets().list('web')).items;
  t.is(rss.length, 2);
  t.deepEqual(rss.map((r) => r.metadata.annotations!['deployment.kubernetes.io/revision']).sort(), ['1', '2']);

  // kubectl rollout undo patches the template back client-side; the old ReplicaSet comes back as revision 3.
  const undo = await kubectl(['rollout', 'undo', 'deployment/app', '-n', 'web']);
  t.is(undo.code, 0, undo.err);
  const status2 = await kubectl(['rollout', 'status', 'deployment/app', '-n', 'web', '--timeout=60s']);
  t.is(status2.code, 0, status2.err);
  const back = await listPods('web', 'app');
  t.true(back.every((p) => p.spec.containers[0].image === 'busybox:1'));
  const rss2 = (await replicasets().list('web')).items;
  t.is(rss2.length, 2, 'the old ReplicaSet was reused');
  const rev3 = rss2.find((r) => r.metadata.annotations!['deployment.kubernetes.io/revision'] === '3');
  t.truthy(rev3);
  t.is(rev3!.spec.template.spec.containers[0].image, 'busybox:1');
  const history = await kubectl(['rollout', 'history', 'deployment/app', '-n', 'web']);
  t.is(history.code, 0, history.err);
  t.regex(history.out, /2\s/);
  t.regex(history.out, /3\s/);
});

test.serial('a deleted pod is replaced', async (t) => {
  const k = kubelet('web');
  t.teardown(() => k.stop());
  const before = await listPods('web', 'app');
  const victim = before[0]!;
  await pods().delete('web', victim.metadata.name);
  const after = await eventually('replacement', async () => {
    const ps = await listPods('web', 'app');
    return ps.length === before.length && !ps.some((p) => p.metadata.name === victim.metadata.name) ? ps : undefined;
  });
  t.is(after.length, before.length);
});

test.serial('endpoints follow pod readiness, with targetPort resolved by name', async (t) => {
  const k = kubelet('web');
  // The pods themselves, not only the Deployment's status: that can still say 4 available from before
  // the previous test's replacement pod, which then nobody would mark ready once the fake kubelet stops.
  await eventually('all ready', async () => {
    const ps = await listPods('web', 'app');
    const ready = ps.length === 4 && ps.every((p) => isReady(p) && !!p.status?.podIP && !p.metadata.deletionTimestamp);
    return ready && (await deployments().get('web', 'app')).status?.availableReplicas === 4;
  });
  k.stop();
  await fx.client.resource(Resources.services).create('web', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'app', namespace: 'web' }, spec: { selector: { app: 'app' }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] } });
  const eps = () => fx.client.resource(Resources.endpoints).get('web', 'app');
  let lastSeen: unknown;
  const ep: any = await eventually('endpoints', async () => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const e: any = await eps(); // eslint-disable-line @typescript-eslint/no-explicit-any
    lastSeen = e;
    return e.subsets?.[0]?.addresses?.length === 4 ? e : undefined;
  }, 40_000).catch(async (err: Error) => {
    // Say what the controller saw: the Endpoints, the pods and their readiness, the controllers' metrics.
    const ps = (await listPods('web', 'app')).map((p) => `${p.metadata.name} ready=${String(isReady(p))} deleting=${String(!!p.metadata.deletionTimestamp)} ip=${String(p.status?.podIP)}`);
    throw new Error(`${err.message}\nendpoints: ${JSON.stringify(lastSeen)}\npods: ${ps.join('; ')}`);
  });
  t.deepEqual(ep.subsets[0].ports, [{ name: 'web', port: 8080, protocol: 'TCP' }]);
  const addr = ep.subsets[0].addresses[0];
  t.is(addr.targetRef.kind, 'Pod');
  t.truthy(addr.ip);
  const one = (await listPods('web', 'app'))[0]!;
  await setPodReady(fx.client, one, false);
  const moved: any = await eventually('not ready address', async () => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const e: any = await eps(); // eslint-disable-line @typescript-eslint/no-explicit-any
    return e.subsets?.[0]?.notReadyAddresses?.length === 1 ? e : undefined;
  });
  t.is(moved.subsets[0].notReadyAddresses[0].targetRef.name, one.metadata.name);
  t.is(moved.subsets[0].addresses.length, 3);
  await fx.client.resource(Resources.services).delete('web', 'app');
  await eventually('endpoints deleted', async () => {
    try {
      await eps();
      return false;
    } catch {
      return true;
    }
  });
  t.pass();
});

test.serial('deleting a Deployment garbage-collects its ReplicaSets and pods', async (t) => {
  await namespace('gc');
  await deployments().create('gc', deployment('gc', 'g', 2, 'busybox:1'));
  await eventually('2 pods', async () => (await listPods('gc', 'g')).length === 2);
  await deployments().delete('gc', 'g');
  await eventually('ReplicaSets gone', async () => (await replicasets().list('gc')).items.length === 0);
  await eventually('pods gone', async () => (await pods().list('gc')).items.length === 0);
  t.pass();
});

test.serial('orphan propagation: a ReplicaSet deleted with the orphan finalizer leaves its pods, without owner', async (t) => {
  await replicasets().create('gc', {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'o', namespace: 'gc' },
    spec: { replicas: 2, selector: { matchLabels: { app: 'o' } }, template: { metadata: { labels: { app: 'o' } }, spec: { containers: [{ name: 'c', image: 'busybox:1' }] } } },
  });
  await eventually('2 pods', async () => (await listPods('gc', 'o')).length === 2);
  // What the API server does for propagationPolicy=Orphan in Kubernetes: finalizer first, then the delete.
  const rs = await replicasets().get('gc', 'o');
  rs.metadata.finalizers = ['orphan'];
  await replicasets().update(rs);
  await replicasets().delete('gc', 'o');
  await eventually('ReplicaSet gone', async () => (await replicasets().list('gc')).items.length === 0);
  const left = await listPods('gc', 'o');
  t.is(left.length, 2);
  t.true(left.every((p) => (p.metadata.ownerReferences ?? []).length === 0));
});

test.serial('namespace deletion removes everything in it, then the namespace', async (t) => {
  await namespace('doomed');
  await deployments().create('doomed', deployment('doomed', 'd', 2, 'busybox:1'));
  await eventually('2 pods', async () => (await listPods('doomed', 'd')).length === 2);
  await fx.client.resource(Resources.namespaces).delete(undefined, 'doomed');
  await eventually('namespace gone', async () => {
    try {
      await fx.client.resource(Resources.namespaces).get(undefined, 'doomed');
      return false;
    } catch {
      return true;
    }
  });
  t.is((await pods().list('doomed')).items.length, 0);
  t.is((await deployments().list('doomed')).items.length, 0);
});

test.serial('metrics count adds and reconcile latency per controller', async (t) => {
  const m = await httpGet('/metrics');
  const adds = /workqueue_adds_total\{name="deployment"\} (\d+)/.exec(m.body);
  t.truthy(adds && Number(adds[1]) > 0);
  t.regex(m.body, /controller_reconcile_duration_seconds_bucket\{le="0.1",controller="replicaset",result="success"\} [1-9]/);
  t.regex(m.body, /leader_election_master_status\{name="kube-controller-manager"\} 1/);
});
