import { Status, type EnqueueExtensions, type FilterPlugin } from '../framework/interface.js';
import type { NodeInfo, PodInfo } from '../node_info.js';

export const ERR_REASON_NODE_NAME = "node(s) didn't match the requested node name";

/** NodeName: a pod that names a node fits only there. */
export class NodeName implements FilterPlugin, EnqueueExtensions {
  readonly name = 'NodeName';
  eventsToRegister() { return ['NodeAdd'] as const; }

  filter(_s: unknown, pod: PodInfo, node: NodeInfo): Status | null {
    const want = pod.pod.spec.nodeName;
    if (!want || want === node.name) return null;
    return Status.unresolvable(ERR_REASON_NODE_NAME);
  }
}
