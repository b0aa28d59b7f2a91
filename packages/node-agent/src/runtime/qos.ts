// QoS class of a pod, as Kubernetes computes it (pkg/apis/core/v1/helper/qos).
import type { AgentPod } from '../api_types.js';
import { parseQuantity } from './quantity.js';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export function podQosClass(pod: AgentPod): QosClass {
  const requests = new Map<string, number>();
  const limits = new Map<string, number>();
  let zeroQuantity = true;
  let isGuaranteed = true;
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  for (const c of all) {
    // Requests default to limits (API defaulting), so apply that here too.
    const req = { ...(c.resources?.limits ?? {}), ...(c.resources?.requests ?? {}) };
    const lim = c.resources?.limits ?? {};
    for (const [name, q] of Object.entries(req)) {
      if (name !== 'cpu' && name !== 'memory') continue;
      const v = parseQuantity(q);
      if (v !== 0) {
        zeroQuantity = false;
        requests.set(name, (requests.get(name) ?? 0) + v);
      }
    }
    const cLimits = new Set<string>();
    for (const [name, q] of Object.entries(lim)) {
      if (name !== 'cpu' && name !== 'memory') continue;
      const v = parseQuantity(q);
      if (v !== 0) {
        zeroQuantity = false;
        cLimits.add(name);
        limits.set(name, (limits.get(name) ?? 0) + v);
      }
    }
    if (!cLimits.has('cpu') || !cLimits.has('memory')) isGuaranteed = false;
  }
  if (zeroQuantity) return 'BestEffort';
  if (isGuaranteed) {
    for (const [name, r] of requests) {
      if (limits.get(name) !== r) {
        isGuaranteed = false;
        break;
      }
    }
  }
  return isGuaranteed && limits.size === 2 ? 'Guaranteed' : 'Burstable';
}
