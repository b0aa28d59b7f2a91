// Node lifecycle and node IPAM against a real API server on a real etcd 3.4,
// with a short grace period and toleration: the test plays the kubelet by
// renewing (or not) the node's Lease.
import test from 'ava';
import { formatMicroTime as microTime } from '@mkube/api';
import { Resources, type KubeObject } from '@mkube/client';
import { eventually, sleep, startFixture, type Fixture } from './helpers/cluster.js';

let fx: Fixture;
test.before(async () => {
  fx = await startFixture({
    leaderElect: false,
    controllers: ['nodelifecycle', 'nodeipam', 'replicaset'],
    config: { nodeMonitorGracePeriodMs: 2000, defaultUnreachableTolerationSeconds: 2 },
  });
});
test.after.always(async () => {
  await fx?.stop();
});

const nodes = () => fx.client.resource(Resources.nodes);
const leases = () => fx.client.resource(Resources.leases);
const pods = () => fx.client.resource(Resources.pods);

async function addNode(name: string, podCIDR?: string): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await nodes().create(undefined, {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now }] },
  });
}

async function renew(name: string): Promise<void> {
  const spec = { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime(Date.now()) };
  try {
    const cur = await leases().get('kube-node-lease', name);
    cur.spec = spec;
    await leases().update(cur);
  } catch {
    await leases().create('kube-node-lease', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec });
  }
}

test.serial('node IPAM: pod CIDRs from 10.213.0.0/16, skipping 10.213.0.0/24, never duplicated, existing ones kept', async (t) => {
  await addNode('pre', '10.213.1.0/24');
  await addNode('a');
  await addNode('b');
  const cidrs = await eventually('CIDRs', async () => {
    const all = (await nodes().list()).items;
    return all.every((n) => n.spec?.podCIDR) ? Object.fromEntries(all.map((n) => [n.metadata.name, n.spec.podCIDR])) : undefined;
  });
  t.is(cidrs.pre, '10.213.1.0/24');
  t.deepEqual([cidrs.a, cidrs.b].sort(), ['10.213.2.0/24', '10.213.3.0/24']);
  const b = await nodes().get(undefined, 'b');
  t.deepEqual(b.spec.podCIDRs, [b.spec.podCIDR]);
});

test.serial('a node whose lease stops being renewed becomes Ready=Unknown and tainted; pods go Ready=False then are evicted; renewal lifts the taints', async (t) => {
  let renewing = true;
  const loop = (async () => {
    while (renewing) {
      await renew('a').catch(() => undefined);
      await sleep(300);
    }
  })();
  t.teardown(() => {
    renewing = false;
  });
  const mkPod = (name: string, tolerations?: unknown[]): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: 'a', containers: [{ name: 'c', image: 'busybox:1' }], ...(tolerations ? { tolerations } : {}) } });
  // The API server (DefaultTolerationSeconds, here 2 s as the fixture configures it) adds the unreachable
  // toleration to every pod that does not tolerate that taint already; 'tolerant' tolerates it forever.
  await pods().create('default', mkPod('plain', [{ key: 'example.com/other', operator: 'Exists', effect: 'NoSchedule' }]));
  await pods().create('default', mkPod('defaulted'));
  await pods().create('default', mkPod('tolerant', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }]));
  for (const name of ['plain', 'tolerant']) {
    const p = await pods().get('default', name);
    p.status = { phase: 'Running', podIP: '10.213.2.5', conditions: [{ type: 'Ready', status: 'True' }] };
    await pods().updateStatus(p);
  }
  await sleep(3000);
  let node = await nodes().get(undefined, 'a');
  t.falsy(node.spec.taints?.length, 'a renewing node is left alone');
  renewing = false;
  await loop;
  node = await eventually('unreachable', async () => {
    const n = await nodes().get(undefined, 'a');
    return (n.spec.taints ?? []).length === 2 ? n : undefined;
  }, 10_000);
  t.deepEqual(node.spec.taints.map((x: { key: string; effect: string }) => `${x.key}:${x.effect}`).sort(), ['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']);
  const ready = await eventually('Ready=Unknown', async () => (await nodes().get(undefined, 'a')).status.conditions.find((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'Unknown'));
  t.is(ready.reason, 'NodeStatusUnknown');
  t.is(ready.message, 'Kubelet stopped posting node status.');
  const tolerant = await eventually('pod not ready', async () => {
    const p = await pods().get('default', 'tolerant');
    return p.status.conditions.find((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'False') ? p : undefined;
  });
  t.truthy(tolerant);
  // After the 2 s default toleration the plain and defaulted pods are evicted; the tolerant one stays.
  for (const name of ['plain', 'defaulted']) {
    await eventually(`eviction of ${name}`, async () => {
      const p = await pods().get('default', name).catch(() => undefined);
      return !p || !!p.metadata.deletionTimestamp;
    }, 10_000);
  }
  t.falsy((await pods().get('default', 'tolerant')).metadata.deletionTimestamp);
  // The kubelet comes back.
  await renew('a');
  await eventually('taints lifted', async () => ((await nodes().get(undefined, 'a')).spec.taints ?? []).length === 0, 10_000);
  t.pass();
});
