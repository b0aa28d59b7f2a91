/**
 * What a plugin may use of the scheduler (upstream's framework.Handle): the
 * cycle's snapshot, its own profile's framework, the nominator, the API
 * actions preemption and binding need, and the pods waiting on Permit.
 */
import type { NamespaceLabels } from '../node_info.js';
import type { PreemptionHandle } from '../plugins/default_preemption.js';
import type { VolumeBindingDeps } from '../plugins/volume_binding.js';
import type { LabelSelector, SchedulerPod } from '../types.js';
import type { WaitingPod } from './waiting_pods.js';

export interface FrameworkHandle extends PreemptionHandle {
  readonly profileName: string;
  /** POST pods/<name>/binding. */
  bind(pod: SchedulerPod, nodeName: string): Promise<void>;
  /** Namespace labels, for pod (anti-)affinity terms with a namespaceSelector. */
  namespaceLabels?: NamespaceLabels;
  /** The selector of the Services/ReplicaSets/... selecting a pod, for PodTopologySpread's default constraints. */
  defaultSelector?(pod: SchedulerPod): LabelSelector | undefined;
  /** What VolumeBinding reads and writes of claims, volumes and classes. */
  volumes?: VolumeBindingDeps;
  /** A pod held by a Permit plugin, by pod id (uid). */
  getWaitingPod(id: string): WaitingPod | undefined;
  iterateOverWaitingPods(fn: (wp: WaitingPod) => void): void;
}

/** The parts of a handle the scheduler core supplies; the framework adds itself and its waiting pods. */
export type HandleDeps = Omit<FrameworkHandle, 'profileName' | 'framework' | 'getWaitingPod' | 'iterateOverWaitingPods'>;
