/**
 * VolumeBinding (upstream's plugins/volumebinding with its SchedulerVolumeBinder):
 * PreFilter sorts a pod's claims into bound, unbound-immediate (unschedulable
 * until the PV controller binds them) and unbound-delayed (WaitForFirstConsumer);
 * Filter checks bound volumes' node affinity and finds, per node, a static
 * volume for each delayed claim or a class that can provision there; Reserve
 * keeps the chosen node's decisions; PreBind writes them (a volume's claimRef,
 * or the claim's volume.kubernetes.io/selected-node for its provisioner) and
 * waits until the PV controller reports every claim bound.
 */
import {
  ANN_BIND_COMPLETED,
  ANN_BOUND_BY_CONTROLLER,
  ANN_SELECTED_NODE,
  claimStorageClass,
  findMatchingVolume,
  isVolumeBoundToClaim,
  volumeBindingMode,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type StorageClass,
} from '@mkube/api';
import { Code, Status, type CycleState, type EnqueueExtensions, type FilterPlugin, type MaybeStatus, type PreBindPlugin, type PreFilterExtensions, type PreFilterPlugin, type ReservePlugin, type StateData } from '../framework/interface.js';
import type { NodeInfo, PodInfo } from '../node_info.js';
import { nodeSelectorTermsMatch } from '../selectors.js';
import type { SchedulerNode, SchedulerPod } from '../types.js';

export const ERR_REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind";
export const ERR_REASON_NODE_CONFLICT = 'node(s) had volume node affinity conflict';
export const ERR_REASON_NOT_ENOUGH_SPACE = 'node(s) did not have enough free storage';
export const ERR_REASON_PV_NOT_EXIST = 'node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)';
export const ERR_UNBOUND_IMMEDIATE = 'pod has unbound immediate PersistentVolumeClaims';
/** StorageClasses with this provisioner never provision (local static volumes). */
export const NO_PROVISIONER = 'kubernetes.io/no-provisioner';

type PV = PersistentVolume & { metadata: { name: string } };
type PVC = PersistentVolumeClaim & { metadata: { name: string } };

/** What VolumeBinding reads and writes of the cluster (informer caches and the API). */
export interface VolumeBindingDeps {
  claim(namespace: string, name: string): PVC | undefined;
  volumes(): PV[];
  storageClass(name: string): StorageClass | undefined;
  updateVolume(pv: PV): Promise<void>;
  /** Writes the claim; returns what the server stored (its resourceVersion), when known. */
  updateClaim(pvc: PVC): Promise<PVC | void>;
  /** How long PreBind waits for the PV controller (upstream's bindTimeoutSeconds, 600 s). */
  bindTimeoutMs?: number;
  /** Poll interval of the wait. */
  pollMs?: number;
}

interface NodeDecision {
  /** Claim key → the static volume chosen on this node. */
  staticBindings: Map<string, PV>;
  /** Claims the class' provisioner will provision on this node. */
  provisions: PVC[];
}

class VolumeState implements StateData {
  constructor(
    readonly bound: PVC[],
    readonly delayed: PVC[],
    readonly perNode = new Map<string, NodeDecision>(),
    public chosen: NodeDecision | undefined = undefined,
  ) {}
  clone(): StateData {
    return this; // Filter writes per node only; preemption's what-if runs see the same decisions
  }
}

const STATE_KEY = 'PreFilterVolumeBinding';
const key = (pvc: PVC) => `${pvc.metadata.namespace}/${pvc.metadata.name}`;

export function podClaimNames(pod: SchedulerPod): string[] {
  return (pod.spec.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim?.claimName ? [v.persistentVolumeClaim.claimName] : []));
}

/** The volume's required node affinity admits the node (no affinity admits every node). */
export function volumeFitsNode(pv: PersistentVolume, node: SchedulerNode): boolean {
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
  if (!terms) return true;
  return nodeSelectorTermsMatch(terms, node);
}

function claimFullyBound(pvc: PVC | undefined, pv: PV | undefined): boolean {
  if (!pvc || !pv) return false;
  return pvc.spec?.volumeName === pv.metadata.name && pvc.metadata.annotations?.[ANN_BIND_COMPLETED] !== undefined && isVolumeBoundToClaim(pv, pvc);
}

export class VolumeBinding implements PreFilterPlugin, FilterPlugin, ReservePlugin, PreBindPlugin, EnqueueExtensions {
  readonly name = 'VolumeBinding';
  constructor(private readonly deps: VolumeBindingDeps | undefined) {}

  eventsToRegister() { return ['NodeAdd', 'NodeUpdate', 'PersistentVolumeClaimAddOrUpdate', 'PersistentVolumeAddOrUpdate', 'StorageClassAdd'] as const; }
  preFilterExtensions(): PreFilterExtensions | null { return null; }

  preFilter(state: CycleState, pod: PodInfo): MaybeStatus {
    const names = podClaimNames(pod.pod);
    if (names.length === 0 || !this.deps) return new Status(Code.Skip);
    const ns = pod.pod.metadata.namespace ?? 'default';
    const bound: PVC[] = [];
    const delayed: PVC[] = [];
    const immediate: PVC[] = [];
    for (const name of names) {
      const pvc = this.deps.claim(ns, name);
      if (!pvc) return Status.unresolvable(`persistentvolumeclaim "${name}" not found`);
      if (pvc.metadata.deletionTimestamp) return Status.unresolvable(`persistentvolumeclaim "${name}" is being deleted`);
      if (pvc.spec?.volumeName) bound.push(pvc);
      else if (volumeBindingMode(this.deps.storageClass(claimStorageClass(pvc))) === 'WaitForFirstConsumer') delayed.push(pvc);
      else immediate.push(pvc);
    }
    if (immediate.length > 0) return Status.unresolvable(ERR_UNBOUND_IMMEDIATE);
    state.write(STATE_KEY, new VolumeState(bound, delayed));
    return null;
  }

  filter(state: CycleState, _pod: PodInfo, nodeInfo: NodeInfo): MaybeStatus {
    const st = state.read<VolumeState>(STATE_KEY);
    if (!st || !this.deps || !nodeInfo.node) return null;
    const node = nodeInfo.node;
    const volumes = this.deps.volumes();
    const byName = new Map(volumes.map((v) => [v.metadata.name, v]));
    for (const pvc of st.bound) {
      const pv = byName.get(pvc.spec?.volumeName ?? '');
      if (!pv) return Status.unresolvable(ERR_REASON_PV_NOT_EXIST);
      if (!volumeFitsNode(pv, node)) return Status.unresolvable(ERR_REASON_NODE_CONFLICT);
    }
    const decision: NodeDecision = { staticBindings: new Map(), provisions: [] };
    const taken = new Set<string>();
    const reasons = new Set<string>();
    for (const pvc of st.delayed) {
      const selected = pvc.metadata.annotations?.[ANN_SELECTED_NODE];
      if (selected && selected !== nodeInfo.name) {
        // Provisioning for another node is under way: this claim's volume will live there.
        reasons.add(ERR_REASON_NODE_CONFLICT);
        continue;
      }
      const pv = findMatchingVolume(pvc, volumes, { delayBinding: true, excluded: taken, fitsNode: (v) => volumeFitsNode(v, node) });
      if (pv) {
        taken.add(pv.metadata.name);
        decision.staticBindings.set(key(pvc), pv);
        continue;
      }
      const cls = this.deps.storageClass(claimStorageClass(pvc));
      if (!cls || !cls.provisioner || cls.provisioner === NO_PROVISIONER || !classAllowsNode(cls, node)) {
        reasons.add(ERR_REASON_BIND_CONFLICT);
        continue;
      }
      decision.provisions.push(pvc);
    }
    if (reasons.size > 0) return Status.unresolvable(...reasons);
    st.perNode.set(nodeInfo.name, decision);
    return null;
  }

  reserve(state: CycleState, _pod: PodInfo, nodeName: string): MaybeStatus {
    const st = state.read<VolumeState>(STATE_KEY);
    if (!st) return null;
    st.chosen = st.perNode.get(nodeName) ?? { staticBindings: new Map(), provisions: [] };
    return null;
  }

  unreserve(state: CycleState): void {
    const st = state.read<VolumeState>(STATE_KEY);
    if (st) st.chosen = undefined;
  }

  async preBind(state: CycleState, pod: SchedulerPod, nodeName: string): Promise<MaybeStatus> {
    const st = state.read<VolumeState>(STATE_KEY);
    const deps = this.deps;
    if (!st || !deps || st.delayed.length === 0) return null;
    const chosen = st.chosen ?? { staticBindings: new Map(), provisions: [] };
    // The resourceVersion of our own selected-node write per claim: until the informer has seen it,
    // a claim without the annotation is our write not yet observed, not a provisioner's reset.
    const written = new Map<string, number>();
    try {
      for (const [claimKey, pv] of chosen.staticBindings) {
        const pvc = st.delayed.find((c) => key(c) === claimKey)!;
        const cur = deps.volumes().find((v) => v.metadata.name === pv.metadata.name) ?? pv;
        if (isVolumeBoundToClaim(cur, pvc)) continue;
        const next: PV = structuredClone(cur);
        next.spec = {
          ...next.spec,
          claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid, resourceVersion: pvc.metadata.resourceVersion },
        };
        next.metadata.annotations = { ...(next.metadata.annotations ?? {}), [ANN_BOUND_BY_CONTROLLER]: 'yes' };
        await deps.updateVolume(next);
      }
      for (const pvc of chosen.provisions) {
        const cur = deps.claim(pvc.metadata.namespace ?? 'default', pvc.metadata.name) ?? pvc;
        if (cur.metadata.annotations?.[ANN_SELECTED_NODE] === nodeName) continue;
        const next: PVC = structuredClone(cur);
        next.metadata.annotations = { ...(next.metadata.annotations ?? {}), [ANN_SELECTED_NODE]: nodeName };
        const stored = await deps.updateClaim(next);
        written.set(pvc.metadata.name, Number(stored?.metadata.resourceVersion ?? 0));
      }
    } catch (err) {
      return Status.error(`binding volumes: ${(err as Error).message}`);
    }
    // Wait for the PV controller (and provisioners) to bind the claims this pod's scheduling bound.
    const ns = pod.metadata.namespace ?? 'default';
    const names = st.delayed.map((c) => c.metadata.name);
    const deadline = Date.now() + (deps.bindTimeoutMs ?? 600_000);
    for (;;) {
      const byName = new Map(deps.volumes().map((v) => [v.metadata.name, v]));
      const pending = names.filter((n) => {
        const pvc = deps.claim(ns, n);
        return !claimFullyBound(pvc, byName.get(pvc?.spec?.volumeName ?? ''));
      });
      if (pending.length === 0) return null;
      for (const n of pending) {
        const pvc = deps.claim(ns, n);
        // The provisioner gave up on the node (removed selected-node): schedule again.
        const seenOurWrite = Number(pvc?.metadata.resourceVersion ?? 0) >= (written.get(n) ?? 0);
        if (chosen.provisions.some((p) => p.metadata.name === n) && pvc && seenOurWrite && !pvc.metadata.annotations?.[ANN_SELECTED_NODE]) {
          return Status.error(`binding volumes: selectedNode annotation reset for PVC "${n}"`);
        }
      }
      if (Date.now() > deadline) return Status.error('binding volumes: context deadline exceeded');
      await new Promise((r) => setTimeout(r, deps.pollMs ?? 100));
    }
  }
}

/** allowedTopologies of the class admit the node (none: every node). */
function classAllowsNode(cls: StorageClass, node: SchedulerNode): boolean {
  const terms = cls.allowedTopologies ?? [];
  if (terms.length === 0) return true;
  const labels = node.metadata.labels ?? {};
  return terms.some((t) => (t.matchLabelExpressions ?? []).every((r) => r.key !== undefined && (r.values ?? []).includes(labels[r.key] ?? '')));
}
