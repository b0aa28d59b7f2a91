/**
 * The Kubernetes types the scheduler works with, from @mkube/api's one
 * object model: pods and nodes as the API server serves them (metadata and
 * spec present), plus the scheduler's keys and defaults.
 */
import type {
  Node as ApiNode, NodeAffinity, NodeSpec, ObjectMeta, Pod as ApiPod, PodSpec,
} from '@mkube/api';

export type {
  Affinity, Container, ContainerPort, LabelSelector, LabelSelectorRequirement, NodeSelectorRequirement, NodeSelectorTerm,
  NodeSpec, NodeStatus, ObjectMeta, PodAffinityTerm, PodSpec, PodStatus, PriorityClass, Taint, Toleration,
  TopologySpreadConstraint, WeightedPodAffinityTerm, WrittenPodCondition,
} from '@mkube/api';

/** A pod as informers deliver it: metadata and spec are always there. */
export type SchedulerPod = ApiPod & { metadata: ObjectMeta; spec: PodSpec };
/** A node as informers deliver it. */
export type SchedulerNode = ApiNode & { metadata: ObjectMeta; spec?: NodeSpec };
export type NodeAffinitySpec = NodeAffinity;

/** Resource amounts by name (quantities as strings). */
export type ResourceList = Record<string, string>;

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

export function podKey(pod: SchedulerPod): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`;
}

/** The pod's identity in the cache: its uid, or namespace/name when it has none. */
export function podId(pod: SchedulerPod): string {
  return pod.metadata.uid ?? podKey(pod);
}

export function podPriority(pod: SchedulerPod): number {
  return pod.spec.priority ?? 0;
}
