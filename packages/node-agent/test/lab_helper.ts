// Test helpers: CRI pod configs as the node agent builds them. The lab
// fixture (lab.sh up/down, run, cgroups, pids) and waitFor are @mkube/testing's,
// re-exported here for the node agent's tests.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DeepPartial, PodSandboxConfig, ContainerConfig } from '../src/cri/types.js';
import type { LabNode } from '@mkube/testing';

export { cgroupDirs, LAB_ROOT, LAB_SCRIPT, labDown, labUp, pidsMentioning, readIfExists, removeCgroup, REPO_ROOT, run, sleep, waitFor, type LabNode, type LabSummary, type RunResult } from '@mkube/testing';

export interface PodSpec {
  node: LabNode;
  name: string;
  uid: string;
  namespace?: string;
}

/** A sandbox config as the node agent will build it: own cgroup parent, own log dir. */
export function sandboxConfig(p: PodSpec): DeepPartial<PodSandboxConfig> {
  const ns = p.namespace ?? 'default';
  const logDir = join(p.node.logDir, `${ns}_${p.name}_${p.uid}`);
  return {
    metadata: { name: p.name, uid: p.uid, namespace: ns, attempt: 0 },
    hostname: p.name,
    log_directory: logDir,
    labels: { 'io.kubernetes.pod.name': p.name, 'io.kubernetes.pod.namespace': ns, 'io.kubernetes.pod.uid': p.uid },
    linux: {
      cgroup_parent: `${p.node.cgroupParent}/pod${p.uid}`,
      security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
}

/** Creates the pod log dir and the container's subdir, as kubelet does. */
export function prepareLogDir(sandbox: DeepPartial<PodSandboxConfig>, container: DeepPartial<ContainerConfig>): string {
  const path = join(sandbox.log_directory!, container.log_path!);
  mkdirSync(dirname(path), { recursive: true });
  return path;
}

export function busybox(name: string, script: string): DeepPartial<ContainerConfig> {
  return {
    metadata: { name, attempt: 0 },
    image: { image: 'docker.io/library/busybox:latest' },
    command: ['sh', '-c', script],
    log_path: `${name}/0.log`,
    labels: { 'io.kubernetes.container.name': name },
  };
}
