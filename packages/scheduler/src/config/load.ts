/**
 * Reads a KubeSchedulerConfiguration (--config FILE): YAML or JSON decoded
 * strictly, upstream's v1 defaults applied (one default profile, default
 * plugins merged into each profile, plugin args defaulted), validated as
 * upstream's ValidateKubeSchedulerConfiguration plus the checks mkube can
 * make up front (plugin names against the registry, every profile's
 * framework built once). Every problem names its field.
 */
import { readFileSync } from 'node:fs';
import { parseGoDuration } from '@mkube/component-base';
import { parse as parseYaml } from 'yaml';
import { Framework, FrameworkError } from '../framework/framework.js';
import type { HandleDeps } from '../framework/handle.js';
import type { Registry } from '../framework/registry.js';
import { DEFAULT_SCHEDULER_NAME } from '../types.js';
import { Decoder } from './decode.js';
import { defaultConfiguration, defaultedProfile } from './defaults.js';
import { ConfigError, duplicate, FieldError, forbidden, invalid, notFound, notSupported, other, required } from './field_errors.js';
import {
  CONFIG_API_VERSION, CONFIG_KIND, type KubeSchedulerConfiguration, type KubeSchedulerProfile, type PluginConfig,
  type PluginRef, type PluginSet, type PluginsConfig,
} from './types.js';

/** A loaded configuration and each profile's decoded plugin args (profile name → plugin → args). */
export interface SchedulerConfig {
  config: KubeSchedulerConfiguration;
  args: Map<string, Map<string, unknown>>;
}

const PLUGIN_SET_KEYS: readonly (keyof PluginsConfig)[] = [
  'preEnqueue', 'queueSort', 'preFilter', 'filter', 'postFilter', 'preScore', 'score', 'reserve', 'permit', 'preBind', 'bind', 'postBind', 'multiPoint',
];

/** Built into the queue and the core rather than plugins: only upstream's default may be named. */
const FIXED_POINTS: Partial<Record<keyof PluginsConfig, string>> = { queueSort: 'PrioritySort', preEnqueue: 'SchedulingGates' };

function pluginRefs(d: Decoder, v: unknown, path: string): PluginRef[] | undefined {
  const a = d.array(v, path);
  if (!a) return undefined;
  return a.map((x, i) => {
    const o = d.object(x, `${path}[${i}]`, ['name', 'weight']) ?? {};
    const name = d.str(o.name, `${path}[${i}].name`) ?? '';
    const weight = d.int(o.weight, `${path}[${i}].weight`);
    return weight === undefined ? { name } : { name, weight };
  });
}

function decodePlugins(d: Decoder, v: unknown, path: string, registry: Registry): PluginsConfig | undefined {
  const o = d.object(v, path, PLUGIN_SET_KEYS as string[]);
  if (!o) return undefined;
  const out: PluginsConfig = {};
  for (const key of PLUGIN_SET_KEYS) {
    const sp = `${path}.${key}`;
    const so = d.object(o[key], sp, ['enabled', 'disabled']);
    if (!so) continue;
    const set: PluginSet = {};
    const enabled = pluginRefs(d, so.enabled, `${sp}.enabled`);
    const disabled = pluginRefs(d, so.disabled, `${sp}.disabled`);
    if (enabled) set.enabled = enabled;
    if (disabled) set.disabled = disabled;
    const fixed = FIXED_POINTS[key];
    enabled?.forEach((p, i) => {
      if (!p.name) d.errs.push(required(`${sp}.enabled[${i}].name`));
      else if (fixed ? p.name !== fixed : !registry.has(p.name)) d.errs.push(fixed ? notSupported(`${sp}.enabled[${i}].name`, p.name, [fixed]) : notFound(`${sp}.enabled[${i}].name`, p.name, 'no plugin of this name is registered'));
    });
    disabled?.forEach((p, i) => {
      if (!p.name) d.errs.push(required(`${sp}.disabled[${i}].name`));
      else if (p.name !== '*' && !fixed && !registry.has(p.name)) d.errs.push(notFound(`${sp}.disabled[${i}].name`, p.name, 'no plugin of this name is registered'));
    });
    if (fixed && (disabled?.length ?? 0) > 0 && !(enabled?.some((p) => p.name === fixed))) {
      d.errs.push(forbidden(`${sp}.disabled`, `${fixed} is built into mkube-scheduler and cannot be disabled`));
    }
    out[key] = set;
  }
  return out;
}

function percentage(d: Decoder, v: unknown, path: string): number | undefined {
  const n = d.int(v, path);
  if (n !== undefined && (n < 0 || n > 100)) d.errs.push(invalid(path, n, 'not in valid range [0-100]'));
  return n;
}

function decodeProfile(d: Decoder, v: unknown, path: string, registry: Registry, args: Map<string, unknown>): KubeSchedulerProfile {
  const o = d.object(v, path, ['schedulerName', 'percentageOfNodesToScore', 'plugins', 'pluginConfig']) ?? {};
  const profile: KubeSchedulerProfile = { schedulerName: d.str(o.schedulerName, `${path}.schedulerName`) ?? '' };
  const pct = percentage(d, o.percentageOfNodesToScore, `${path}.percentageOfNodesToScore`);
  if (pct !== undefined) profile.percentageOfNodesToScore = pct;
  const plugins = decodePlugins(d, o.plugins, `${path}.plugins`, registry);
  if (plugins) profile.plugins = plugins;
  const pcs: PluginConfig[] = [];
  const seen = new Set<string>();
  (d.array(o.pluginConfig, `${path}.pluginConfig`) ?? []).forEach((x, i) => {
    const pp = `${path}.pluginConfig[${i}]`;
    const pc = d.object(x, pp, ['name', 'args']) ?? {};
    const name = d.str(pc.name, `${pp}.name`) ?? '';
    pcs.push({ name, args: pc.args });
    if (!name) return void d.errs.push(required(`${pp}.name`));
    if (seen.has(name)) return void d.errs.push(duplicate(pp, name));
    seen.add(name);
    const entry = registry.get(name);
    if (!entry) return void d.errs.push(notFound(`${pp}.name`, name, 'no plugin of this name is registered'));
    args.set(name, entry.decodeArgs(pc.args, `${pp}.args`, d.errs));
  });
  profile.pluginConfig = pcs;
  return profile;
}

/** A handle whose every use throws: factories may keep it but not call it while the profile is checked. */
function inertHandleDeps(): HandleDeps {
  const fail = (): never => {
    throw new Error('the scheduler is not running');
  };
  return { snapshot: fail, nominatedPodsForNode: fail, evict: fail, clearNomination: fail, bind: fail };
}

/** Decodes, defaults and validates a configuration document; throws ConfigError naming every bad field. */
export function parseSchedulerConfig(text: string, registry: Registry): SchedulerConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([other('', `couldn't decode as KubeSchedulerConfiguration: ${(err as Error).message.split('\n')[0]}`)]);
  }
  const errs: FieldError[] = [];
  const d = new Decoder(errs);
  const o = d.object(doc ?? {}, '', [
    'apiVersion', 'kind', 'parallelism', 'percentageOfNodesToScore', 'podInitialBackoffSeconds', 'podMaxBackoffSeconds',
    'leaderElection', 'clientConnection', 'profiles', 'extenders', 'enableProfiling', 'enableContentionProfiling', 'delayCacheUntilActive',
  ]) ?? {};
  const apiVersion = d.str(o.apiVersion, 'apiVersion') ?? '';
  const kind = d.str(o.kind, 'kind') ?? '';
  if (!apiVersion) errs.push(required('apiVersion'));
  else if (apiVersion !== CONFIG_API_VERSION) errs.push(notSupported('apiVersion', apiVersion, [CONFIG_API_VERSION]));
  if (!kind) errs.push(required('kind'));
  else if (kind !== CONFIG_KIND) errs.push(notSupported('kind', kind, [CONFIG_KIND]));
  if (errs.length) throw new ConfigError(errs);

  const cfg = defaultConfiguration();
  cfg.parallelism = d.int(o.parallelism, 'parallelism') ?? cfg.parallelism;
  const pct = percentage(d, o.percentageOfNodesToScore, 'percentageOfNodesToScore');
  if (pct !== undefined) cfg.percentageOfNodesToScore = pct;
  cfg.podInitialBackoffSeconds = d.int(o.podInitialBackoffSeconds, 'podInitialBackoffSeconds', true) ?? cfg.podInitialBackoffSeconds;
  cfg.podMaxBackoffSeconds = d.int(o.podMaxBackoffSeconds, 'podMaxBackoffSeconds', true) ?? cfg.podMaxBackoffSeconds;
  for (const b of ['enableProfiling', 'enableContentionProfiling', 'delayCacheUntilActive'] as const) d.bool(o[b], b);
  const le = d.object(o.leaderElection, 'leaderElection', ['leaderElect', 'leaseDuration', 'renewDeadline', 'retryPeriod', 'resourceLock', 'resourceName', 'resourceNamespace']);
  if (le) {
    const L = cfg.leaderElection;
    L.leaderElect = d.bool(le.leaderElect, 'leaderElection.leaderElect') ?? L.leaderElect;
    for (const k of ['leaseDuration', 'renewDeadline', 'retryPeriod', 'resourceLock', 'resourceName', 'resourceNamespace'] as const) {
      const v = d.str(le[k], `leaderElection.${k}`);
      if (v !== undefined) L[k] = v;
    }
    for (const k of ['leaseDuration', 'renewDeadline', 'retryPeriod'] as const) {
      const v = L[k];
      if (v === undefined) continue;
      try {
        if (parseGoDuration(v) <= 0) errs.push(invalid(`leaderElection.${k}`, v, 'must be greater than zero'));
      } catch (err) {
        errs.push(invalid(`leaderElection.${k}`, v, (err as Error).message));
      }
    }
  }
  const cc = d.object(o.clientConnection, 'clientConnection', ['kubeconfig', 'acceptContentTypes', 'contentType', 'qps', 'burst']);
  if (cc) {
    const kc = d.str(cc.kubeconfig, 'clientConnection.kubeconfig');
    if (kc) cfg.clientConnection.kubeconfig = kc;
  }
  if ((d.array(o.extenders, 'extenders') ?? []).length > 0) errs.push(forbidden('extenders', 'scheduler extenders are not supported by mkube-scheduler'));

  const args = new Map<string, Map<string, unknown>>();
  const rawProfiles = d.array(o.profiles, 'profiles') ?? [];
  const profiles = (rawProfiles.length ? rawProfiles : [{}]).map((p, i) => {
    const a = new Map<string, unknown>();
    const prof = decodeProfile(d, p, `profiles[${i}]`, registry, a);
    // As v1 defaulting: a single profile without a name is the default scheduler.
    if (!prof.schedulerName && rawProfiles.length <= 1 && (p as { schedulerName?: unknown }).schedulerName === undefined) prof.schedulerName = DEFAULT_SCHEDULER_NAME;
    return { prof, a };
  });
  cfg.profiles = profiles.map(({ prof }) => defaultedProfile(prof));

  // ValidateKubeSchedulerConfiguration.
  if (cfg.leaderElection.leaderElect && cfg.leaderElection.resourceLock !== 'leases') {
    errs.push(invalid('leaderElection.resourceLock', cfg.leaderElection.resourceLock, 'resourceLock value must be "leases"'));
  }
  if (cfg.parallelism <= 0) errs.push(invalid('parallelism', cfg.parallelism, 'should be an integer value greater than zero'));
  const byName = new Map<string, number>();
  cfg.profiles.forEach((p, i) => {
    if (!p.schedulerName) errs.push(required(`profiles[${i}].schedulerName`));
    const prev = byName.get(p.schedulerName);
    if (prev !== undefined) errs.push(duplicate(`profiles[${i}].schedulerName`, `profiles[${prev}].schedulerName`));
    byName.set(p.schedulerName, i);
  });
  if (cfg.podInitialBackoffSeconds <= 0) errs.push(invalid('podInitialBackoffSeconds', cfg.podInitialBackoffSeconds, 'must be greater than 0'));
  if (cfg.podMaxBackoffSeconds < cfg.podInitialBackoffSeconds) {
    errs.push(invalid('podMaxBackoffSeconds', cfg.podMaxBackoffSeconds, 'must be greater than or equal to PodInitialBackoffSeconds'));
  }
  if (errs.length) throw new ConfigError(errs);

  // Build each profile's framework once (not started): extension-point mismatches, duplicate or missing binders, weights.
  cfg.profiles.forEach((p, i) => {
    const a = profiles[i]!.a;
    args.set(p.schedulerName, a);
    try {
      new Framework(registry, p, inertHandleDeps(), a);
    } catch (err) {
      if (!(err instanceof FrameworkError)) throw err;
      errs.push(other(`profiles[${i}].plugins`, `creating profile for scheduler name ${p.schedulerName}: ${err.message}`));
    }
  });
  if (errs.length) throw new ConfigError(errs);
  return { config: cfg, args };
}

/** Reads and parses --config FILE (read errors carry the path and the system error code). */
export function loadSchedulerConfig(path: string, registry: Registry): SchedulerConfig {
  return parseSchedulerConfig(readFileSync(path, 'utf8'), registry);
}
