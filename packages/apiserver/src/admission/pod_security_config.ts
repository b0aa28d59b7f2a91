/**
 * The PodSecurity plugin's configuration as kube-apiserver reads it from
 * `--admission-control-config-file`: an apiserver.config.k8s.io
 * AdmissionConfiguration whose `PodSecurity` plugin entry holds a
 * PodSecurityConfiguration inline (`configuration:`) or in a file (`path:`,
 * relative to the AdmissionConfiguration's directory). Defaults (levels and
 * versions for enforce/audit/warn) and exemptions (usernames, namespaces,
 * runtimeClasses). Without a file: everything privileged, nothing exempt,
 * as upstream.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_POLICY, policyToEvaluate, type Policy } from './pod_security.js';

export interface PodSecurityConfiguration {
  defaults: Policy;
  exemptions: { usernames: string[]; namespaces: string[]; runtimeClasses: string[] };
}

export const DEFAULT_POD_SECURITY_CONFIGURATION: PodSecurityConfiguration = {
  defaults: DEFAULT_POLICY,
  exemptions: { usernames: [], namespaces: [], runtimeClasses: [] },
};

const POD_SECURITY_CONFIG_VERSIONS = ['pod-security.admission.config.k8s.io/v1', 'pod-security.admission.config.k8s.io/v1beta1', 'pod-security.admission.config.k8s.io/v1alpha1'];

export class AdmissionConfigError extends Error {
  readonly code = 'EADMISSIONCONFIG';
  constructor(file: string, message: string) {
    super(`admission control config file ${file}: ${message}`);
    this.name = 'AdmissionConfigError';
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads the PodSecurity configuration from an AdmissionConfiguration file; the default one when it has no PodSecurity entry. */
export function loadPodSecurityConfiguration(file: string): PodSecurityConfiguration {
  const doc = readYaml(file);
  if (!isObj(doc) || doc.kind !== 'AdmissionConfiguration') throw new AdmissionConfigError(file, 'expected kind AdmissionConfiguration');
  const plugins = Array.isArray(doc.plugins) ? doc.plugins : [];
  const entry = plugins.find((p) => isObj(p) && p.name === 'PodSecurity');
  if (!isObj(entry)) return DEFAULT_POD_SECURITY_CONFIGURATION;
  let config: unknown = entry.configuration;
  let source = file;
  if (config === undefined && typeof entry.path === 'string') {
    source = isAbsolute(entry.path) ? entry.path : join(dirname(file), entry.path);
    config = readYaml(source);
  }
  if (config === undefined) return DEFAULT_POD_SECURITY_CONFIGURATION;
  return parsePodSecurityConfiguration(config, source);
}

/** A PodSecurityConfiguration object, validated as upstream does (levels, versions, string lists). */
export function parsePodSecurityConfiguration(config: unknown, source = 'PodSecurityConfiguration'): PodSecurityConfiguration {
  if (!isObj(config)) throw new AdmissionConfigError(source, 'PodSecurity configuration must be an object');
  if (config.kind !== 'PodSecurityConfiguration' || !POD_SECURITY_CONFIG_VERSIONS.includes(String(config.apiVersion))) {
    throw new AdmissionConfigError(source, `expected kind PodSecurityConfiguration in ${POD_SECURITY_CONFIG_VERSIONS.join(', ')}`);
  }
  const defaults = isObj(config.defaults) ? config.defaults : {};
  const labels: Record<string, string> = {};
  for (const mode of ['enforce', 'audit', 'warn']) {
    for (const key of [mode, `${mode}-version`]) {
      if (defaults[key] === undefined) continue;
      if (typeof defaults[key] !== 'string') throw new AdmissionConfigError(source, `defaults.${key} must be a string`);
      labels[`pod-security.kubernetes.io/${key}`] = defaults[key];
    }
  }
  const { policy, errors } = policyToEvaluate(labels);
  if (errors.length) {
    const first = errors[0]!;
    throw new AdmissionConfigError(source, `defaults.${first.field.replace(/^metadata\.labels\[pod-security\.kubernetes\.io\/(.*)\]$/, '$1')}: Invalid value: ${JSON.stringify(first.value)}: ${first.detail ?? ''}`);
  }
  const exemptions = isObj(config.exemptions) ? config.exemptions : {};
  const list = (k: string): string[] => {
    const v = exemptions[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) throw new AdmissionConfigError(source, `exemptions.${k} must be a list of non-empty strings`);
    return v as string[];
  };
  return { defaults: policy, exemptions: { usernames: list('usernames'), namespaces: list('namespaces'), runtimeClasses: list('runtimeClasses') } };
}

function readYaml(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AdmissionConfigError(file, (err as Error).message);
  }
  try {
    return parseYaml(text) as unknown;
  } catch (err) {
    throw new AdmissionConfigError(file, `not YAML or JSON: ${(err as Error).message}`);
  }
}
