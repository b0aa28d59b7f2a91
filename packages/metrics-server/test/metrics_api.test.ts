// metrics-server's storage (rates from two cumulative samples, restarts,
// incomplete pods) and the metrics.k8s.io/v1beta1 responses built from it.
import test from 'ava';
import type { Summary } from '@mkube/node-agent';
import { handleMetricsRequest, type MetricsSources } from '../src/metrics_api.js';
import { MetricsStorage, usageBetween } from '../src/storage.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function summary(at: number, nodeCpu: number, pods: Array<{ ns: string; name: string; containers: Array<[string, number, number]> }>): Summary {
  const time = iso(at);
  return {
    node: { nodeName: 'n1', startTime: iso(T0 - 1e6), cpu: { time, usageCoreNanoSeconds: nodeCpu }, memory: { time, usageBytes: 3 << 20, workingSetBytes: 2 << 20 } },
    pods: pods.map((p) => ({
      podRef: { name: p.name, namespace: p.ns, uid: 'u-' + p.name },
      startTime: iso(T0 - 5000),
      containers: p.containers.map(([name, cpu, mem]) => ({ name, startTime: iso(T0 - 5000), cpu: { time, usageCoreNanoSeconds: cpu }, memory: { time, usageBytes: mem, workingSetBytes: mem } })),
    })),
  };
}

test('usageBetween: nanocores over the window, none without a window or after a reset', (t) => {
  const p = (ts: number, cpu: number) => ({ timestamp: ts, startTime: 0, cumulativeCpu: cpu, memory: 7 });
  t.deepEqual(usageBetween(p(0, 0), p(15_000, 7.5e9)), { timestamp: 15_000, windowMs: 15_000, cpuNanoCores: 500_000_000, memoryBytes: 7 });
  t.is(usageBetween(undefined, p(1, 1)), undefined);
  t.is(usageBetween(p(5, 0), p(5, 10)), undefined);
  t.is(usageBetween(p(0, 10), p(5, 1)), undefined);
});

function sources(storage: MetricsStorage): MetricsSources {
  return {
    storage,
    nodes: () => [{ name: 'n1', labels: { role: 'w' } }, { name: 'n2' }],
    pods: () => [
      { name: 'busy', namespace: 'a', labels: { app: 'busy' } },
      { name: 'idle', namespace: 'a', labels: { app: 'idle' } },
      { name: 'half', namespace: 'b' },
    ],
    now: () => T0 + 60_000,
  };
}

test('NodeMetrics and PodMetrics after two scrapes, as metrics-server answers', (t) => {
  const storage = new MetricsStorage();
  const pods = (k: number) => [
    { ns: 'a', name: 'busy', containers: [['spin', k * 1e9, 1 << 20] as [string, number, number]] },
    { ns: 'a', name: 'idle', containers: [['sleep', 1000 + k, 4096] as [string, number, number]] },
    { ns: 'b', name: 'half', containers: [['x', k, 1] as [string, number, number], ...(k === 2 ? [['y', 5, 1] as [string, number, number]] : [])] },
  ];
  storage.store(new Map([['n1', summary(T0, 1e9, pods(1))]]));
  const src = sources(storage);
  t.deepEqual((handleMetricsRequest(src, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes', new URLSearchParams())!.body as { items: unknown[] }).items, [], 'one sample: no metrics yet');
  storage.store(new Map([['n1', summary(T0 + 10_000, 6e9, pods(2))]]));
  const node = handleMetricsRequest(src, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes/n1', new URLSearchParams())!;
  t.is(node.status, 200);
  t.deepEqual(node.body, {
    kind: 'NodeMetrics',
    apiVersion: 'metrics.k8s.io/v1beta1',
    metadata: { name: 'n1', creationTimestamp: '2026-01-01T00:01:00Z', labels: { role: 'w' } },
    timestamp: '2026-01-01T00:00:10Z',
    window: '10s',
    usage: { cpu: '500m', memory: '2Mi' },
  });
  const list = handleMetricsRequest(src, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/a/pods', new URLSearchParams())!;
  t.deepEqual((list.body as { items: Array<{ metadata: { name: string }; containers: unknown }> }).items.map((i) => [i.metadata.name, i.containers]), [
    ['busy', [{ name: 'spin', usage: { cpu: '100m', memory: '1Mi' } }]],
    ['idle', [{ name: 'sleep', usage: { cpu: '0', memory: '4Ki' } }]],
  ]);
  const all = handleMetricsRequest(src, 'GET', '/apis/metrics.k8s.io/v1beta1/pods', new URLSearchParams({ labelSelector: 'app=busy' }))!;
  t.deepEqual((all.body as { kind: string; items: Array<{ metadata: { namespace: string } }> }).items.map((i) => i.metadata.namespace), ['a']);
  t.is((all.body as { kind: string }).kind, 'PodMetricsList');
  const half = handleMetricsRequest(src, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/b/pods/half', new URLSearchParams())!;
  t.is(half.status, 404, 'a container without two samples: no pod metrics');
  t.is((half.body as { message: string }).message, 'podmetrics.metrics.k8s.io "b/half" not found');
  t.is(handleMetricsRequest(src, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes/n2', new URLSearchParams())!.status, 404);
  t.is(handleMetricsRequest(src, 'GET', '/apis/metrics.k8s.io/v1beta1/pods', new URLSearchParams({ labelSelector: 'a in (' }))!.status, 400);
  const byName = handleMetricsRequest(src, 'GET', '/apis/metrics.k8s.io/v1beta1/pods', new URLSearchParams({ fieldSelector: 'metadata.name=idle' }))!;
  t.deepEqual((byName.body as { items: Array<{ metadata: { name: string } }> }).items.map((i) => i.metadata.name), ['idle']);
  t.is((handleMetricsRequest(src, 'GET', '/apis/metrics.k8s.io/v1beta1', new URLSearchParams())!.body as { kind: string }).kind, 'APIResourceList');
  t.is(handleMetricsRequest(src, 'GET', '/api/v1/pods', new URLSearchParams()), undefined);
});

test('a restarted container (counter went back) starts over', (t) => {
  const storage = new MetricsStorage();
  const one = (at: number, cpu: number) => new Map([['n1', summary(at, 1, [{ ns: 'a', name: 'busy', containers: [['spin', cpu, 1]] }])]]);
  storage.store(one(T0, 5e9));
  storage.store(one(T0 + 10_000, 6e9));
  t.truthy(storage.podUsage('a', 'busy'));
  storage.store(one(T0 + 20_000, 1e6));
  t.is(storage.podUsage('a', 'busy'), undefined);
  storage.store(one(T0 + 30_000, 1e9 + 1e6));
  t.is(storage.podUsage('a', 'busy')!.containers[0]!.cpuNanoCores, 100_000_000);
});
