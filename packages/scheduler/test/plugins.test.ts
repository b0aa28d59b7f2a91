// Each plugin on a small synthetic cluster, through the full scheduling core (no API server).
import test from 'ava';
import { harness, lastFailure, node, pod, running, scheduleAll } from './helpers.js';
import { computePodResources } from '../src/resources.js';

test('NodeName: a pod naming a node goes only there; an unknown name is unschedulable', async (t) => {
  const h = harness([node('a'), node('b'), node('c')]);
  const p = pod('p', { spec: { nodeName: undefined, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['b'] }] }] } } } } });
  const r = await scheduleAll(h, [p]);
  t.is(r.get('p'), 'b');
  // spec.nodeName pods are not ours to schedule; the filter itself is checked directly.
  const { NodeName } = await import('../src/plugins/node_name.js');
  const { podInfoOf, NodeInfo } = await import('../src/node_info.js');
  const named = podInfoOf(pod('n', { nodeName: 'a' }));
  t.is(new NodeName().filter(null, named, new NodeInfo('a', node('a'))), null);
  t.is(new NodeName().filter(null, named, new NodeInfo('b', node('b')))?.message(), "node(s) didn't match the requested node name");
});

test('NodeUnschedulable: cordoned nodes are skipped unless the pod tolerates the unschedulable taint', async (t) => {
  const h = harness([node('a', { unschedulable: true }), node('b', { unschedulable: true })]);
  const r = await scheduleAll(h, [pod('p')]);
  t.is(r.get('p'), undefined);
  t.is(lastFailure(h, 'p'), '0/2 nodes are available: 2 node(s) were unschedulable. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.');
  const r2 = await scheduleAll(h, [pod('q', { spec: { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] } })]);
  t.truthy(r2.get('q'));
});

test('NodeResourcesFit: cpu, memory, pods, ephemeral-storage and extended resources are checked', async (t) => {
  const h = harness([
    node('small', { cpu: '1', memory: '1Gi', pods: 2 }),
    node('big', { cpu: '8', memory: '32Gi', pods: 2, extra: { 'ephemeral-storage': '10Gi', 'example.com/gpu': '1' } }),
  ]);
  const r = await scheduleAll(h, [pod('cpu', { cpu: '2' }), pod('mem', { memory: '2Gi' })]);
  t.is(r.get('cpu'), 'big');
  t.is(r.get('mem'), 'big');
  // big is now full (2 pods); small is too small.
  const r2 = await scheduleAll(h, [pod('x', { cpu: '1500m' })]);
  t.is(r2.get('x'), undefined);
  t.is(lastFailure(h, 'x'), '0/2 nodes are available: 1 Insufficient cpu, 1 Too many pods. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.');
  const h2 = harness([node('a', { extra: { 'ephemeral-storage': '1Gi' } }), node('b', { extra: { 'example.com/gpu': '1' } })]);
  const eph = pod('eph', { spec: { containers: [{ name: 'c', resources: { requests: { 'ephemeral-storage': '2Gi', 'example.com/gpu': '2' } } }] } });
  await scheduleAll(h2, [eph]);
  t.is(lastFailure(h2, 'eph'), '0/2 nodes are available: 2 Insufficient ephemeral-storage, 2 Insufficient example.com/gpu. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.');
});

test('NodeResourcesFit: effective request is max(sum of containers, max of init containers) plus overhead', (t) => {
  const p = pod('p', {
    spec: {
      containers: [
        { name: 'a', resources: { requests: { cpu: '200m', memory: '100Mi' } } },
        { name: 'b', resources: { requests: { cpu: '300m' }, limits: { memory: '50Mi' } } },
      ],
      initContainers: [
        { name: 'i1', resources: { requests: { cpu: '1', memory: '10Mi' } } },
        { name: 'i2', resources: { requests: { memory: '500Mi' } } },
      ],
      overhead: { cpu: '10m' },
    },
  });
  const r = computePodResources(p);
  t.is(r.requests.milliCPU, 1010);
  t.is(r.requests.memory, 500 * 1024 * 1024);
  // Sidecars (restartable init containers) add to the containers' sum.
  const s = pod('s', { spec: { containers: [{ name: 'a', resources: { requests: { cpu: '100m' } } }], initContainers: [{ name: 'side', restartPolicy: 'Always', resources: { requests: { cpu: '50m' } } }] } });
  t.is(computePodResources(s).requests.milliCPU, 150);
  // Scoring uses 100m / 200Mi for containers that request nothing.
  t.is(computePodResources(pod('z')).nonZero.milliCPU, 100);
  t.is(computePodResources(pod('z')).nonZero.memory, 200 * 1024 * 1024);
});

test('NodeResourcesFit LeastAllocated and BalancedAllocation spread pods onto the emptier node', async (t) => {
  const h = harness([node('a', { cpu: '4', memory: '8Gi' }), node('b', { cpu: '4', memory: '8Gi' })]);
  running(h, pod('busy', { cpu: '3', memory: '6Gi' }), 'a');
  const r = await scheduleAll(h, [pod('p', { cpu: '500m', memory: '1Gi' })]);
  t.is(r.get('p'), 'b');
});

test('NodeAffinity: required operators In, NotIn, Exists, DoesNotExist, Gt, Lt and nodeSelector', async (t) => {
  const nodes = [
    node('a', { labels: { zone: 'z1', gen: '3', ssd: 'true' } }),
    node('b', { labels: { zone: 'z2', gen: '5' } }),
    node('c', { labels: { zone: 'z3', gen: '7', gpu: 'yes' } }),
  ];
  const req = (exprs: object[]) => ({ spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: exprs as never }] } } } } });
  const cases: [string, object[], string | undefined][] = [
    ['in', [{ key: 'zone', operator: 'In', values: ['z2'] }], 'b'],
    ['notin', [{ key: 'zone', operator: 'NotIn', values: ['z1', 'z2'] }], 'c'],
    ['exists', [{ key: 'ssd', operator: 'Exists' }], 'a'],
    ['dne', [{ key: 'gpu', operator: 'DoesNotExist' }, { key: 'ssd', operator: 'DoesNotExist' }], 'b'],
    ['gt', [{ key: 'gen', operator: 'Gt', values: ['6'] }], 'c'],
    ['lt', [{ key: 'gen', operator: 'Lt', values: ['4'] }], 'a'],
    ['none', [{ key: 'gen', operator: 'Gt', values: ['100'] }], undefined],
  ];
  for (const [name, exprs, want] of cases) {
    const h = harness(nodes);
    const r = await scheduleAll(h, [pod(name, req(exprs))]);
    t.is(r.get(name), want, name);
  }
  const h = harness(nodes);
  const r = await scheduleAll(h, [pod('sel', { spec: { nodeSelector: { zone: 'z3' } } }), pod('nosel', { spec: { nodeSelector: { zone: 'mars' } } })]);
  t.is(r.get('sel'), 'c');
  t.is(lastFailure(h, 'nosel'), "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.");
});

test('NodeAffinity: preferred terms steer the choice by weight', async (t) => {
  const h = harness([node('a', { labels: { disk: 'hdd' } }), node('b', { labels: { disk: 'ssd' } }), node('c', { labels: { disk: 'nvme' } })]);
  const p = pod('p', { spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [
    { weight: 10, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } },
    { weight: 80, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['nvme'] }] } },
  ] } } } });
  const r = await scheduleAll(h, [p]);
  t.is(r.get('p'), 'c');
});

test('TaintToleration: NoSchedule and NoExecute filter with the taint in the message; tolerations admit', async (t) => {
  const h = harness([
    node('cp', { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] }),
    node('gpu', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoExecute' }] }),
  ]);
  await scheduleAll(h, [pod('p')]);
  t.is(lastFailure(h, 'p'), '0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.');
  const r = await scheduleAll(h, [pod('q', { spec: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoExecute' }] } })]);
  t.is(r.get('q'), 'gpu');
  const r2 = await scheduleAll(h, [pod('wrongvalue', { spec: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'cpu' }] } })]);
  t.is(r2.get('wrongvalue'), undefined);
});

test('TaintToleration: PreferNoSchedule taints lower the score but do not filter', async (t) => {
  const h = harness([node('a', { taints: [{ key: 'meh', effect: 'PreferNoSchedule' }] }), node('b')]);
  const r = await scheduleAll(h, [pod('p')]);
  t.is(r.get('p'), 'b');
  const h2 = harness([node('a', { taints: [{ key: 'meh', effect: 'PreferNoSchedule' }] })]);
  const r2 = await scheduleAll(h2, [pod('p2')]);
  t.is(r2.get('p2'), 'a');
});

test('NodePorts: a host port is used once per node', async (t) => {
  const h = harness([node('a'), node('b')]);
  const hp = (n: string) => pod(n, { spec: { containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort: 8080 }] }] } });
  const r = await scheduleAll(h, [hp('p1'), hp('p2'), hp('p3')]);
  t.not(r.get('p1'), r.get('p2'));
  t.is(r.get('p3'), undefined);
  t.is(lastFailure(h, 'p3'), "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.");
});

const zones = () => [
  node('a1', { labels: { zone: 'a' } }), node('a2', { labels: { zone: 'a' } }),
  node('b1', { labels: { zone: 'b' } }), node('c1', { labels: { zone: 'c' } }),
];

test('InterPodAffinity: required affinity co-locates in the topology domain; first pod of a group may go anywhere', async (t) => {
  const h = harness(zones());
  running(h, pod('db', { labels: { app: 'db' } }), 'b1');
  const aff = (n: string, app: string) => pod(n, { labels: { app: 'web' }, spec: { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app } }, topologyKey: 'zone' }] } } } });
  const r = await scheduleAll(h, [aff('web', 'db')]);
  t.is(r.get('web'), 'b1');
  await scheduleAll(h, [aff('orphan', 'cache')]);
  t.is(lastFailure(h, 'orphan'), "0/4 nodes are available: 4 node(s) didn't match pod affinity rules. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.");
  // Affinity to its own labels: the first such pod is admitted.
  const self = pod('self', { labels: { app: 'self' }, spec: { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'self' } }, topologyKey: 'zone' }] } } } });
  const r2 = await scheduleAll(h, [self]);
  t.truthy(r2.get('self'));
});

test('InterPodAffinity: required anti-affinity keeps replicas apart; existing pods\' anti-affinity is honoured', async (t) => {
  const h = harness(zones());
  const anti = (n: string) => pod(n, { labels: { app: 'r' }, spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'r' } }, topologyKey: 'zone' }] } } } });
  const r = await scheduleAll(h, [anti('r1'), anti('r2'), anti('r3'), anti('r4')]);
  const placed = ['r1', 'r2', 'r3'].map((n) => r.get(n)!.slice(0, 1));
  t.deepEqual(new Set(placed).size, 3);
  t.is(r.get('r4'), undefined);
  t.is(lastFailure(h, 'r4'), "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod.");
  // A plain pod labelled app=r is kept out by the existing pods' anti-affinity.
  await scheduleAll(h, [pod('plain', { labels: { app: 'r' } })]);
  t.is(lastFailure(h, 'plain'), "0/4 nodes are available: 4 node(s) didn't satisfy existing pods anti-affinity rules. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod.");
  // Other namespaces are not selected by default.
  const r2 = await scheduleAll(h, [pod('other', { namespace: 'x', labels: { app: 'r' } })]);
  t.truthy(r2.get('other'));
});

test('InterPodAffinity: preferred affinity and anti-affinity score by weight', async (t) => {
  const h = harness(zones());
  running(h, pod('cache', { labels: { app: 'cache' } }), 'c1');
  running(h, pod('noisy', { labels: { app: 'noisy' } }), 'a1');
  const p = pod('p', { spec: { affinity: {
    podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { labelSelector: { matchLabels: { app: 'cache' } }, topologyKey: 'zone' } }] },
    podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { app: 'noisy' } }, topologyKey: 'zone' } }] },
  } } });
  const r = await scheduleAll(h, [p]);
  t.is(r.get('p'), 'c1');
});

test('PodTopologySpread: DoNotSchedule keeps skew within maxSkew across zones', async (t) => {
  const h = harness(zones());
  const spread = (n: string) => pod(n, { labels: { app: 's' }, spec: { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 's' } } }] } });
  const r = await scheduleAll(h, ['s1', 's2', 's3', 's4', 's5', 's6'].map(spread));
  const perZone = new Map<string, number>();
  for (const n of r.values()) perZone.set(n!.slice(0, 1), (perZone.get(n!.slice(0, 1)) ?? 0) + 1);
  t.deepEqual([...perZone.values()].sort(), [2, 2, 2]);
  // With zone a full of matching pods and b, c cordoned, a 3rd pod in a would exceed maxSkew 1.
  const h2 = harness([node('a1', { labels: { zone: 'a' } }), node('b1', { labels: { zone: 'b' }, taints: [{ key: 'x', effect: 'NoSchedule' }] }), node('n', {})]);
  running(h2, pod('e1', { labels: { app: 's' } }), 'a1');
  await scheduleAll(h2, [spread('s7')]);
  t.is(lastFailure(h2, 's7'), "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints, 1 node(s) didn't match pod topology spread constraints (missing required label), 1 node(s) had untolerated taint {x: }. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.");
});

test('PodTopologySpread: ScheduleAnyway prefers the emptier domain', async (t) => {
  const h = harness(zones());
  running(h, pod('e1', { labels: { app: 's' } }), 'a1');
  running(h, pod('e2', { labels: { app: 's' } }), 'b1');
  const r = await scheduleAll(h, [pod('p', { labels: { app: 's' }, spec: { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 's' } } }] } })]);
  t.is(r.get('p'), 'c1');
});

test('ImageLocality: a node that has the image scores higher', async (t) => {
  const withImage = node('b');
  withImage.status!.images = [{ names: ['registry.local/big:1.0'], sizeBytes: 800 * 1024 * 1024 }];
  const h = harness([node('a'), withImage, node('c')]);
  const p = pod('p', { spec: { containers: [{ name: 'c', image: 'registry.local/big:1.0' }] } });
  const r = await scheduleAll(h, [p]);
  t.is(r.get('p'), 'b');
});

test('InterPodAffinity: namespaceSelector selects namespaces by their labels', async (t) => {
  const nsLabels: Record<string, Record<string, string>> = { 'team-a': { team: 'a' }, 'team-b': { team: 'b' } };
  const h = harness([node('n1', { labels: { zone: 'z1' } }), node('n2', { labels: { zone: 'z2' } })], { core: { namespaceLabels: (ns) => nsLabels[ns] } });
  running(h, pod('a-db', { namespace: 'team-a', labels: { role: 'db' } }), 'n1');
  running(h, pod('b-db', { namespace: 'team-b', labels: { role: 'db' } }), 'n2');
  const p = pod('p', { namespace: 'default', spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { role: 'db' } }, namespaceSelector: { matchLabels: { team: 'a' } }, topologyKey: 'zone' }] } } } });
  const r = await scheduleAll(h, [p]);
  t.is(r.get('p'), 'n2');
  // Without namespaceSelector, only the pod's own namespace counts: both zones are fine.
  const h2 = harness([node('n1', { labels: { zone: 'z1' } })]);
  running(h2, pod('a-db', { namespace: 'team-a', labels: { role: 'db' } }), 'n1');
  const r2 = await scheduleAll(h2, [pod('q', { spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { role: 'db' } }, topologyKey: 'zone' }] } } } })]);
  t.is(r2.get('q'), 'n1');
});

test('PodTopologySpread: minDomains counts missing domains as zero; nodeAffinityPolicy Honor ignores excluded nodes', async (t) => {
  const spread = (n: string, extra: object = {}) => pod(n, { labels: { app: 's' }, spec: { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 's' } }, ...extra }] } });
  // Two zones exist; with minDomains 3 the global minimum is 0, so each zone takes at most 1.
  const h = harness([node('a1', { labels: { zone: 'a' } }), node('b1', { labels: { zone: 'b' } })]);
  const r = await scheduleAll(h, [spread('m1', { minDomains: 3 }), spread('m2', { minDomains: 3 }), spread('m3', { minDomains: 3 })]);
  t.not(r.get('m1'), r.get('m2'));
  t.is(r.get('m3'), undefined);
  // Without minDomains the third pod fits (skew 2-1 = 1).
  const h2 = harness([node('a1', { labels: { zone: 'a' } }), node('b1', { labels: { zone: 'b' } })]);
  const r2 = await scheduleAll(h2, [spread('s1'), spread('s2'), spread('s3')]);
  t.truthy(r2.get('s3'));
  // Zone c is excluded by the pod's nodeSelector: with Honor (default) it is not a domain, so zone a may take a pod.
  const h3 = harness([node('a1', { labels: { zone: 'a', pool: 'x' } }), node('c1', { labels: { zone: 'c', pool: 'y' } })]);
  const sel = (n: string, policy?: string) => pod(n, { labels: { app: 's' }, spec: { nodeSelector: { pool: 'x' }, topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 's' } }, ...(policy ? { nodeAffinityPolicy: policy } : {}) }] } });
  const r3 = await scheduleAll(h3, [sel('h1'), sel('h2')]);
  t.is(r3.get('h1'), 'a1');
  t.is(r3.get('h2'), 'a1');
  // With Ignore, empty zone c keeps the minimum at 0: a second pod in zone a would make skew 2.
  const h4 = harness([node('a1', { labels: { zone: 'a', pool: 'x' } }), node('c1', { labels: { zone: 'c', pool: 'y' } })]);
  const r4 = await scheduleAll(h4, [sel('i1', 'Ignore'), sel('i2', 'Ignore')]);
  t.is(r4.get('i1'), 'a1');
  t.is(r4.get('i2'), undefined);
});
