// kubelet's Summary API (GET /stats/summary, stats/v1alpha1 JSON) and the
// resource metrics endpoint (GET /metrics/resource, Prometheus text) of the
// node agent: CPU and memory of the node, its pods and their containers.
//
// The figures come from the cgroups directly, as cadvisor reads them for
// kubelet (containerd's CRI stats read the same files; the CRI subset this
// agent speaks has no stats RPCs): the node is the root cgroup, a pod is
// <cgroupRoot>/pod<uid>, a container <cgroupRoot>/pod<uid>/<containerId>
// (containerd's cgroupfs layout). cgroup v1 (cpuacct.usage, memory.usage_in_bytes,
// memory.stat total_inactive_file) and v2 (cpu.stat usage_usec, memory.current,
// memory.stat inactive_file). The working set is usage minus inactive file
// pages, as cadvisor computes it; usageNanoCores is the rate between this
// sample and the previous one of the same cgroup (absent on the first).
import { readFile } from 'node:fs/promises';
import { totalmem, uptime } from 'node:os';
import { join } from 'node:path';
import type { CriContainer, PodSandbox } from '../cri/types.js';
import { CONTAINER_NAME, POD_NAME, POD_NAMESPACE, POD_UID } from '../runtime/labels.js';

export interface CPUStats {
  time: string;
  usageNanoCores?: number;
  usageCoreNanoSeconds: number;
}

export interface MemoryStats {
  time: string;
  availableBytes?: number;
  usageBytes: number;
  workingSetBytes: number;
  rssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
}

export interface ContainerStats {
  name: string;
  startTime: string;
  cpu?: CPUStats;
  memory?: MemoryStats;
}

export interface PodStats {
  podRef: { name: string; namespace: string; uid: string };
  startTime: string;
  containers: ContainerStats[];
  cpu?: CPUStats;
  memory?: MemoryStats;
}

export interface Summary {
  node: { nodeName: string; startTime: string; cpu?: CPUStats; memory?: MemoryStats };
  pods: PodStats[];
}

/** One reading of a cgroup's CPU and memory files. */
export interface CgroupSample {
  cpuNanos: number;
  memoryUsage: number;
  inactiveFile: number;
  rss?: number;
  pageFaults?: number;
  majorPageFaults?: number;
  memoryLimit?: number;
}

export interface StatsRuntime {
  listPodSandbox(): Promise<PodSandbox[]>;
  listContainers(): Promise<CriContainer[]>;
}

export interface StatsSummaryOptions {
  nodeName: string;
  /** Parent of the pod cgroups, e.g. "/mk-w1". */
  cgroupRoot: string;
  cri: StatsRuntime;
  /** The cgroup filesystem (default /sys/fs/cgroup). */
  fsRoot?: string;
  now?: () => Date;
}

/** memory.stat as key → number. */
export function parseKeyValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out.set(k, Number(v));
  }
  return out;
}

/** The working set as cadvisor computes it: usage minus inactive file pages, never negative. */
export function workingSet(s: CgroupSample): number {
  return Math.max(0, s.memoryUsage - s.inactiveFile);
}

/** Nanocores between two cumulative samples taken at two times (ms), or undefined. */
export function nanoCores(prev: { cpuNanos: number; atMs: number } | undefined, cur: { cpuNanos: number; atMs: number }): number | undefined {
  if (!prev || cur.atMs <= prev.atMs || cur.cpuNanos < prev.cpuNanos) return undefined;
  return Math.round(((cur.cpuNanos - prev.cpuNanos) / (cur.atMs - prev.atMs)) * 1000);
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENODEV') return undefined;
    throw err;
  }
}

const num = (s: string | undefined): number | undefined => {
  const t = s?.trim();
  return t && /^\d+$/.test(t) ? Number(t) : undefined;
};

/** Reads one cgroup (path relative to the hierarchy roots); undefined when it does not exist. */
export async function readCgroup(fsRoot: string, path: string): Promise<CgroupSample | undefined> {
  const v2 = (await readText(join(fsRoot, 'cgroup.controllers'))) !== undefined;
  if (v2) {
    const cpu = await readText(join(fsRoot, path, 'cpu.stat'));
    if (cpu === undefined) return undefined;
    const stat = parseKeyValues((await readText(join(fsRoot, path, 'memory.stat'))) ?? '');
    // The root cgroup has no memory.current: the sum of its memory.stat is the closest figure.
    const current = num(await readText(join(fsRoot, path, 'memory.current'))) ?? (stat.get('anon') ?? 0) + (stat.get('file') ?? 0) + (stat.get('kernel') ?? 0);
    return {
      cpuNanos: (parseKeyValues(cpu).get('usage_usec') ?? 0) * 1000,
      memoryUsage: current,
      inactiveFile: stat.get('inactive_file') ?? 0,
      rss: stat.get('anon'),
      pageFaults: stat.get('pgfault'),
      majorPageFaults: stat.get('pgmajfault'),
      memoryLimit: num(await readText(join(fsRoot, path, 'memory.max'))),
    };
  }
  const cpu = num(await readText(join(fsRoot, 'cpuacct', path, 'cpuacct.usage')));
  const usage = num(await readText(join(fsRoot, 'memory', path, 'memory.usage_in_bytes')));
  if (cpu === undefined || usage === undefined) return undefined;
  const stat = parseKeyValues((await readText(join(fsRoot, 'memory', path, 'memory.stat'))) ?? '');
  return {
    cpuNanos: cpu,
    memoryUsage: usage,
    inactiveFile: stat.get('total_inactive_file') ?? stat.get('inactive_file') ?? 0,
    rss: stat.get('total_rss') ?? stat.get('rss'),
    pageFaults: stat.get('total_pgfault') ?? stat.get('pgfault'),
    majorPageFaults: stat.get('total_pgmajfault') ?? stat.get('pgmajfault'),
    memoryLimit: num(await readText(join(fsRoot, 'memory', path, 'memory.limit_in_bytes'))),
  };
}

/** CRI's created_at (nanoseconds since the epoch) as RFC 3339. */
export function criTime(createdAt: string | number | undefined): string {
  const ns = BigInt(String(createdAt ?? 0) || '0');
  return new Date(Number(ns / 1_000_000n)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function toRfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Builds the Summary from live cgroups and the runtime's sandboxes and containers. */
export class StatsSummaryProvider {
  private readonly previous = new Map<string, { cpuNanos: number; atMs: number }>();
  private readonly fsRoot: string;

  constructor(private readonly o: StatsSummaryOptions) {
    this.fsRoot = o.fsRoot ?? '/sys/fs/cgroup';
  }

  private async stats(path: string, at: Date, capacity?: number): Promise<{ cpu: CPUStats; memory: MemoryStats } | undefined> {
    const s = await readCgroup(this.fsRoot, path);
    if (!s) return undefined;
    const cur = { cpuNanos: s.cpuNanos, atMs: at.getTime() };
    const rate = nanoCores(this.previous.get(path), cur);
    this.previous.set(path, cur);
    const time = toRfc3339(at);
    const ws = workingSet(s);
    // availableBytes: limit (or node capacity) minus working set, as cadvisor; omitted when unlimited.
    const limit = capacity ?? (s.memoryLimit !== undefined && s.memoryLimit < 2 ** 62 ? s.memoryLimit : undefined);
    return {
      cpu: { time, ...(rate !== undefined ? { usageNanoCores: rate } : {}), usageCoreNanoSeconds: s.cpuNanos },
      memory: {
        time,
        ...(limit !== undefined ? { availableBytes: Math.max(0, limit - ws) } : {}),
        usageBytes: s.memoryUsage,
        workingSetBytes: ws,
        ...(s.rss !== undefined ? { rssBytes: s.rss } : {}),
        ...(s.pageFaults !== undefined ? { pageFaults: s.pageFaults } : {}),
        ...(s.majorPageFaults !== undefined ? { majorPageFaults: s.majorPageFaults } : {}),
      },
    };
  }

  async summary(): Promise<Summary> {
    const at = (this.o.now ?? (() => new Date()))();
    const [sandboxes, containers] = await Promise.all([this.o.cri.listPodSandbox(), this.o.cri.listContainers()]);
    const root = this.o.cgroupRoot.replace(/\/$/, '');
    const seen = new Set<string>();
    const node = await this.stats('/', at, totalmem());
    seen.add('/');
    const pods: PodStats[] = [];
    for (const sb of sandboxes) {
      if (String(sb.state) !== 'SANDBOX_READY') continue;
      const uid = sb.metadata?.uid ?? sb.labels?.[POD_UID] ?? '';
      const podPath = `${root}/pod${uid}`;
      const podStats = await this.stats(podPath, at);
      seen.add(podPath);
      const cs: ContainerStats[] = [];
      for (const c of containers) {
        if (c.pod_sandbox_id !== sb.id || String(c.state) !== 'CONTAINER_RUNNING') continue;
        const path = `${podPath}/${c.id}`;
        const st = await this.stats(path, at);
        seen.add(path);
        cs.push({ name: c.labels?.[CONTAINER_NAME] ?? c.metadata?.name ?? '', startTime: criTime(c.created_at), ...(st ?? {}) });
      }
      cs.sort((a, b) => a.name.localeCompare(b.name));
      pods.push({
        podRef: { name: sb.labels?.[POD_NAME] ?? sb.metadata?.name ?? '', namespace: sb.labels?.[POD_NAMESPACE] ?? sb.metadata?.namespace ?? '', uid },
        startTime: criTime(sb.created_at),
        containers: cs,
        ...(podStats ?? {}),
      });
    }
    for (const k of [...this.previous.keys()]) if (!seen.has(k)) this.previous.delete(k);
    const bootMs = at.getTime() - uptime() * 1000;
    return { node: { nodeName: this.o.nodeName, startTime: toRfc3339(new Date(bootMs)), ...(node ?? {}) }, pods };
  }
}

/** The Prometheus text of /metrics/resource (kubelet's resource metrics names) for a Summary. */
export function resourceMetricsText(s: Summary): string {
  const ms = (t: string | undefined) => (t ? Date.parse(t) : Date.now());
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const lines: string[] = [];
  const family = (name: string, help: string, samples: Array<[string, number, string | undefined]>) => {
    lines.push(`# HELP ${name} [ALPHA] ${help}`, `# TYPE ${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}`);
    for (const [labels, v, t] of samples) lines.push(`${name}${labels} ${v} ${ms(t)}`);
  };
  const n = s.node;
  family('node_cpu_usage_seconds_total', 'Cumulative cpu time consumed by the node in core-seconds', n.cpu ? [['', n.cpu.usageCoreNanoSeconds / 1e9, n.cpu.time]] : []);
  family('node_memory_working_set_bytes', 'Current working set of the node in bytes', n.memory ? [['', n.memory.workingSetBytes, n.memory.time]] : []);
  const cl = (p: PodStats, c: ContainerStats) => `{container="${esc(c.name)}",namespace="${esc(p.podRef.namespace)}",pod="${esc(p.podRef.name)}"}`;
  const pl = (p: PodStats) => `{namespace="${esc(p.podRef.namespace)}",pod="${esc(p.podRef.name)}"}`;
  family('container_cpu_usage_seconds_total', 'Cumulative cpu time consumed by the container in core-seconds', s.pods.flatMap((p) => p.containers.filter((c) => c.cpu).map((c): [string, number, string | undefined] => [cl(p, c), c.cpu!.usageCoreNanoSeconds / 1e9, c.cpu!.time])));
  family('container_memory_working_set_bytes', 'Current working set of the container in bytes', s.pods.flatMap((p) => p.containers.filter((c) => c.memory).map((c): [string, number, string | undefined] => [cl(p, c), c.memory!.workingSetBytes, c.memory!.time])));
  family('container_start_time_seconds', 'Start time of the container since unix epoch in seconds', s.pods.flatMap((p) => p.containers.map((c): [string, number, string | undefined] => [cl(p, c), Date.parse(c.startTime) / 1000, undefined])));
  family('pod_cpu_usage_seconds_total', 'Cumulative cpu time consumed by the pod in core-seconds', s.pods.filter((p) => p.cpu).map((p): [string, number, string | undefined] => [pl(p), p.cpu!.usageCoreNanoSeconds / 1e9, p.cpu!.time]));
  family('pod_memory_working_set_bytes', 'Current working set of the pod in bytes', s.pods.filter((p) => p.memory).map((p): [string, number, string | undefined] => [pl(p), p.memory!.workingSetBytes, p.memory!.time]));
  lines.push('# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise', '# TYPE scrape_error gauge', 'scrape_error 0');
  return lines.join('\n') + '\n';
}
