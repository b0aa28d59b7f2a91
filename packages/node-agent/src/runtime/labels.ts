// Labels and annotations the agent puts on CRI sandboxes and containers: the
// names kubelet uses, so `crictl` and tools that know kubelet's layout work.

export const POD_NAME = 'io.kubernetes.pod.name';
export const POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const POD_UID = 'io.kubernetes.pod.uid';
export const CONTAINER_NAME = 'io.kubernetes.container.name';
/** Marks everything this agent created (value: the node name). */
export const MANAGED_BY_NODE = 'mkube.io/node';

/** Container annotations. */
export const RESTART_COUNT = 'io.kubernetes.container.restartCount';
export const CONTAINER_KIND = 'mkube.io/container-kind'; // "init" | "regular"
export const TERMINATION_GRACE = 'io.kubernetes.pod.terminationGracePeriod';
