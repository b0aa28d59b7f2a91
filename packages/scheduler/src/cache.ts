/**
 * The scheduler cache: nodes and the pods on them, including pods the
 * scheduler has assumed (reserved on a node before the bind returned).
 * An assumed pod is confirmed when the bound pod arrives through the watch,
 * forgotten when binding fails, and expires if its binding finished but the
 * pod never showed up. Each cycle works on a Snapshot, updated incrementally
 * from the nodes changed since the last one.
 */
import type { SnapshotLister } from './framework/interface.js';
import { NodeInfo, podInfoOf, type PodInfo } from './node_info.js';
import type { SchedulerNode, SchedulerPod } from './types.js';
import { podId } from './types.js';

export class CacheError extends Error {
  constructor(readonly code: 'POD_NOT_FOUND' | 'POD_ALREADY_ASSUMED' | 'POD_NOT_ASSUMED' | 'POD_NO_NODE', message: string) {
    super(message);
    this.name = 'CacheError';
  }
}

interface PodState {
  info: PodInfo;
  nodeName: string;
  assumed: boolean;
  /** Set when binding finished; the assumed pod expires after it. */
  deadline: number | null;
}

export interface CacheOptions {
  now?: () => number;
  /** How long an assumed pod whose binding finished may wait for the watch (ms); 0 = forever. */
  assumedPodTtlMs?: number;
}

export class SchedulerCache {
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly pods = new Map<string, PodState>();
  private readonly dirty = new Set<string>();
  private nodeSetChanged = true;
  private generation = 0;
  private readonly now: () => number;
  private readonly ttl: number;

  constructor(opts: CacheOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.ttl = opts.assumedPodTtlMs ?? 30_000;
  }

  private touch(name: string): NodeInfo {
    let ni = this.nodes.get(name);
    if (!ni) {
      ni = new NodeInfo(name);
      this.nodes.set(name, ni);
    }
    ni.generation = ++this.generation;
    this.dirty.add(name);
    return ni;
  }

  private dropIfEmpty(name: string): void {
    const ni = this.nodes.get(name);
    if (ni && !ni.node && ni.pods.length === 0) this.nodes.delete(name);
  }

  // ---- nodes ----

  addNode(node: SchedulerNode): void {
    const ni = this.touch(node.metadata.name!);
    if (!ni.node) this.nodeSetChanged = true;
    ni.setNode(node);
  }

  updateNode(node: SchedulerNode): void {
    this.addNode(node);
  }

  removeNode(name: string): void {
    const ni = this.nodes.get(name);
    if (!ni) return;
    this.touch(name);
    ni.node = null; // pods may still reference it until their deletion arrives
    this.nodeSetChanged = true;
    this.dropIfEmpty(name);
  }

  nodeCount(): number {
    let n = 0;
    for (const ni of this.nodes.values()) if (ni.node) n++;
    return n;
  }

  getNodeInfo(name: string): NodeInfo | undefined {
    return this.nodes.get(name);
  }

  // ---- pods ----

  private place(info: PodInfo, nodeName: string): void {
    this.touch(nodeName).addPod(info);
  }

  private unplace(id: string, nodeName: string): void {
    const ni = this.nodes.get(nodeName);
    if (!ni) return;
    this.touch(nodeName).removePod(id);
    this.dropIfEmpty(nodeName);
  }

  /** Reserve: count the pod (with spec.nodeName set) on its node before the bind is done. */
  assumePod(pod: SchedulerPod): void {
    const id = podId(pod);
    const nodeName = pod.spec.nodeName;
    if (!nodeName) throw new CacheError('POD_NO_NODE', `pod ${id} has no nodeName to assume`);
    if (this.pods.has(id)) throw new CacheError('POD_ALREADY_ASSUMED', `pod ${id} is already in the cache`);
    const info = podInfoOf(pod);
    this.pods.set(id, { info, nodeName, assumed: true, deadline: null });
    this.place(info, nodeName);
  }

  /** The bind call returned: start the expiry clock. */
  finishBinding(pod: SchedulerPod): void {
    const st = this.pods.get(podId(pod));
    if (st?.assumed) st.deadline = this.ttl > 0 ? this.now() + this.ttl : null;
  }

  /** Binding failed: take the assumed pod off its node. */
  forgetPod(pod: SchedulerPod): void {
    const id = podId(pod);
    const st = this.pods.get(id);
    if (!st) return;
    if (!st.assumed) throw new CacheError('POD_NOT_ASSUMED', `pod ${id} is bound, not assumed`);
    this.pods.delete(id);
    this.unplace(id, st.nodeName);
  }

  isAssumed(pod: SchedulerPod): boolean {
    return this.pods.get(podId(pod))?.assumed === true;
  }

  /** An assigned pod arrived through the watch: confirms an assumed pod or adds a new one. */
  addPod(pod: SchedulerPod): void {
    const id = podId(pod);
    const nodeName = pod.spec.nodeName;
    if (!nodeName) return;
    const st = this.pods.get(id);
    if (st) {
      // Confirmation (or a re-list): replace what we had with the server's object.
      this.unplace(id, st.nodeName);
    }
    const info = podInfoOf(pod);
    this.pods.set(id, { info, nodeName, assumed: false, deadline: null });
    this.place(info, nodeName);
  }

  updatePod(pod: SchedulerPod): void {
    this.addPod(pod);
  }

  removePod(pod: SchedulerPod): void {
    const id = podId(pod);
    const st = this.pods.get(id);
    if (!st) return;
    this.pods.delete(id);
    this.unplace(id, st.nodeName);
  }

  getPod(pod: SchedulerPod): SchedulerPod | undefined {
    return this.pods.get(podId(pod))?.info.pod;
  }

  podCount(): number {
    return this.pods.size;
  }

  /** Drops assumed pods whose binding finished more than the TTL ago; returns them. */
  cleanupExpiredAssumedPods(): SchedulerPod[] {
    const now = this.now();
    const expired: SchedulerPod[] = [];
    for (const [id, st] of this.pods) {
      if (st.assumed && st.deadline !== null && st.deadline <= now) {
        this.pods.delete(id);
        this.unplace(id, st.nodeName);
        expired.push(st.info.pod);
      }
    }
    return expired;
  }

  /** Brings a snapshot up to date, cloning only nodes changed since its last update. */
  updateSnapshot(snap: Snapshot): void {
    if (this.dirty.size === 0 && !this.nodeSetChanged && snap.generation === this.generation) return;
    if (this.nodeSetChanged || snap.generation === 0) {
      snap.byName.clear();
      snap.index.clear();
      snap.nodeList = [];
      for (const [name, ni] of this.nodes) {
        if (!ni.node) continue;
        const c = ni.clone();
        snap.byName.set(name, c);
        snap.index.set(name, snap.nodeList.length);
        snap.nodeList.push(c);
      }
      this.nodeSetChanged = false;
      snap.rebuildAffinityLists();
    } else {
      let affinityChanged = false;
      for (const name of this.dirty) {
        const ni = this.nodes.get(name);
        const i = snap.index.get(name);
        if (!ni || !ni.node || i === undefined) continue;
        const old = snap.nodeList[i]!;
        const c = ni.clone();
        snap.byName.set(name, c);
        snap.nodeList[i] = c;
        if (old.podsWithAffinity.length || c.podsWithAffinity.length) affinityChanged = true;
      }
      if (affinityChanged) snap.rebuildAffinityLists();
    }
    this.dirty.clear();
    snap.generation = this.generation;
  }
}

/** One cycle's consistent view of the cluster. */
export class Snapshot implements SnapshotLister {
  byName = new Map<string, NodeInfo>();
  /** name → position in nodeList. */
  index = new Map<string, number>();
  nodeList: NodeInfo[] = [];
  generation = 0;
  private withAffinity: NodeInfo[] = [];
  private withAntiAffinity: NodeInfo[] = [];

  rebuildAffinityLists(): void {
    this.withAffinity = [];
    this.withAntiAffinity = [];
    for (const ni of this.nodeList) {
      if (ni.podsWithAffinity.length) this.withAffinity.push(ni);
      if (ni.podsWithRequiredAntiAffinity.length) this.withAntiAffinity.push(ni);
    }
  }

  list(): readonly NodeInfo[] {
    return this.nodeList;
  }

  get(name: string): NodeInfo | undefined {
    return this.byName.get(name);
  }

  havePodsWithAffinity(): readonly NodeInfo[] {
    return this.withAffinity;
  }

  havePodsWithRequiredAntiAffinity(): readonly NodeInfo[] {
    return this.withAntiAffinity;
  }
}
