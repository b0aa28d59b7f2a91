import { Status, type EnqueueExtensions, type FilterPlugin } from '../framework/interface.js';
import type { NodeInfo, PodInfo } from '../node_info.js';
import { tolerationsTolerateTaint } from '@mkube/api';

export const ERR_REASON_UNSCHEDULABLE = 'node(s) were unschedulable';
export const TAINT_NODE_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

/** NodeUnschedulable: cordoned nodes (spec.unschedulable) take only pods tolerating the unschedulable taint. */
export class NodeUnschedulable implements FilterPlugin, EnqueueExtensions {
  readonly name = 'NodeUnschedulable';
  eventsToRegister() { return ['NodeAdd', 'NodeUpdate'] as const; }

  filter(_s: unknown, pod: PodInfo, node: NodeInfo): Status | null {
    if (!node.node?.spec?.unschedulable) return null;
    const tolerated = tolerationsTolerateTaint(pod.pod.spec.tolerations, { key: TAINT_NODE_UNSCHEDULABLE, effect: 'NoSchedule' });
    return tolerated ? null : Status.unresolvable(ERR_REASON_UNSCHEDULABLE);
  }
}
