// Synthetic clusters for the pure scheduler core: nodes, pods, recorded effects and a fake clock.
import { SchedulerCore, type CoreOptions, type SchedulerEffects } from '../src/core.js';
import type { SchedulerNode, SchedulerPod, WrittenPodCondition, Taint } from '../src/types.js';

export interface NodeOpts {
  cpu?: string;
  memory?: string;
  pods?: number;
  labels?: Record<string, string>;
  taints?: Taint[];
  unschedulable?: boolean;
  extra?: Record<string, string>;
}

export function node(name: string, o: NodeOpts = {}): SchedulerNode {
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, uid: `node-${name}`, labels: { 'kubernetes.io/hostname': name, ...o.labels } },
    spec: { unschedulable: o.unschedulable, taints: o.taints },
    status: { allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: String(o.pods ?? 110), ...o.extra } },
  };
}

export interface PodOpts {
  cpu?: string;
  memory?: string;
  priority?: number;
  labels?: Record<string, string>;
  nodeName?: string;
  namespace?: string;
  spec?: Partial<SchedulerPod['spec']>;
  creationTimestamp?: string;
}

let seq = 0;
export function pod(name: string, o: PodOpts = {}): SchedulerPod {
  const requests: Record<string, string> = {};
  if (o.cpu) requests.cpu = o.cpu;
  if (o.memory) requests.memory = o.memory;
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: o.namespace ?? 'default', uid: `uid-${name}-${++seq}`, labels: o.labels, creationTimestamp: o.creationTimestamp },
    spec: {
      schedulerName: 'default-scheduler',
      nodeName: o.nodeName,
      priority: o.priority,
      containers: [{ name: 'c', image: 'busybox', resources: { requests } }],
      ...o.spec,
    },
    status: { phase: 'Pending' },
  };
}

export interface Recorded {
  binds: { pod: string; node: string }[];
  events: { pod: string; type: string; reason: string; message: string }[];
  statuses: { pod: string; condition: WrittenPodCondition | null; nominated?: string | null }[];
  deleted: string[];
}

export class FakeClock {
  t = 1_000_000;
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface Harness {
  core: SchedulerCore;
  rec: Recorded;
  clock: FakeClock;
  /** Resolves pending binds: confirm the bound pods through the "watch". */
  pendingBinds: { pod: SchedulerPod; node: string; resolve: () => void; reject: (e: Error) => void }[];
  /** Resolves once `n` binds were requested (the binding cycle runs its PreBind plugins asynchronously first). */
  bindsRequested(n: number): Promise<void>;
}

/**
 * A core whose effects record what they were asked to do. With `autoBind`
 * binds succeed at once and the bound pod is fed back as a watch event.
 */
export function harness(nodes: SchedulerNode[], opts: { autoBind?: boolean; core?: Partial<CoreOptions> } = {}): Harness {
  const autoBind = opts.autoBind ?? true;
  const rec: Recorded = { binds: [], events: [], statuses: [], deleted: [] };
  const clock = new FakeClock();
  const pendingBinds: Harness['pendingBinds'] = [];
  const effects: SchedulerEffects = {
    async bind(p, n) {
      rec.binds.push({ pod: p.metadata.name!, node: n });
      if (autoBind) {
        core.onPodUpdate(undefined, { ...p, spec: { ...p.spec, nodeName: n } });
        return;
      }
      await new Promise<void>((resolve, reject) => pendingBinds.push({ pod: p, node: n, resolve, reject }));
    },
    async updatePodStatus(p, condition, nominated) {
      rec.statuses.push({ pod: p.metadata.name!, condition, nominated });
    },
    recordEvent(p, type, reason, message) {
      rec.events.push({ pod: p.metadata.name!, type, reason, message });
    },
    async deletePod(p) {
      rec.deleted.push(p.metadata.name!);
      core.onPodDelete(p);
    },
  };
  // The effects above call back into the core only once it exists (after construction).
  const core: SchedulerCore = new SchedulerCore({ effects, now: clock.now, random: () => 0.99, ...opts.core });
  for (const n of nodes) core.onNodeAdd(n);
  const bindsRequested = async (n: number): Promise<void> => {
    // Event-loop turns, not time: the binding cycle needs a few to reach bind().
    for (let turn = 0; pendingBinds.length < n; turn++) {
      if (turn > 1000) throw new Error(`only ${pendingBinds.length} of ${n} binds were requested`);
      await new Promise((r) => setImmediate(r));
    }
  };
  return { core, rec, clock, pendingBinds, bindsRequested };
}

/** Adds pods, runs all cycles and waits for bindings; returns pod name → node name (or undefined). */
export async function scheduleAll(h: Harness, pods: SchedulerPod[]): Promise<Map<string, string | undefined>> {
  for (const p of pods) h.core.onPodAdd(p);
  await h.core.scheduleAllPending();
  await h.core.waitForBindings();
  const out = new Map<string, string | undefined>();
  for (const p of pods) out.set(p.metadata.name!, h.rec.binds.find((b) => b.pod === p.metadata.name)?.node);
  return out;
}

export function lastFailure(h: Harness, name: string): string | undefined {
  return [...h.rec.events].reverse().find((e) => e.pod === name && e.reason === 'FailedScheduling')?.message;
}

/** A pod already running on a node (fed through the watch). */
export function running(h: Harness, p: SchedulerPod, nodeName: string): SchedulerPod {
  const bound = { ...p, spec: { ...p.spec, nodeName }, status: { phase: 'Running', startTime: p.metadata.creationTimestamp ?? '2024-01-01T00:00:00Z' } };
  h.core.onPodAdd(bound);
  return bound;
}
