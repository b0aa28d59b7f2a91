import { Status, type EnqueueExtensions, type FilterPlugin } from '../framework/interface.js';
import type { NodeInfo, PodInfo } from '../node_info.js';

export const ERR_REASON_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports";

/** NodePorts: host ports must be free on the node. */
export class NodePorts implements FilterPlugin, EnqueueExtensions {
  readonly name = 'NodePorts';
  eventsToRegister() { return ['NodeAdd', 'AssignedPodDelete'] as const; }

  filter(_s: unknown, pod: PodInfo, node: NodeInfo): Status | null {
    if (pod.hostPorts.length === 0) return null;
    return node.hasPortConflict(pod) ? Status.unschedulable(ERR_REASON_NODE_PORTS) : null;
  }
}
