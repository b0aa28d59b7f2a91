// The scraped points of metrics-server's storage: the last two samples of
// every node and container (cumulative CPU core-nanoseconds, memory working
// set, sample time, start time), and the usage computed from them as upstream:
// CPU = (cumulative now − cumulative before) / (time now − time before) in
// nanocores, memory = the working set of the last sample, `timestamp` = the
// last sample's time, `window` = the time between the two. A counter that went
// back (restarted container) starts over. A pod has metrics only when every
// one of its containers has. Pure: no I/O, no timers.
import type { Summary } from '@mkube/node-agent';

export interface MetricsPoint {
  /** ms since the epoch */
  timestamp: number;
  startTime: number;
  cumulativeCpu: number;
  memory: number;
}

export interface Usage {
  timestamp: number;
  windowMs: number;
  cpuNanoCores: number;
  memoryBytes: number;
}

interface Pair {
  prev?: MetricsPoint;
  last: MetricsPoint;
}

export interface PodUsage {
  namespace: string;
  name: string;
  timestamp: number;
  windowMs: number;
  containers: Array<{ name: string; cpuNanoCores: number; memoryBytes: number }>;
}

const ms = (t: string | undefined): number => (t ? Date.parse(t) : NaN);

/** The node's and each running container's point from one Summary; incomplete entries are dropped. */
export function decodeSummary(s: Summary): { node?: MetricsPoint; pods: Array<{ namespace: string; name: string; containers: Array<{ name: string; point: MetricsPoint }> }> } {
  const point = (cpu: { time: string; usageCoreNanoSeconds: number } | undefined, mem: { time: string; workingSetBytes: number } | undefined, start: string): MetricsPoint | undefined => {
    if (!cpu || !mem || !Number.isFinite(ms(cpu.time)) || typeof cpu.usageCoreNanoSeconds !== 'number' || typeof mem.workingSetBytes !== 'number') return undefined;
    return { timestamp: ms(cpu.time), startTime: ms(start) || 0, cumulativeCpu: cpu.usageCoreNanoSeconds, memory: mem.workingSetBytes };
  };
  const node = point(s.node?.cpu, s.node?.memory, s.node?.startTime);
  const pods = (s.pods ?? []).map((p) => ({
    namespace: p.podRef.namespace,
    name: p.podRef.name,
    containers: (p.containers ?? []).flatMap((c) => {
      const pt = point(c.cpu, c.memory, c.startTime);
      return pt ? [{ name: c.name, point: pt }] : [];
    }),
  }));
  return { ...(node ? { node } : {}), pods };
}

/** Usage between two points, or undefined when there is no usable window. */
export function usageBetween(prev: MetricsPoint | undefined, last: MetricsPoint): Usage | undefined {
  if (!prev) return undefined;
  const windowMs = last.timestamp - prev.timestamp;
  if (windowMs <= 0 || last.cumulativeCpu < prev.cumulativeCpu) return undefined;
  return { timestamp: last.timestamp, windowMs, cpuNanoCores: Math.round(((last.cumulativeCpu - prev.cumulativeCpu) / windowMs) * 1000), memoryBytes: last.memory };
}

function advance(old: Pair | undefined, p: MetricsPoint): Pair {
  if (!old) return { last: p };
  if (p.timestamp === old.last.timestamp) return old; // the same sample scraped twice
  if (p.cumulativeCpu < old.last.cumulativeCpu || p.startTime !== old.last.startTime) return { last: p }; // restarted
  return { prev: old.last, last: p };
}

export class MetricsStorage {
  private nodes = new Map<string, Pair>();
  /** "ns/pod" → container → pair */
  private pods = new Map<string, Map<string, Pair>>();

  /** Stores one scrape round: nodes (and their pods) not in it are forgotten, as metrics-server replaces its storage each round. */
  store(round: Map<string, Summary>): void {
    const nodes = new Map<string, Pair>();
    const pods = new Map<string, Map<string, Pair>>();
    for (const [nodeName, summary] of round) {
      const d = decodeSummary(summary);
      if (d.node) nodes.set(nodeName, advance(this.nodes.get(nodeName), d.node));
      for (const p of d.pods) {
        const key = `${p.namespace}/${p.name}`;
        const before = this.pods.get(key);
        const cs = new Map<string, Pair>();
        for (const c of p.containers) cs.set(c.name, advance(before?.get(c.name), c.point));
        pods.set(key, cs);
      }
    }
    this.nodes = nodes;
    this.pods = pods;
  }

  nodeUsage(name: string): Usage | undefined {
    const p = this.nodes.get(name);
    return p ? usageBetween(p.prev, p.last) : undefined;
  }

  podUsage(namespace: string, name: string): PodUsage | undefined {
    const cs = this.pods.get(`${namespace}/${name}`);
    if (!cs || cs.size === 0) return undefined;
    const containers: PodUsage['containers'] = [];
    let timestamp = 0;
    let windowMs = 0;
    for (const [cname, pair] of cs) {
      const u = usageBetween(pair.prev, pair.last);
      if (!u) return undefined; // incomplete pod metrics are not served
      containers.push({ name: cname, cpuNanoCores: u.cpuNanoCores, memoryBytes: u.memoryBytes });
      if (u.timestamp > timestamp) {
        timestamp = u.timestamp;
        windowMs = u.windowMs;
      }
    }
    containers.sort((a, b) => a.name.localeCompare(b.name));
    return { namespace, name, timestamp, windowMs, containers };
  }

  podKeys(): string[] {
    return [...this.pods.keys()];
  }
}
