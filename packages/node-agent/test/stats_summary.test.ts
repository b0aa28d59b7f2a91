// The Summary API's figures from a cgroup v1 / v2 tree laid out in a temp dir
// as containerd's cgroupfs layout: node = root, pod<uid>, pod<uid>/<id>.
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nanoCores, parseKeyValues, resourceMetricsText, StatsSummaryProvider } from '../src/server/stats_summary.js';
import { nodeImages } from '../src/node_images.js';
import type { CriContainer, Image, PodSandbox } from '../src/cri/types.js';

function put(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

const UID = '1111-2222';
const sandbox = { id: 'sb1', metadata: { name: 'busy', uid: UID, namespace: 'ns1', attempt: 0 }, state: 'SANDBOX_READY', created_at: '1700000000000000000', labels: { 'io.kubernetes.pod.name': 'busy', 'io.kubernetes.pod.namespace': 'ns1', 'io.kubernetes.pod.uid': UID } } as unknown as PodSandbox;
const container = { id: 'c1', pod_sandbox_id: 'sb1', metadata: { name: 'spin', attempt: 0 }, state: 'CONTAINER_RUNNING', created_at: '1700000001000000000', labels: { 'io.kubernetes.container.name': 'spin' } } as unknown as CriContainer;
const exited = { ...container, id: 'c0', state: 'CONTAINER_EXITED' } as unknown as CriContainer;

function v1Tree(root: string, cpu: { node: number; pod: number; c: number }): void {
  for (const [path, n, mem] of [['', cpu.node, 8_000_000], ['/w9/pod' + UID, cpu.pod, 3_000_000], ['/w9/pod' + UID + '/c1', cpu.c, 2_000_000]] as const) {
    put(join(root, 'cpuacct', path, 'cpuacct.usage'), `${n}\n`);
    put(join(root, 'memory', path, 'memory.usage_in_bytes'), `${mem}\n`);
    put(join(root, 'memory', path, 'memory.stat'), `cache 5\nrss 7\ntotal_rss ${mem / 2}\ntotal_inactive_file 500000\ntotal_pgfault 12\ntotal_pgmajfault 1\n`);
    put(join(root, 'memory', path, 'memory.limit_in_bytes'), '9223372036854771712\n');
  }
}

test('parseKeyValues and nanoCores', (t) => {
  t.deepEqual([...parseKeyValues('a 1\nb 22\n\nbad x\n')], [['a', 1], ['b', 22]]);
  t.is(nanoCores(undefined, { cpuNanos: 5, atMs: 10 }), undefined);
  t.is(nanoCores({ cpuNanos: 0, atMs: 0 }, { cpuNanos: 500_000_000, atMs: 1000 }), 500_000_000);
  t.is(nanoCores({ cpuNanos: 10, atMs: 0 }, { cpuNanos: 5, atMs: 1000 }), undefined, 'a counter reset gives no rate');
});

test('Summary from a cgroup v1 tree: node, pod, running containers, rate on the second sample', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'stats-v1-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  v1Tree(root, { node: 1e9, pod: 4e8, c: 3e8 });
  let now = new Date('2026-01-01T00:00:00Z');
  const p = new StatsSummaryProvider({ nodeName: 'w9', cgroupRoot: '/w9', fsRoot: root, now: () => now, cri: { listPodSandbox: async () => [sandbox], listContainers: async () => [container, exited] } });
  const s1 = await p.summary();
  t.is(s1.node.nodeName, 'w9');
  t.deepEqual(s1.node.cpu, { time: '2026-01-01T00:00:00Z', usageCoreNanoSeconds: 1e9 });
  t.is(s1.node.memory!.workingSetBytes, 8_000_000 - 500_000);
  t.is(s1.pods.length, 1);
  const pod = s1.pods[0]!;
  t.deepEqual(pod.podRef, { name: 'busy', namespace: 'ns1', uid: UID });
  t.is(pod.startTime, '2023-11-14T22:13:20Z');
  t.deepEqual(pod.containers.map((c) => c.name), ['spin'], 'only running containers');
  t.deepEqual(pod.containers[0]!.memory, { time: '2026-01-01T00:00:00Z', usageBytes: 2_000_000, workingSetBytes: 1_500_000, rssBytes: 1_000_000, pageFaults: 12, majorPageFaults: 1 });
  v1Tree(root, { node: 3e9, pod: 9e8, c: 8e8 });
  now = new Date('2026-01-01T00:00:10Z');
  const s2 = await p.summary();
  t.is(s2.node.cpu!.usageNanoCores, 200_000_000);
  t.is(s2.pods[0]!.containers[0]!.cpu!.usageNanoCores, 50_000_000);
  t.is(s2.pods[0]!.cpu!.usageCoreNanoSeconds, 9e8);
  const text = resourceMetricsText(s2);
  t.regex(text, /\ncontainer_cpu_usage_seconds_total\{container="spin",namespace="ns1",pod="busy"\} 0\.8 1767225610000\n/);
  t.regex(text, /\nnode_memory_working_set_bytes 7500000 1767225610000\n/);
});

test('Summary from a cgroup v2 tree', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'stats-v2-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  put(join(root, 'cgroup.controllers'), 'cpu memory\n');
  put(join(root, 'cpu.stat'), 'usage_usec 5000000\n');
  put(join(root, 'memory.stat'), 'anon 100\nfile 50\nkernel 10\ninactive_file 20\n');
  const pod = join(root, 'w9', 'pod' + UID);
  put(join(pod, 'cpu.stat'), 'usage_usec 2000\n');
  put(join(pod, 'memory.current'), '4096\n');
  put(join(pod, 'memory.stat'), 'anon 1000\ninactive_file 96\npgfault 3\npgmajfault 0\n');
  put(join(pod, 'memory.max'), 'max\n');
  put(join(pod, 'c1', 'cpu.stat'), 'usage_usec 1500\n');
  put(join(pod, 'c1', 'memory.current'), '2048\n');
  put(join(pod, 'c1', 'memory.stat'), 'inactive_file 48\n');
  const p = new StatsSummaryProvider({ nodeName: 'w9', cgroupRoot: '/w9/', fsRoot: root, cri: { listPodSandbox: async () => [sandbox], listContainers: async () => [container] } });
  const s = await p.summary();
  t.is(s.node.cpu!.usageCoreNanoSeconds, 5e9);
  t.is(s.node.memory!.usageBytes, 160);
  t.is(s.node.memory!.workingSetBytes, 140);
  t.is(s.pods[0]!.memory!.workingSetBytes, 4000);
  t.false('availableBytes' in s.pods[0]!.memory!, 'unlimited: no availableBytes');
  t.is(s.pods[0]!.containers[0]!.cpu!.usageCoreNanoSeconds, 1_500_000);
});

test('node images as kubelet reports them: largest first, digests then tags, at most 5 names', (t) => {
  const img = (size: number, tags: string[], digests: string[]) => ({ id: 'x', repo_tags: tags, repo_digests: digests, size: String(size) }) as unknown as Image;
  const out = nodeImages([img(10, ['a:1'], ['a@sha256:1']), img(300, ['b:1', 'b:2', 'b:3', 'b:4'], ['b@sha256:2', 'b@sha256:3'])]);
  t.deepEqual(out, [
    { names: ['b@sha256:2', 'b@sha256:3', 'b:1', 'b:2', 'b:3'], sizeBytes: 300 },
    { names: ['a@sha256:1', 'a:1'], sizeBytes: 10 },
  ]);
});
