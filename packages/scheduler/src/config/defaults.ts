/**
 * Upstream v1 defaulting of a KubeSchedulerConfiguration: the default
 * plugins (one multiPoint set with upstream's score weights) merged with a
 * profile's own plugin sets, and the top-level defaults.
 */
import { DEFAULT_SCHEDULER_NAME } from '../types.js';
import { CONFIG_API_VERSION, CONFIG_KIND, type KubeSchedulerConfiguration, type KubeSchedulerProfile, type PluginRef, type PluginSet, type PluginsConfig } from './types.js';

/** The default profile's plugins, in upstream's order (those mkube implements). */
export function defaultPluginsConfig(): PluginsConfig {
  return {
    multiPoint: {
      enabled: [
        { name: 'NodeUnschedulable' },
        { name: 'NodeName' },
        { name: 'TaintToleration', weight: 3 },
        { name: 'NodeAffinity', weight: 2 },
        { name: 'NodePorts' },
        { name: 'NodeResourcesFit', weight: 1 },
        { name: 'VolumeBinding' },
        { name: 'PodTopologySpread', weight: 2 },
        { name: 'InterPodAffinity', weight: 2 },
        { name: 'DefaultPreemption' },
        { name: 'NodeResourcesBalancedAllocation', weight: 1 },
        { name: 'ImageLocality', weight: 1 },
        { name: 'DefaultBinder' },
      ],
    },
  };
}

/**
 * A custom plugin set over a default one, as upstream's mergePluginSet:
 * disabled names (or '*') drop defaults, a re-enabled default is replaced in
 * place (keeping its position), other custom plugins are appended.
 */
export function mergePluginSet(def: PluginSet | undefined, custom: PluginSet | undefined): PluginSet {
  const disabled: PluginRef[] = [];
  const disabledNames = new Set<string>();
  for (const p of [...(custom?.disabled ?? []), ...(def?.disabled ?? [])]) {
    disabled.push({ name: p.name });
    disabledNames.add(p.name);
  }
  const customIndex = new Map<string, number>();
  (custom?.enabled ?? []).forEach((p, i) => customIndex.set(p.name, i));
  const replaced = new Set<number>();
  const enabled: PluginRef[] = [];
  if (!disabledNames.has('*')) {
    for (const p of def?.enabled ?? []) {
      if (disabledNames.has(p.name)) continue;
      const i = customIndex.get(p.name);
      if (i !== undefined) {
        enabled.push(custom!.enabled![i]!);
        replaced.add(i);
      } else {
        enabled.push(p);
      }
    }
  }
  (custom?.enabled ?? []).forEach((p, i) => {
    if (!replaced.has(i)) enabled.push(p);
  });
  const out: PluginSet = {};
  if (enabled.length) out.enabled = enabled;
  if (disabled.length) out.disabled = disabled;
  return out;
}

export function mergePlugins(def: PluginsConfig, custom: PluginsConfig | undefined): PluginsConfig {
  const out: PluginsConfig = {};
  const keys = new Set([...Object.keys(def), ...Object.keys(custom ?? {})]) as Set<keyof PluginsConfig>;
  for (const k of keys) out[k] = mergePluginSet(def[k], custom?.[k]);
  return out;
}

/** A profile with the default plugins merged in. */
export function defaultedProfile(p: KubeSchedulerProfile): KubeSchedulerProfile {
  return { ...p, plugins: mergePlugins(defaultPluginsConfig(), p.plugins), pluginConfig: p.pluginConfig ?? [] };
}

/** The configuration a scheduler runs without --config: one default profile. */
export function defaultConfiguration(schedulerName = DEFAULT_SCHEDULER_NAME): KubeSchedulerConfiguration {
  return {
    apiVersion: CONFIG_API_VERSION,
    kind: CONFIG_KIND,
    parallelism: 16,
    podInitialBackoffSeconds: 1,
    podMaxBackoffSeconds: 10,
    leaderElection: { leaderElect: true, resourceLock: 'leases', resourceName: 'kube-scheduler', resourceNamespace: 'kube-system' },
    clientConnection: {},
    profiles: [defaultedProfile({ schedulerName })],
  };
}
