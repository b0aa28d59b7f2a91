/**
 * KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) as mkube reads
 * it: the profiles (scheduler name, plugins per extension point, plugin
 * args), node sampling and queue backoff. Field names are upstream's.
 */
import type { ExtensionPoint } from '../framework/interface.js';

export const CONFIG_API_VERSION = 'kubescheduler.config.k8s.io/v1';
export const CONFIG_KIND = 'KubeSchedulerConfiguration';

export interface PluginRef {
  name: string;
  /** Score weight; 0 or absent means 1. */
  weight?: number;
}

export interface PluginSet {
  enabled?: PluginRef[];
  disabled?: PluginRef[];
}

/** Extension points plus multiPoint (a plugin enabled at every point it implements). */
export type PluginsConfig = { [P in ExtensionPoint | 'multiPoint' | 'queueSort' | 'preEnqueue']?: PluginSet };

export interface PluginConfig {
  name: string;
  /** Raw in the file; decoded, defaulted and validated against the plugin's args type at load. */
  args?: unknown;
}

export interface KubeSchedulerProfile {
  schedulerName: string;
  percentageOfNodesToScore?: number;
  plugins?: PluginsConfig;
  pluginConfig?: PluginConfig[];
}

export interface LeaderElectionConfiguration {
  leaderElect?: boolean;
  leaseDuration?: string;
  renewDeadline?: string;
  retryPeriod?: string;
  resourceLock?: string;
  resourceName?: string;
  resourceNamespace?: string;
}

export interface KubeSchedulerConfiguration {
  apiVersion: string;
  kind: string;
  parallelism: number;
  percentageOfNodesToScore?: number;
  podInitialBackoffSeconds: number;
  podMaxBackoffSeconds: number;
  leaderElection: LeaderElectionConfiguration;
  clientConnection: { kubeconfig?: string };
  profiles: KubeSchedulerProfile[];
}
