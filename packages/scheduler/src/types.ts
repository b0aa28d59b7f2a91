/**
 * The Kubernetes types the scheduler works with, from @mkube/api's one
 * object model: pods and nodes as the API server serves them (metadata and
 * spec present), plus the scheduler's keys and defaults.
 */
import type {
  Node as ApiNode, NodeAffinity, NodeSpec, ObjectMeta, Pod as ApiPod, PodCondition as ApiPodCondition, PodSpec,
} from '@mkube/api';

export type {
  Affinity, Container, ContainerPort, LabelSelector, LabelSelectorRequirement, NodeSelectorRequirement, NodeSelectorTerm,
  NodeSpec, NodeStatus, ObjectMeta, PodAffinityTerm, PodSpec, PodStatus, PriorityClass, Taint, Toleration,
  TopologySpreadConstraint, WeightedPodAffinityTerm,
} from '@mkube/api';

/** A pod as informers deliver it: metadata and spec are always there. */
export type Pod = ApiPod & { metadata: ObjectMeta; spec: PodSpec };
/** A node as informers deliver it. */
export type Node = ApiNode & { metadata: ObjectMeta; spec?: NodeSpec };
export type NodeAffinitySpec = NodeAffinity;
/** A condition as kube-scheduler writes it: lastProbeTime is JSON null. */
export type PodCondition = Omit<ApiPodCondition, 'lastProbeTime'> & { lastProbeTime?: string | null };

/** Resource amounts by name (quantities as strings). */
export type ResourceList = Record<string, string>;

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

export function podKey(pod: Pod): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`;
}

/** The pod's identity in the cache: its uid, or namespace/name when it has none. */
export function podId(pod: Pod): string {
  return pod.metadata.uid ?? podKey(pod);
}

export function podPriority(pod: Pod): number {
  return pod.spec.priority ?? 0;
}
