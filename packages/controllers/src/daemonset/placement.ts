/**
 * Where a DaemonSet's pods belong, after upstream's daemon/util and
 * NodeShouldRunDaemonPod: the template with the tolerations every daemon pod
 * gets (not-ready and unreachable NoExecute; disk-, memory-, pid-pressure and
 * unschedulable NoSchedule; network-unavailable for hostNetwork pods), the
 * node a pod is for (spec.nodeName or the required `metadata.name` field
 * term), the pod bound to one node by node affinity (the scheduler places
 * it), and whether a node should run (and may keep running) the pod:
 * nodeName, nodeSelector and required node affinity, and the node's
 * NoSchedule/NoExecute taints against the pod's tolerations.
 */
import {
  TAINT_EFFECT_NO_EXECUTE,
  TAINT_EFFECT_NO_SCHEDULE,
  findUntoleratedTaint,
  newControllerRef,
  resourceFor,
  type DaemonSet,
  type Node,
  type Pod,
  type PodSpec,
  type PodTemplateSpec,
  type Toleration,
} from '@mkube/api';
import { podMatchesNodeSelectorAndAffinity, type SchedulerPod, type SchedulerNode } from '@mkube/scheduler';
import { typedRef, type Named, type ResourceRef } from '../types.js';
import { CONTROLLER_REVISION_HASH_LABEL } from '../history/revision.js';

export const daemonSets: ResourceRef<DaemonSet> = typedRef<DaemonSet>(resourceFor('daemonsets', 'apps'));
export const DAEMON_SET_KIND = { apiVersion: 'apps/v1', kind: 'DaemonSet' } as const;
/** extensions.DaemonSetTemplateGenerationKey (pods) and the annotation the API server keeps it in. */
export const TEMPLATE_GENERATION_LABEL = 'pod-template-generation';
export const TEMPLATE_GENERATION_ANNOTATION = 'deprecated.daemonset.template.generation';

export type Ds = Named<DaemonSet>;

const exists = (key: string, effect: string): Toleration => ({ key, operator: 'Exists', effect });

/** AddOrUpdateDaemonPodTolerations. */
export function withDaemonTolerations(spec: PodSpec): PodSpec {
  const add: Toleration[] = [
    exists('node.kubernetes.io/not-ready', TAINT_EFFECT_NO_EXECUTE),
    exists('node.kubernetes.io/unreachable', TAINT_EFFECT_NO_EXECUTE),
    exists('node.kubernetes.io/disk-pressure', TAINT_EFFECT_NO_SCHEDULE),
    exists('node.kubernetes.io/memory-pressure', TAINT_EFFECT_NO_SCHEDULE),
    exists('node.kubernetes.io/pid-pressure', TAINT_EFFECT_NO_SCHEDULE),
    exists('node.kubernetes.io/unschedulable', TAINT_EFFECT_NO_SCHEDULE),
  ];
  if (spec.hostNetwork) add.push(exists('node.kubernetes.io/network-unavailable', TAINT_EFFECT_NO_SCHEDULE));
  const tolerations = [...(spec.tolerations ?? [])];
  for (const t of add) {
    // AddOrUpdateTolerationInPodSpec: a toleration of the same key, operator and effect is replaced.
    const i = tolerations.findIndex((x) => x.key === t.key && (x.operator ?? 'Equal') === t.operator && (x.effect ?? '') === t.effect);
    if (i >= 0) tolerations[i] = t;
    else tolerations.push(t);
  }
  return { ...spec, tolerations };
}

/** ReplaceDaemonSetPodNodeNameNodeAffinity: the required terms become the one `metadata.name In [node]` field term. */
export function bindToNode(spec: PodSpec, nodeName: string): PodSpec {
  const term = { matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] };
  const affinity = structuredClone(spec.affinity ?? {});
  affinity.nodeAffinity = { ...(affinity.nodeAffinity ?? {}), requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [term] } };
  return { ...spec, affinity };
}

/** GetTargetNodeName: spec.nodeName, else the node of the `metadata.name` field term. */
export function targetNodeName(pod: Pod): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  for (const term of pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []) {
    for (const f of term.matchFields ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
    }
  }
  return undefined;
}

/** CreatePodTemplate: tolerations, the revision hash label and (when the API server keeps one) the template generation. */
export function podTemplate(ds: Ds, template: PodTemplateSpec, hash: string): PodTemplateSpec {
  const t = structuredClone(template);
  const labels: Record<string, string> = { ...(t.metadata?.labels ?? {}), [CONTROLLER_REVISION_HASH_LABEL]: hash };
  const generation = ds.metadata.annotations?.[TEMPLATE_GENERATION_ANNOTATION];
  if (generation) labels[TEMPLATE_GENERATION_LABEL] = generation;
  return { ...t, metadata: { ...(t.metadata ?? {}), labels }, spec: withDaemonTolerations(t.spec ?? { containers: [] }) };
}

/** The pod for a node: generateName `<ds>-`, bound to the node by affinity, controlled by the set. */
export function newDaemonPod(ds: Ds, template: PodTemplateSpec, nodeName: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${ds.metadata.name}-`,
      namespace: ds.metadata.namespace,
      labels: { ...(template.metadata?.labels ?? {}) },
      ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ownerReferences: [newControllerRef(ds, DAEMON_SET_KIND)],
    },
    spec: bindToNode(template.spec ?? { containers: [] }, nodeName),
  };
}

/** NodeShouldRunDaemonPod: whether the node should run the pod, and whether a pod already there may stay. */
export function nodeShouldRunDaemonPod(node: Named<Node>, ds: Ds): { shouldRun: boolean; shouldContinueRunning: boolean } {
  const spec = withDaemonTolerations(structuredClone(ds.spec?.template?.spec ?? { containers: [] }));
  if (spec.nodeName && spec.nodeName !== node.metadata.name) return { shouldRun: false, shouldContinueRunning: false };
  const pod = { metadata: {}, spec } as SchedulerPod;
  if (!podMatchesNodeSelectorAndAffinity(pod, node as SchedulerNode)) return { shouldRun: false, shouldContinueRunning: false };
  const taints = node.spec?.taints;
  const blocking = findUntoleratedTaint(taints, spec.tolerations, (t) => t.effect === TAINT_EFFECT_NO_SCHEDULE || t.effect === TAINT_EFFECT_NO_EXECUTE);
  if (!blocking) return { shouldRun: true, shouldContinueRunning: true };
  const evicting = findUntoleratedTaint(taints, spec.tolerations, (t) => t.effect === TAINT_EFFECT_NO_EXECUTE);
  return { shouldRun: false, shouldContinueRunning: !evicting };
}
