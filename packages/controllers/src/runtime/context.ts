/** What every controller gets from the manager. */
import type { KubeClient } from '@mkube/client';
import type { Logger } from 'pino';
import type { Clock } from '../util/time.js';
import type { Executor } from './executor.js';
import type { SharedInformers } from './informers.js';
import type { ControllerMetrics } from './metrics.js';

export interface ControllerConfig {
  nodeMonitorGracePeriodMs: number;
  defaultUnreachableTolerationSeconds: number;
  clusterCidr: string;
  nodeCidrMaskSize: number;
  reservedCidrs: string[];
  workers: number;
  /** The cluster CA (PEM) the root-ca-cert-publisher puts in every namespace's kube-root-ca.crt. */
  rootCaPem?: string;
  /** podgc: terminated pods kept before the oldest are deleted (--terminated-pod-gc-threshold, default 12500; 0 disables). */
  terminatedPodGcThreshold?: number;
  /** podgc's period and node quarantine (upstream's 20 s and 40 s when unset). */
  podGcPeriodMs?: number;
  podGcQuarantineMs?: number;
  /** csrsigning: --cluster-signing-cert-file / --cluster-signing-key-file (the cluster CA; unset: nothing is signed). */
  clusterSigningCertFile?: string;
  clusterSigningKeyFile?: string;
  /** csrsigning: --cluster-signing-duration in seconds, the longest lifetime issued (default 1 year). */
  clusterSigningDurationSeconds?: number;
}

export interface ControllerContext {
  client: KubeClient;
  informers: SharedInformers;
  executor: Executor;
  log: Logger;
  metrics: ControllerMetrics;
  clock: Clock;
  config: ControllerConfig;
}

export interface RunningController {
  readonly name: string;
  /** Called once the informers have synced. */
  start(): void;
  stop(): Promise<void>;
}
