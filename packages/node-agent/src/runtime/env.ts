// Container environment: env and envFrom with value, fieldRef, resourceFieldRef,
// configMapKeyRef and secretKeyRef, then $(VAR) expansion as Kubernetes does;
// the Services' variables (service_env.ts) come last.
import type { ConfigSource } from '../api_port.js';
import type { AgentConfigMap, Container, AgentPod, AgentSecret } from '../api_types.js';
import type { KeyValue } from '../cri/types.js';
import { ContainerStartError } from './errors.js';
import { bytes, milliCpu, parseQuantity } from './quantity.js';
import { isServiceListSource, serviceEnv, servicesForPod } from './service_env.js';

export interface EnvContext {
  config: ConfigSource;
  nodeName: string;
  hostIP: string;
  podIP: string;
  /** Node allocatable, for resourceFieldRef of a resource without a limit. */
  allocatable: { cpuMilli: number; memoryBytes: number };
}

const CONFIG_ERROR = 'CreateContainerConfigError';

function decodeB64(v: string): string {
  return Buffer.from(v, 'base64').toString('utf8');
}

function secretValues(s: AgentSecret): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = decodeB64(v);
  for (const [k, v] of Object.entries(s.stringData ?? {})) out[k] = v;
  return out;
}

function configMapValues(cm: AgentConfigMap): Record<string, string> {
  const out: Record<string, string> = { ...(cm.data ?? {}) };
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out[k] = decodeB64(v);
  return out;
}

/** Formats labels/annotations as the downward API does: key="value" lines, sorted. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n');
}

export function podFieldValue(pod: AgentPod, fieldPath: string, ctx: Pick<EnvContext, 'nodeName' | 'hostIP' | 'podIP'>): string {
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (sub) {
    const map = sub[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations;
    return map?.[sub[2]!] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'metadata.labels':
      return formatMap(pod.metadata.labels);
    case 'metadata.annotations':
      return formatMap(pod.metadata.annotations);
    case 'spec.nodeName':
      return pod.spec.nodeName ?? ctx.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return ctx.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return ctx.hostIP;
    default:
      throw new ContainerStartError(CONFIG_ERROR, `unsupported fieldPath: ${fieldPath}`);
  }
}

export function resourceFieldValue(
  pod: AgentPod,
  container: Container,
  ref: { containerName?: string; resource: string; divisor?: string },
  allocatable: EnvContext['allocatable'],
): string {
  const target = ref.containerName
    ? [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === ref.containerName)
    : container;
  if (!target) throw new ContainerStartError(CONFIG_ERROR, `container ${ref.containerName} not found for resourceFieldRef`);
  const [kind, res] = ref.resource.split('.') as ['limits' | 'requests', string];
  const limits = target.resources?.limits ?? {};
  const requests = { ...limits, ...(target.resources?.requests ?? {}) };
  const q = (kind === 'limits' ? limits : requests)[res];
  const divisor = parseQuantity(ref.divisor ?? '1') || 1;
  if (res === 'cpu') {
    const milli = q !== undefined ? milliCpu(q) : kind === 'limits' ? allocatable.cpuMilli : 0;
    return String(Math.ceil(milli / 1000 / divisor));
  }
  if (res === 'memory' || res === 'ephemeral-storage') {
    const b = q !== undefined ? bytes(q) : kind === 'limits' ? allocatable.memoryBytes : 0;
    return String(Math.ceil(b / divisor));
  }
  throw new ContainerStartError(CONFIG_ERROR, `unsupported resource: ${ref.resource}`);
}

/**
 * Expands $(VAR) references from `vars`; $$ escapes a $; unknown references
 * are left as written (Kubernetes' expansion semantics).
 */
export function expand(input: string, vars: Map<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const end = input.indexOf(')', i + 2);
      if (end < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, end);
      out += vars.has(name) ? vars.get(name)! : `$(${name})`;
      i = end;
    } else {
      out += ch;
    }
  }
  return out;
}

/** The container's environment, in order; throws ContainerStartError(CreateContainerConfigError). */
export async function resolveEnv(pod: AgentPod, container: Container, ctx: EnvContext): Promise<KeyValue[]> {
  const ns = pod.metadata.namespace ?? 'default';
  const vars = new Map<string, string>();
  const order: string[] = [];
  const defined = new Set<string>();
  const set = (k: string, v: string): void => {
    if (!defined.has(k)) order.push(k), defined.add(k);
    vars.set(k, v);
  };
  // Service variables (service_env.ts) can be referenced by $(VAR) and are appended after the
  // container's own variables unless it defines them itself, as kubelet does.
  const services = isServiceListSource(ctx.config) ? serviceEnv(servicesForPod(ctx.config.listServices(), ns, pod.spec.enableServiceLinks !== false)) : [];
  const serviceVars = new Map(services.map((kv) => [kv.key, kv.value]));
  for (const [k, v] of serviceVars) vars.set(k, v);
  const cmCache = new Map<string, AgentConfigMap | undefined>();
  const secretCache = new Map<string, AgentSecret | undefined>();
  const getCm = async (name: string): Promise<AgentConfigMap | undefined> => {
    if (!cmCache.has(name)) cmCache.set(name, await ctx.config.getConfigMap(ns, name));
    return cmCache.get(name);
  };
  const getSecret = async (name: string): Promise<AgentSecret | undefined> => {
    if (!secretCache.has(name)) secretCache.set(name, await ctx.config.getSecret(ns, name));
    return secretCache.get(name);
  };

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      const name = from.configMapRef.name ?? '';
      const cm = await getCm(name);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new ContainerStartError(CONFIG_ERROR, `configmap "${name}" not found`);
      }
      for (const [k, v] of Object.entries(configMapValues(cm))) set(prefix + k, v);
    } else if (from.secretRef) {
      const name = from.secretRef.name ?? '';
      const s = await getSecret(name);
      if (!s) {
        if (from.secretRef.optional) continue;
        throw new ContainerStartError(CONFIG_ERROR, `secret "${name}" not found`);
      }
      for (const [k, v] of Object.entries(secretValues(s))) set(prefix + k, v);
    }
  }

  for (const e of container.env ?? []) {
    const vf = e.valueFrom;
    if (!vf) {
      set(e.name, expand(e.value ?? '', vars));
    } else if (vf.fieldRef) {
      set(e.name, podFieldValue(pod, vf.fieldRef.fieldPath, ctx));
    } else if (vf.resourceFieldRef) {
      set(e.name, resourceFieldValue(pod, container, vf.resourceFieldRef, ctx.allocatable));
    } else if (vf.configMapKeyRef) {
      const { name = '', key, optional } = vf.configMapKeyRef;
      const cm = await getCm(name);
      if (!cm) {
        if (optional) continue;
        throw new ContainerStartError(CONFIG_ERROR, `configmap "${name}" not found`);
      }
      const values = configMapValues(cm);
      if (!(key in values)) {
        if (optional) continue;
        throw new ContainerStartError(CONFIG_ERROR, `couldn't find key ${key} in ConfigMap ${ns}/${name}`);
      }
      set(e.name, values[key]!);
    } else if (vf.secretKeyRef) {
      const { name = '', key, optional } = vf.secretKeyRef;
      const s = await getSecret(name);
      if (!s) {
        if (optional) continue;
        throw new ContainerStartError(CONFIG_ERROR, `secret "${name}" not found`);
      }
      const values = secretValues(s);
      if (!(key in values)) {
        if (optional) continue;
        throw new ContainerStartError(CONFIG_ERROR, `couldn't find key ${key} in Secret ${ns}/${name}`);
      }
      set(e.name, values[key]!);
    }
  }
  for (const { key, value } of services) if (!defined.has(key)) order.push(key), vars.set(key, value);
  return order.map((key) => ({ key, value: vars.get(key)! }));
}
