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

/**
 * When an injected fault took effect, taken on the host where it happened (just before the signal, once the
 * isolation rules were committed) and given in this process's performance.now() clock; with a remote host its wall
 * time is moved by the clock offset measured at the start, ± that estimate's uncertainty.
 */
export interface FaultTime {
  /** This process's performance.now() at the fault. */
  at: number;
  /** How far off `at` may be (0: taken in this process). */
  uncertaintyMs: number;
  /** The host's own wall-clock reading at the fault (remote hosts). */
  hostWallMs?: number;
  /** The injecting command's start and end in this process's clock (performance.now()). */
  command: { start: number; end: number };
}

/** A remote host's clock against this process's wall clock, from the round trip with the least delay (as NTP's clock filter). */
export interface ClockOffset {
  host: string;
  /** Host clock − local clock, ms. */
  offsetMs: number;
  /** Half the round trip of the sample used: the true offset is within offsetMs ± this. */
  uncertaintyMs: number;
  /** The round trips measured, ms. */
  rttMs: number[];
}

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
  /** Clock offsets of the hosts, when they are other machines (measured by measureClocks at the start). */
  readonly clockOffsets?: ClockOffset[];
  /** Sends a signal to the host's processes of these kinds; returns how many got it and when (undefined: none running). */
  signal(host: string, kinds: ComponentKind[], signal: NodeJS.Signals): Promise<{ signalled: number; at?: FaultTime }>;
  /** Starts again the host's processes of these kinds that are not running (same command lines). */
  restart(host: string, kinds: ComponentKind[]): Promise<void>;
  /** Drops every packet between the host and the other hosts (loopback stays); resolves when the rules took effect. */
  isolate(host: string): Promise<FaultTime>;
  /** Removes what isolate() added. */
  rejoin(host: string): Promise<void>;
  /** Resolves when every store member and API server answers healthy; rejects after timeoutMs naming what is not. */
  waitHealthy(timeoutMs: number): Promise<void>;
  /** Removes every rule the suite added and resumes paused processes (called on exit, also after a failure). */
  cleanup(): Promise<void>;
}
