/**
 * podFailurePolicy: the first rule (in order) matching a failed pod decides
 * what its failure means — FailJob, FailIndex, Ignore or Count — as
 * upstream's matchPodFailurePolicy, with upstream's messages for FailJob.
 */
import type { ContainerStatus, JobSpec, Pod } from '@mkube/api';

export type FailureAction = 'FailJob' | 'FailIndex' | 'Ignore' | 'Count';

export interface PolicyMatch {
  action: FailureAction;
  /** For FailJob: the message of the FailureTarget/Failed conditions. */
  message: string;
}

const exitCodes = (pod: Pod, containerName: string | undefined): Array<{ name: string; code: number }> => {
  const statuses: ContainerStatus[] = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const out: Array<{ name: string; code: number }> = [];
  for (const s of statuses) {
    if (containerName !== undefined && containerName !== '' && s.name !== containerName) continue;
    const code = s.state?.terminated?.exitCode;
    // Containers completed with success are excluded from the requirement check.
    if (code === undefined || code === null || code === 0) continue;
    out.push({ name: s.name, code });
  }
  return out;
};

/** The action of the first matching rule, or undefined (default handling: Count). Unknown actions are skipped. */
export function matchPodFailurePolicy(spec: JobSpec | undefined, pod: Pod): PolicyMatch | undefined {
  const rules = spec?.podFailurePolicy?.rules ?? [];
  const podRef = `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    const action = rule.action as FailureAction;
    if (!['FailJob', 'FailIndex', 'Ignore', 'Count'].includes(action)) continue;
    if (rule.onExitCodes) {
      const req = rule.onExitCodes;
      const values = new Set(req.values ?? []);
      for (const c of exitCodes(pod, req.containerName)) {
        const hit = req.operator === 'In' ? values.has(c.code) : req.operator === 'NotIn' ? !values.has(c.code) : false;
        if (hit) return { action, message: `Container ${c.name} for pod ${podRef} failed with exit code ${c.code} matching ${action} rule at index ${i}` };
      }
    } else if (rule.onPodConditions?.length) {
      for (const pattern of rule.onPodConditions) {
        const want = pattern.status || 'True';
        const cond = pod.status?.conditions?.find((c) => c.type === pattern.type && c.status === want);
        if (cond) return { action, message: `Pod ${podRef} has condition ${pattern.type} matching ${action} rule at index ${i}` };
      }
    }
  }
  return undefined;
}
