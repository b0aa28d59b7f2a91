// ReplicationControllers: the ReplicaSet reconcile with the ReplicationController flavor (an equality
// selector, owner references of kind ReplicationController), then the replicationcontroller controller
// against a real API server and controller manager: pods created, adopted, replaced, scaled with the real
// kubectl (scale rc), kubectl get rc columns and describe, and pods collected when the RC is deleted.
import { execFile } from 'node:child_process';
import test from 'ava';
import { type KubeObject } from '@mkube/client';
import { reconcileReplicaSet } from '../src/replicaset/reconcile.js';
import { REPLICATION_CONTROLLER } from '../src/replicaset/flavor.js';
import { objectOf, type Obj } from './helpers/world.js';
import { eventually, startFixture, type Fixture } from './helpers/cluster.js';

const NOW = Date.UTC(2024, 0, 1, 12);

function rc(replicas: number): Obj {
  return {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'web', namespace: 'default', uid: 'rc-uid', generation: 1, resourceVersion: '5' },
    spec: { replicas, selector: { app: 'web' }, template: { metadata: { labels: { app: 'web', tier: 'fe' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
  };
}

const orphan = (name: string, labels: Record<string, string>): Obj => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '1', labels, creationTimestamp: new Date(NOW - 1000).toISOString() },
  spec: {},
  status: { phase: 'Running' },
});

test('reconcile with the ReplicationController flavor: equality selector, ReplicationController owner, status on the RC', (t) => {
  const plan = reconcileReplicaSet({ rs: rc(3), pods: [orphan('a', { app: 'web' }), orphan('b', { app: 'db' })], now: NOW, expectationsSatisfied: true, flavor: REPLICATION_CONTROLLER });
  t.is(plan.claims.length, 1, 'only the pod matching app=web is adopted');
  const adopted = objectOf(plan.claims[0]);
  t.like(adopted.metadata.ownerReferences![0], { apiVersion: 'v1', kind: 'ReplicationController', name: 'web', uid: 'rc-uid', controller: true });
  t.is(plan.creates.length, 2);
  const pod = objectOf(plan.creates[0]);
  t.is(pod.metadata.generateName, 'web-');
  t.deepEqual(pod.metadata.labels, { app: 'web', tier: 'fe' });
  t.is(pod.metadata.ownerReferences![0]!.kind, 'ReplicationController');
  t.like(plan.status, { verb: 'updateStatus', ref: { resource: 'replicationcontrollers', kind: 'ReplicationController' } });
  t.like(objectOf(plan.status).status, { replicas: 1, fullyLabeledReplicas: 0, observedGeneration: 1 });
  // A nil selector selects nothing.
  const none = reconcileReplicaSet({ rs: { ...rc(1), spec: { ...rc(1).spec, selector: undefined } }, pods: [orphan('a', { app: 'web' })], now: NOW, expectationsSatisfied: true, flavor: REPLICATION_CONTROLLER });
  t.is(none.claims.length, 0);
});

let fx: Fixture | undefined;
test.after.always(async () => {
  await fx?.stop();
});

const RC_PATH = (ns: string, name = '') => `/api/v1/namespaces/${ns}/replicationcontrollers${name ? `/${name}` : ''}`;

function kubectl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/kubectl', args, { env: { ...process.env, KUBECONFIG: fx!.server.kubeconfigPath, HOME: fx!.dir }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr });
    });
  });
}

test.serial('the replicationcontroller controller keeps replicas; kubectl scale, get and describe rc; deleting the RC collects its pods', async (t) => {
  fx = await startFixture();
  const c = fx.client;
  await c.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'rcs' } });
  const created = (await c.request('POST', RC_PATH('rcs'), {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'nginx' },
    spec: { replicas: 2, template: { metadata: { labels: { app: 'nginx' } }, spec: { containers: [{ name: 'nginx', image: 'nginx' }] } } },
  })) as KubeObject;
  t.deepEqual(created.spec.selector, { app: 'nginx' }, 'selector defaulted from the template labels');
  const podsOf = async () => ((await c.request('GET', '/api/v1/namespaces/rcs/pods?labelSelector=app%3Dnginx')) as { items: KubeObject[] }).items.filter((p) => !p.metadata.deletionTimestamp);
  const two = await eventually('2 pods', async () => {
    const ps = await podsOf();
    return ps.length === 2 ? ps : undefined;
  });
  t.true(two.every((p) => p.metadata.ownerReferences?.[0]?.kind === 'ReplicationController' && p.metadata.ownerReferences[0].uid === created.metadata.uid));
  await eventually('status.replicas 2', async () => ((await c.request('GET', RC_PATH('rcs', 'nginx'))) as KubeObject).status?.replicas === 2);

  const scale = await kubectl(['-n', 'rcs', 'scale', 'rc/nginx', '--replicas=3']);
  t.is(scale.code, 0, scale.err);
  t.regex(scale.out, /replicationcontroller\/nginx scaled/);
  await eventually('3 pods', async () => (await podsOf()).length === 3);
  await eventually('status.replicas 3', async () => ((await c.request('GET', RC_PATH('rcs', 'nginx'))) as KubeObject).status?.replicas === 3);

  const get = await kubectl(['-n', 'rcs', 'get', 'rc']);
  t.is(get.code, 0, get.err);
  t.regex(get.out, /^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\n/);
  t.regex(get.out, /\nnginx\s+3\s+3\s+0\s+\S+\n/);
  const wide = await kubectl(['-n', 'rcs', 'get', 'replicationcontrollers', '-o', 'wide']);
  t.regex(wide.out, /CONTAINERS\s+IMAGES\s+SELECTOR/);
  t.regex(wide.out, /nginx\s+nginx\s+app=nginx/);
  const describe = await kubectl(['-n', 'rcs', 'describe', 'rc', 'nginx']);
  t.is(describe.code, 0, describe.err);
  t.regex(describe.out, /Name:\s+nginx/);
  t.regex(describe.out, /Selector:\s+app=nginx/);
  t.regex(describe.out, /Replicas:\s+3 current \/ 3 desired/);

  // A deleted pod is replaced.
  const victim = (await podsOf())[0]!;
  await c.request('DELETE', `/api/v1/namespaces/rcs/pods/${victim.metadata.name}?gracePeriodSeconds=0`);
  await eventually('replacement', async () => {
    const ps = await podsOf();
    return ps.length === 3 && !ps.some((p) => p.metadata.uid === victim.metadata.uid);
  });

  await c.request('DELETE', RC_PATH('rcs', 'nginx'));
  await eventually('pods collected', async () => (await podsOf()).length === 0);
});
