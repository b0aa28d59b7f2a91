// The CRI PodSandboxConfig of a pod: identity labels, hostname, DNS, port
// mappings, cgroup parent, namespaces, log directory.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeepPartial, DNSConfig, PodSandboxConfig, PortMapping } from '../cri/types.js';
import type { AgentPod } from '../api_types.js';
import { MANAGED_BY_NODE, POD_NAME, POD_NAMESPACE, POD_UID } from './labels.js';
import { parseResolvConf, podDnsConfig, type DnsWarning } from './pod_dns.js';

export interface NodeContext {
  nodeName: string;
  nodeIP: string;
  /** Root of pod log dirs (kubelet: /var/log/pods). */
  podLogsDir: string;
  /** cgroupfs parent of this node's pods, e.g. "/mk-w1": pods get "<cgroupRoot>/pod<uid>". */
  cgroupRoot: string;
  /** Cluster DNS servers for dnsPolicy ClusterFirst; empty → the node's resolv.conf. */
  clusterDNS: string[];
  clusterDomain: string;
  /** The node's resolv.conf (dnsPolicy Default; "": none, lookups go to the node itself). */
  resolvConf: string;
  /** Told of the warnings kubelet records as events while forming a pod's resolv.conf (DNSConfigForming, MissingClusterDNS). */
  dnsWarning?: (pod: AgentPod, w: DnsWarning) => void;
}

export function podNamespace(pod: AgentPod): string {
  return pod.metadata.namespace ?? 'default';
}

/** /var/log/pods/<ns>_<name>_<uid> */
export function podLogDir(ctx: Pick<NodeContext, 'podLogsDir'>, pod: { namespace: string; name: string; uid: string }): string {
  return join(ctx.podLogsDir, `${pod.namespace}_${pod.name}_${pod.uid}`);
}

export function podCgroupParent(ctx: Pick<NodeContext, 'cgroupRoot'>, uid: string): string {
  return `${ctx.cgroupRoot.replace(/\/$/, '')}/pod${uid}`;
}

function readResolvConf(path: string): DNSConfig | undefined {
  if (!path) return undefined;
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch {
    return { servers: [], searches: [], options: [] };
  }
}

/**
 * kubelet's DNS configuration per dnsPolicy and dnsConfig (pod_dns.ts); null leaves it to the runtime
 * (the node's resolv.conf) when that is what the pod gets anyway. Warnings (limits cut, no cluster
 * DNS) go to ctx.dnsWarning, the pod's and node's events.
 */
export function dnsConfigFor(pod: AgentPod, ctx: NodeContext): DNSConfig | null {
  const { config, warnings } = podDnsConfig(pod, { clusterDNS: ctx.clusterDNS, clusterDomain: ctx.clusterDomain, host: readResolvConf(ctx.resolvConf) });
  for (const w of warnings) ctx.dnsWarning?.(pod, w);
  const policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
  const hostOnly = policy === 'Default' || (policy === 'ClusterFirst' && (pod.spec.hostNetwork || ctx.clusterDNS.length === 0));
  if (hostOnly && !pod.spec.dnsConfig && ctx.resolvConf && !warnings.some((w) => w.reason === 'DNSConfigForming')) return null;
  return config;
}

export function portMappings(pod: AgentPod): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      out.push({ protocol: (p.protocol ?? 'TCP') as PortMapping['protocol'], container_port: p.containerPort, host_port: p.hostPort, host_ip: p.hostIP ?? '' });
    }
  }
  return out;
}

export function namespaceOptions(pod: AgentPod): { network: 'POD' | 'NODE'; pid: 'POD' | 'CONTAINER' | 'NODE'; ipc: 'POD' | 'NODE' } {
  return {
    network: pod.spec.hostNetwork ? 'NODE' : 'POD',
    pid: pod.spec.hostPID ? 'NODE' : pod.spec.shareProcessNamespace ? 'POD' : 'CONTAINER',
    ipc: pod.spec.hostIPC ? 'NODE' : 'POD',
  };
}

export function identityLabels(pod: AgentPod, nodeName: string): Record<string, string> {
  return {
    [POD_NAME]: pod.metadata.name,
    [POD_NAMESPACE]: podNamespace(pod),
    [POD_UID]: pod.metadata.uid,
    [MANAGED_BY_NODE]: nodeName,
  };
}

export function buildSandboxConfig(pod: AgentPod, ctx: NodeContext, attempt: number): DeepPartial<PodSandboxConfig> {
  const ns = podNamespace(pod);
  const sc = pod.spec.securityContext ?? {};
  const allContainers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  const hostname = pod.spec.hostNetwork ? '' : (pod.spec.hostname ?? pod.metadata.name).slice(0, 63).replace(/[.-]+$/, '');
  const sysctls: Record<string, string> = {};
  for (const s of sc.sysctls ?? []) sysctls[s.name] = s.value;
  return {
    metadata: { name: pod.metadata.name, namespace: ns, uid: pod.metadata.uid, attempt },
    hostname,
    log_directory: podLogDir(ctx, { namespace: ns, name: pod.metadata.name, uid: pod.metadata.uid }),
    dns_config: dnsConfigFor(pod, ctx),
    port_mappings: portMappings(pod),
    labels: { ...(pod.metadata.labels ?? {}), ...identityLabels(pod, ctx.nodeName) },
    annotations: { ...(pod.metadata.annotations ?? {}) },
    linux: {
      cgroup_parent: podCgroupParent(ctx, pod.metadata.uid),
      sysctls,
      security_context: {
        namespace_options: namespaceOptions(pod),
        run_as_user: sc.runAsUser !== undefined ? { value: String(sc.runAsUser) } : null,
        run_as_group: sc.runAsGroup !== undefined ? { value: String(sc.runAsGroup) } : null,
        supplemental_groups: (sc.supplementalGroups ?? []).map(String),
        privileged: allContainers.some((c) => c.securityContext?.privileged === true),
      },
    },
  };
}
