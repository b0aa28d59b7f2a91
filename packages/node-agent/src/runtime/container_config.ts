// The CRI ContainerConfig of one container of a pod.
import type { ContainerConfig, DeepPartial, KeyValue, LinuxContainerResources, Mount } from '../cri/types.js';
import type { Container, AgentPod } from '../api_types.js';
import { expand } from './env.js';
import { CONTAINER_KIND, CONTAINER_NAME, RESTART_COUNT, TERMINATION_GRACE } from './labels.js';
import { podQosClass } from './qos.js';
import { bytes, milliCpu } from './quantity.js';
import { identityLabels, namespaceOptions } from './sandbox_config.js';

export const CPU_PERIOD_US = 100_000;
const MIN_SHARES = 2;
const MAX_SHARES = 262_144;

/** kubelet's linux resources: cpu shares from the request, quota from the limit, memory limit, oom_score_adj by QoS. */
export function linuxResources(pod: AgentPod, c: Container, memoryCapacity: number): DeepPartial<LinuxContainerResources> {
  const limits = c.resources?.limits ?? {};
  const requests = { ...limits, ...(c.resources?.requests ?? {}) };
  const reqCpu = requests.cpu !== undefined ? milliCpu(requests.cpu) : 0;
  const shares = reqCpu === 0 ? MIN_SHARES : Math.min(MAX_SHARES, Math.max(MIN_SHARES, Math.floor((reqCpu * 1024) / 1000)));
  const out: DeepPartial<LinuxContainerResources> = { cpu_shares: String(shares) };
  if (limits.cpu !== undefined) {
    const quota = Math.max(1000, Math.floor((milliCpu(limits.cpu) * CPU_PERIOD_US) / 1000));
    out.cpu_period = String(CPU_PERIOD_US);
    out.cpu_quota = String(quota);
  }
  if (limits.memory !== undefined) out.memory_limit_in_bytes = String(bytes(limits.memory));
  const qos = podQosClass(pod);
  let oom: number;
  if (qos === 'Guaranteed') oom = -997;
  else if (qos === 'BestEffort') oom = 1000;
  else {
    const memReq = requests.memory !== undefined ? bytes(requests.memory) : 0;
    oom = Math.min(999, Math.max(2, 1000 - Math.floor((1000 * memReq) / Math.max(1, memoryCapacity))));
  }
  out.oom_score_adj = String(oom);
  return out;
}

export interface ContainerConfigInput {
  kind: 'init' | 'regular';
  restartCount: number;
  /** The image reference to run (the runtime's image id or the spec's name). */
  image: string;
  env: KeyValue[];
  mounts: DeepPartial<Mount>[];
  nodeName: string;
  memoryCapacity: number;
}

export function containerLogPath(name: string, restartCount: number): string {
  return `${name}/${restartCount}.log`;
}

export function buildContainerConfig(pod: AgentPod, c: Container, input: ContainerConfigInput): DeepPartial<ContainerConfig> {
  const vars = new Map(input.env.map((kv) => [kv.key, kv.value]));
  const psc = pod.spec.securityContext ?? {};
  const sc = c.securityContext ?? {};
  const runAsUser = sc.runAsUser ?? psc.runAsUser;
  const runAsGroup = sc.runAsGroup ?? psc.runAsGroup;
  return {
    metadata: { name: c.name, attempt: input.restartCount },
    image: { image: input.image, user_specified_image: c.image ?? '' },
    command: (c.command ?? []).map((s) => expand(s, vars)),
    args: (c.args ?? []).map((s) => expand(s, vars)),
    working_dir: c.workingDir ?? '',
    envs: input.env,
    mounts: input.mounts,
    labels: { ...identityLabels(pod, input.nodeName), [CONTAINER_NAME]: c.name },
    annotations: {
      [RESTART_COUNT]: String(input.restartCount),
      [CONTAINER_KIND]: input.kind,
      [TERMINATION_GRACE]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
    },
    log_path: containerLogPath(c.name, input.restartCount),
    stdin: c.stdin ?? false,
    stdin_once: c.stdinOnce ?? false,
    tty: c.tty ?? false,
    linux: {
      resources: linuxResources(pod, c, input.memoryCapacity),
      security_context: {
        namespace_options: namespaceOptions(pod),
        privileged: sc.privileged ?? false,
        readonly_rootfs: sc.readOnlyRootFilesystem ?? false,
        run_as_user: runAsUser !== undefined ? { value: String(runAsUser) } : null,
        run_as_group: runAsGroup !== undefined ? { value: String(runAsGroup) } : null,
        supplemental_groups: (psc.supplementalGroups ?? []).map(String),
        no_new_privs: sc.allowPrivilegeEscalation === false,
        capabilities: sc.capabilities
          ? { add_capabilities: sc.capabilities.add ?? [], drop_capabilities: sc.capabilities.drop ?? [] }
          : null,
      },
    },
  };
}
