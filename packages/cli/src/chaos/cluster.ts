/**
 * What the chaos suite needs from a cluster: its hosts, who leads the store and holds the
 * component leases, and the means to kill, pause, restart and partition a host's processes.
 * lab_cluster.ts implements it for a cluster `mkube up --control-planes N --workers M` built in
 * the network-namespace lab; remote_cluster.ts for hosts reached by a command (ssh to VMs), which runs
 * the same per-host operations (host_ops.ts) on each host through `mkube chaos-host`.
 */
import type { ClientConfig } from '@mkube/client';

export type HostRole = 'control-plane' | 'worker';

export interface ChaosHost {
  name: string;
  role: HostRole;
  /** The host's address on the lab network (what the other hosts reach it at). */
  address: string;
}

/** Components a fault may address on a host. */
export type ComponentKind = 'store' | 'apiserver' | 'scheduler' | 'controller-manager' | 'node-agent' | 'other';

export interface ChaosCluster {
  readonly hosts: ChaosHost[];
  /** The admin client configuration naming every API server. */
  readonly kubeconfig: ClientConfig;
  /** URLs from outside the cluster that reach `nodePort` on every worker. */
  nodePortUrls(nodePort: number): string[];
  /** The host whose store member is the Raft leader (undefined: no leader right now). */
  storeLeader(): Promise<string | undefined>;
  /** The host whose component holds the Lease kube-system/NAME (undefined: none or expired). */
  leaseHolder(lease: string): Promise<string | undefined>;
  /** Sends a signal to the host's processes of these kinds; returns how many got it. */
  signal(host: string, kinds: ComponentKind[], signal: NodeJS.Signals): Promise<number>;
  /** Starts again the host's processes of these kinds that are not running (same command lines). */
  restart(host: string, kinds: ComponentKind[]): Promise<void>;
  /** Drops every packet between the host and the other hosts (loopback stays). */
  isolate(host: string): Promise<void>;
  /** Removes what isolate() added. */
  rejoin(host: string): Promise<void>;
  /** Resolves when every store member and API server answers healthy; rejects after timeoutMs naming what is not. */
  waitHealthy(timeoutMs: number): Promise<void>;
  /** Removes every rule the suite added and resumes paused processes (called on exit, also after a failure). */
  cleanup(): Promise<void>;
}
