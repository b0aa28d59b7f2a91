/**
 * A PodCondition as kubelet and kube-scheduler write it: lastProbeTime is JSON null (how Go
 * marshals a zero metav1.Time), where the generated type has an optional string. The one
 * declaration for the node agent's and the scheduler's status writes.
 */
import type { PodCondition } from './types/generated.js';

export type WrittenPodCondition = Omit<PodCondition, 'lastProbeTime'> & { lastProbeTime?: string | null };
