/** Defaulting of the supported fields, as Kubernetes' SetDefaults_* functions do it. */
import type { JsonObject } from '@mkube/api';
import { defaultStorage } from './storage_validation.js';
import { defaultHorizontalPodAutoscaler } from './hpa_validation.js';
import { defaultNetworkPolicy } from './netpol_validation.js';

type Obj = JsonObject;
const obj = (parent: Obj, key: string): Obj => {
  const v = parent[key];
  if (v && typeof v === 'object' && !Array.isArray(v)) return v as Obj;
  const fresh: Obj = {};
  parent[key] = fresh;
  return fresh;
};
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
function dflt(o: Obj, key: string, value: JsonObject[string]): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

export function imagePullPolicyFor(image: string): string {
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  if (lastSegment.includes('@')) return 'IfNotPresent';
  const colon = lastSegment.indexOf(':');
  if (colon < 0) return 'Always';
  return lastSegment.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainer(c: Obj): void {
  if (typeof c.image === 'string') dflt(c, 'imagePullPolicy', imagePullPolicyFor(c.image));
  dflt(c, 'terminationMessagePath', '/dev/termination-log');
  dflt(c, 'terminationMessagePolicy', 'File');
  for (const p of arr(c.ports)) dflt(p, 'protocol', 'TCP');
  for (const e of arr(c.env)) {
    const from = e.valueFrom as Obj | undefined;
    if (from?.fieldRef) dflt(from.fieldRef as Obj, 'apiVersion', 'v1');
  }
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const p = c[probe] as Obj | undefined;
    if (!p) continue;
    dflt(p, 'timeoutSeconds', 1);
    dflt(p, 'periodSeconds', 10);
    dflt(p, 'successThreshold', 1);
    dflt(p, 'failureThreshold', 3);
    if (p.httpGet) {
      dflt(p.httpGet as Obj, 'path', '/');
      dflt(p.httpGet as Obj, 'scheme', 'HTTP');
    }
  }
}

export function defaultPodSpec(spec: Obj): void {
  dflt(spec, 'restartPolicy', 'Always');
  dflt(spec, 'dnsPolicy', 'ClusterFirst');
  dflt(spec, 'terminationGracePeriodSeconds', 30);
  dflt(spec, 'schedulerName', 'default-scheduler');
  dflt(spec, 'securityContext', {});
  dflt(spec, 'enableServiceLinks', true);
  for (const c of arr(spec.containers)) defaultContainer(c);
  for (const c of arr(spec.initContainers)) defaultContainer(c);
  for (const v of arr(spec.volumes)) {
    if (v.configMap) dflt(v.configMap as Obj, 'defaultMode', 0o644);
    if (v.secret) dflt(v.secret as Obj, 'defaultMode', 0o644);
    if (v.hostPath) dflt(v.hostPath as Obj, 'type', '');
  }
}

function defaultTemplate(spec: Obj): void {
  const tpl = obj(spec, 'template');
  defaultPodSpec(obj(tpl, 'spec'));
}

/** kube-apiserver's --default-not-ready-toleration-seconds / --default-unreachable-toleration-seconds. */
const defaultTolerationSeconds = { notReady: 300, unreachable: 300 };

export function setDefaultTolerationSeconds(notReady: number, unreachable: number): void {
  defaultTolerationSeconds.notReady = notReady;
  defaultTolerationSeconds.unreachable = unreachable;
}

/**
 * The DefaultTolerationSeconds admission: a pod that does not tolerate the not-ready / unreachable
 * NoExecute taints gets tolerations for them with the configured seconds.
 */
function addDefaultTolerations(spec: Obj): void {
  const tolerations = (Array.isArray(spec.tolerations) ? spec.tolerations : []) as Array<Record<string, unknown>>;
  const tolerates = (key: string) =>
    tolerations.some((t) => (t.operator === 'Exists' && (t.key === undefined || t.key === '')) || (t.key === key && (t.effect === undefined || t.effect === '' || t.effect === 'NoExecute')));
  const add: Array<Record<string, unknown>> = [];
  if (!tolerates('node.kubernetes.io/not-ready')) add.push({ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: defaultTolerationSeconds.notReady });
  if (!tolerates('node.kubernetes.io/unreachable')) add.push({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: defaultTolerationSeconds.unreachable });
  if (add.length > 0) spec.tolerations = [...tolerations, ...add] as unknown as Obj[keyof Obj];
}

const DEFAULTERS: Record<string, (o: Obj) => void> = {
  pods(o) {
    const spec = obj(o, 'spec');
    defaultPodSpec(spec);
    dflt(spec, 'priority', 0);
    dflt(spec, 'preemptionPolicy', 'PreemptLowerPriority');
    if (!spec.serviceAccountName && !spec.serviceAccount) spec.serviceAccountName = 'default';
    if (spec.serviceAccountName && !spec.serviceAccount) spec.serviceAccount = spec.serviceAccountName;
    addDefaultTolerations(spec);
  },
  deployments(o) {
    const spec = obj(o, 'spec');
    dflt(spec, 'replicas', 1);
    const strategy = obj(spec, 'strategy');
    dflt(strategy, 'type', 'RollingUpdate');
    if (strategy.type === 'RollingUpdate') {
      const ru = obj(strategy, 'rollingUpdate');
      dflt(ru, 'maxUnavailable', '25%');
      dflt(ru, 'maxSurge', '25%');
    }
    dflt(spec, 'revisionHistoryLimit', 10);
    dflt(spec, 'progressDeadlineSeconds', 600);
    defaultTemplate(spec);
  },
  replicasets(o) {
    const spec = obj(o, 'spec');
    dflt(spec, 'replicas', 1);
    defaultTemplate(spec);
  },
  /** SetDefaults_ReplicationController: selector and labels from the template's labels when empty. */
  replicationcontrollers(o) {
    const spec = obj(o, 'spec');
    const tplLabels = ((spec.template as Obj | undefined)?.metadata as Obj | undefined)?.labels as Obj | undefined;
    if (tplLabels && typeof tplLabels === 'object') {
      if (Object.keys((spec.selector as Obj | undefined) ?? {}).length === 0) spec.selector = { ...tplLabels };
      const m = obj(o, 'metadata');
      if (Object.keys((m.labels as Obj | undefined) ?? {}).length === 0) m.labels = { ...tplLabels };
    }
    dflt(spec, 'replicas', 1);
    defaultTemplate(spec);
  },
  statefulsets(o) {
    const spec = obj(o, 'spec');
    dflt(spec, 'replicas', 1);
    dflt(spec, 'podManagementPolicy', 'OrderedReady');
    const us = obj(spec, 'updateStrategy');
    dflt(us, 'type', 'RollingUpdate');
    if (us.type === 'RollingUpdate') dflt(obj(us, 'rollingUpdate'), 'partition', 0);
    dflt(spec, 'revisionHistoryLimit', 10);
    defaultTemplate(spec);
  },
  daemonsets(o) {
    const spec = obj(o, 'spec');
    const us = obj(spec, 'updateStrategy');
    dflt(us, 'type', 'RollingUpdate');
    if (us.type === 'RollingUpdate') {
      const ru = obj(us, 'rollingUpdate');
      dflt(ru, 'maxUnavailable', 1);
      dflt(ru, 'maxSurge', 0);
    }
    dflt(spec, 'revisionHistoryLimit', 10);
    defaultTemplate(spec);
  },
  jobs(o) {
    const spec = obj(o, 'spec');
    dflt(spec, 'parallelism', 1);
    if (spec.completions === undefined && spec.parallelism === 1) spec.completions = 1;
    dflt(spec, 'backoffLimit', 6);
    dflt(spec, 'completionMode', 'NonIndexed');
    dflt(spec, 'suspend', false);
    defaultTemplate(spec);
  },
  cronjobs(o) {
    const spec = obj(o, 'spec');
    dflt(spec, 'concurrencyPolicy', 'Allow');
    dflt(spec, 'suspend', false);
    dflt(spec, 'successfulJobsHistoryLimit', 3);
    dflt(spec, 'failedJobsHistoryLimit', 1);
    const jt = obj(spec, 'jobTemplate');
    const js = obj(jt, 'spec');
    dflt(js, 'backoffLimit', 6);
    dflt(js, 'completionMode', 'NonIndexed');
    defaultTemplate(js);
  },
  services(o) {
    const spec = obj(o, 'spec');
    dflt(spec, 'type', 'ClusterIP');
    dflt(spec, 'sessionAffinity', 'None');
    for (const p of arr(spec.ports)) {
      dflt(p, 'protocol', 'TCP');
      if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port ?? 0;
    }
    if (spec.type !== 'ExternalName') {
      dflt(spec, 'ipFamilies', ['IPv4']);
      dflt(spec, 'ipFamilyPolicy', 'SingleStack');
      dflt(spec, 'internalTrafficPolicy', 'Cluster');
    }
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') dflt(spec, 'externalTrafficPolicy', 'Cluster');
  },
  secrets(o) {
    dflt(o, 'type', 'Opaque');
  },
  namespaces(o) {
    const spec = obj(o, 'spec');
    dflt(spec, 'finalizers', ['kubernetes']);
    const status = obj(o, 'status');
    dflt(status, 'phase', 'Active');
  },
  nodes(o) {
    obj(o, 'spec');
  },
  endpointslices(o) {
    // discovery/v1 SetDefaults_EndpointPort: an unnamed port is "", the protocol TCP.
    for (const p of Array.isArray(o.ports) ? (o.ports as unknown[]) : []) {
      if (typeof p !== 'object' || p === null || Array.isArray(p)) continue;
      dflt(p as Obj, 'name', '');
      dflt(p as Obj, 'protocol', 'TCP');
    }
  },
};

/** SetDefaults_Namespace: every named Namespace carries kubernetes.io/metadata.name=<name> (immutable in effect: rewritten on every write). */
function defaultNamespace(o: Obj): void {
  const meta = obj(o, 'metadata');
  if (typeof meta.name !== 'string' || meta.name === '') return;
  obj(meta, 'labels')['kubernetes.io/metadata.name'] = meta.name;
}

export function applyDefaults(resource: string, o: Obj): void {
  DEFAULTERS[resource]?.(o);
  if (resource === 'horizontalpodautoscalers') defaultHorizontalPodAutoscaler(o);
  if (resource === 'networkpolicies') defaultNetworkPolicy(o);
  if (resource === 'namespaces') defaultNamespace(o);
  defaultStorage(resource, o);
}
