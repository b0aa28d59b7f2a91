/**
 * meta.k8s.io/v1 Table output: per resource, upstream's printer columns
 * (pkg/printers/internalversion AddHandlers, kube-aggregator's APIService
 * table, the default Name/Created At convertor for the rest) and their cell
 * formatting, computed as upstream's server-side printing does (wide columns
 * always filled; kubectl hides priority-1 columns unless -o wide).
 */
import type { JsonObject, JsonValue, ResourceInfo } from '@mkube/api';
import { accessModesAsString } from '@mkube/api';
import { hpaTargets } from './hpa_columns.js';
import { hpaV2FromV1 } from '../registry/hpa_v1_conversion.js';
import { csrCondition, csrRequestedDuration } from './csr_columns.js';

type Obj = JsonObject;
const o = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const a = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const s = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const n = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);

export interface Column {
  name: string;
  type: string;
  format?: string;
  priority?: number;
  description: string;
  cell: (x: Obj) => JsonValue;
}

/** Kubernetes' duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec < -1) return '<invalid>';
  if (sec < 0) return '0s';
  if (sec < 120) return `${sec}s`;
  const m = Math.floor(sec / 60);
  if (m < 10) return sec % 60 === 0 ? `${m}m` : `${m}m${sec % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 192) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 730) return `${d}d`;
  const y = Math.floor(d / 365);
  if (d < 2920) return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
  return `${y}y`;
}

/** translateTimestampSince: `<unknown>` for a zero time. */
export const age = (ts: unknown): string => (typeof ts === 'string' && ts && !Number.isNaN(Date.parse(ts)) ? humanDuration(Date.now() - Date.parse(ts)) : '<unknown>');
const orNone = (v: unknown): string => (v === undefined || v === null || v === '' ? '<none>' : String(v));
const orUnknown = (v: unknown): string => (v === undefined || v === null || v === '' ? '<unknown>' : String(v));
const boolPtr = (v: unknown): string => (v === undefined || v === null ? '<unset>' : v === true ? 'True' : 'False');
const byKey = ([p]: [string, unknown], [q]: [string, unknown]): number => (p < q ? -1 : p > q ? 1 : 0);

/** labels.FormatLabels: sorted key=value pairs, `<none>` when empty. */
export function formatLabels(m: unknown): string {
  const out = Object.entries(o(m)).sort(byKey).map(([k, v]) => `${k}=${s(v)}`).join(',');
  return out || '<none>';
}

/** labels.Selector.String() of metav1.LabelSelectorAsSelector (requirements sorted by key). */
export function selectorString(sel: unknown): string {
  const reqs: [string, string][] = Object.entries(o(o(sel).matchLabels)).map(([k, v]) => [k, `${k}=${s(v)}`]);
  for (const e of a(o(sel).matchExpressions)) {
    const key = s(e.key);
    const values = ((Array.isArray(e.values) ? e.values : []) as unknown[]).map(s).sort().join(',');
    switch (e.operator) {
      case 'In': reqs.push([key, `${key} in (${values})`]); break;
      case 'NotIn': reqs.push([key, `${key} notin (${values})`]); break;
      case 'Exists': reqs.push([key, key]); break;
      case 'DoesNotExist': reqs.push([key, `!${key}`]); break;
      default: return '<error>';
    }
  }
  return reqs.sort(byKey).map(([, r]) => r).join(',');
}
/** metav1.FormatLabelSelector: as selectorString, `<none>` when empty. */
export const formatLabelSelector = (sel: unknown): string => selectorString(sel) || '<none>';

/** net.JoinHostPort. */
const joinHostPort = (host: string, port: unknown): string => (host.includes(':') ? `[${host}]:${s(port)}` : `${host}:${s(port)}`);

/** formatEndpoints(endpoints, nil): up to three host:port (or bare IPs for port-less subsets), then " + N more...". */
export function formatEndpoints(ep: Obj): string {
  const subsets = a(ep.subsets);
  if (!subsets.length) return '<none>';
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addrs = a(ss.addresses);
    const ports = a(ss.ports);
    if (!ports.length) {
      count += addrs.length;
      for (const ad of addrs) {
        if (list.length === max) { more = true; break; }
        list.push(s(ad.ip));
      }
      continue;
    }
    for (const p of ports) {
      count += addrs.length;
      for (const ad of addrs) {
        if (list.length === max) { more = true; break; }
        list.push(joinHostPort(s(ad.ip), n(p.port)));
      }
    }
  }
  const ret = list.join(',');
  return more ? `${ret} + ${count - max} more...` : ret;
}

/** listWithMoreString: up to three items, then " + N more..."; "<unset>" when empty. */
function listWithMore(list: string[], count: number, max: number): string {
  const ret = list.join(',');
  if (count > max) return `${ret} + ${count - max} more...`;
  return ret === '' ? '<unset>' : ret;
}

/** formatDiscoveryPorts: an EndpointSlice's port numbers (the name for an unset number, "*" for neither). */
function formatDiscoveryPorts(ports: Obj[]): string {
  const list = ports.slice(0, 3).map((p) => (typeof p.port === 'number' ? String(p.port) : typeof p.name === 'string' ? p.name : '*'));
  return listWithMore(list, ports.length, 3);
}

/** formatDiscoveryEndpoints: an EndpointSlice's addresses, all endpoints flattened. */
function formatDiscoveryEndpoints(endpoints: Obj[]): string {
  const all = endpoints.flatMap((e) => (Array.isArray(e.addresses) ? (e.addresses as unknown[]).map(s) : []));
  return listWithMore(all.slice(0, 3), all.length, 3);
}

/** formatHosts of an Ingress' rules. */
function formatHosts(rules: Obj[]): string {
  const list: string[] = [];
  const max = 3;
  let more = false;
  for (const r of rules) {
    if (list.length === max) more = true;
    if (!more && s(r.host)) list.push(s(r.host));
  }
  if (!list.length) return '*';
  return more ? `${list.join(',')} + ${rules.length - max} more...` : list.join(',');
}

/** loadBalancerStatusStringer(wide=true): the sorted set of ingress IPs (else hostnames). */
function loadBalancerIngress(lb: unknown): string {
  const set = new Set<string>();
  for (const i of a(o(lb).ingress)) {
    if (s(i.ip)) set.add(s(i.ip));
    else if (s(i.hostname)) set.add(s(i.hostname));
  }
  return [...set].sort().join(',');
}

function serviceExternalIP(svc: Obj): string {
  const spec = o(svc.spec);
  const ext = (Array.isArray(spec.externalIPs) ? spec.externalIPs : []).map(s);
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return ext.length ? ext.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = loadBalancerIngress(o(svc.status).loadBalancer);
      if (ext.length) return [...(lb ? lb.split(',') : []), ...ext].join(',');
      return lb || '<pending>';
    }
    case 'ExternalName':
      return s(spec.externalName);
    default:
      return '<unknown>';
  }
}

function servicePorts(svc: Obj): string {
  const out = a(o(svc.spec).ports).map((p) => (n(p.nodePort) > 0 ? `${n(p.port)}:${n(p.nodePort)}/${s(p.protocol)}` : `${n(p.port)}/${s(p.protocol)}`)).join(',');
  return out || '<none>';
}

const condTrue = (conds: unknown, type: string): boolean => {
  const c = a(conds).find((x) => x.type === type);
  return c?.status === 'True';
};

interface PodCells { ready: string; status: string; restarts: string }
/** printPod's READY, STATUS and RESTARTS (init containers, sidecars, "N (Xm ago)"). */
function podCells(pod: Obj): PodCells {
  const spec = o(pod.spec);
  const status = o(pod.status);
  const initSpecs = new Map(a(spec.initContainers).map((c) => [s(c.name), c]));
  const restartable = (name: string): boolean => initSpecs.get(name)?.restartPolicy === 'Always';
  let total = a(spec.containers).length + a(spec.initContainers).filter((c) => c.restartPolicy === 'Always').length;
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart = 0;
  let lastSidecarRestart = 0;
  let reason = s(status.reason) || s(status.phase);
  for (const c of a(status.conditions)) if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  const finished = (cs: Obj): number => { const t = o(o(cs.lastState).terminated).finishedAt; return typeof t === 'string' ? Date.parse(t) || 0 : 0; };
  let initializing = false;
  const initStatuses = a(status.initContainerStatuses);
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = initStatuses[i];
    restarts += n(cs.restartCount);
    lastRestart = Math.max(lastRestart, finished(cs));
    if (restartable(s(cs.name))) {
      sidecarRestarts += n(cs.restartCount);
      lastSidecarRestart = Math.max(lastSidecarRestart, finished(cs));
    }
    const st = o(cs.state);
    const term = st.terminated ? o(st.terminated) : undefined;
    const waiting = st.waiting ? o(st.waiting) : undefined;
    if (term && n(term.exitCode) === 0) continue;
    if (restartable(s(cs.name)) && cs.started === true) { if (cs.ready) ready++; continue; }
    if (term) reason = s(term.reason) ? `Init:${s(term.reason)}` : n(term.signal) ? `Init:Signal:${n(term.signal)}` : `Init:ExitCode:${n(term.exitCode)}`;
    else if (waiting && s(waiting.reason) && waiting.reason !== 'PodInitializing') reason = `Init:${s(waiting.reason)}`;
    else reason = `Init:${i}/${a(spec.initContainers).length}`;
    initializing = true;
    break;
  }
  if (!initializing || condTrue(status.conditions, 'Initialized')) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    let errorReason = '';
    const statuses = a(status.containerStatuses);
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i];
      restarts += n(cs.restartCount);
      lastRestart = Math.max(lastRestart, finished(cs));
      const st = o(cs.state);
      if (st.waiting && s(o(st.waiting).reason)) reason = s(o(st.waiting).reason);
      else if (st.terminated) {
        const term = o(st.terminated);
        reason = s(term.reason) || (n(term.signal) ? `Signal:${n(term.signal)}` : `ExitCode:${n(term.exitCode)}`);
        if (n(term.exitCode) !== 0) errorReason = reason;
      } else if (cs.ready && st.running) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed') {
      if (hasRunning && condTrue(status.conditions, 'Ready')) reason = 'Running';
      else if (errorReason) reason = errorReason;
      else if (hasRunning) reason = 'NotReady';
    }
  }
  const deleting = Boolean(o(pod.metadata).deletionTimestamp);
  if (deleting && status.reason === 'NodeLost') reason = 'Unknown';
  else if (deleting && status.phase !== 'Succeeded' && status.phase !== 'Failed') reason = 'Terminating';
  const restartsStr = restarts !== 0 && lastRestart ? `${restarts} (${humanDuration(Date.now() - lastRestart)} ago)` : String(restarts);
  total = Math.max(total, 0);
  return { ready: `${ready}/${total}`, status: reason, restarts: restartsStr };
}

function nodeStatus(node: Obj): string {
  const ready = a(o(node.status).conditions).find((c) => c.type === 'Ready');
  const out = ready ? [ready.status === 'True' ? 'Ready' : 'NotReady'] : ['Unknown'];
  if (o(node.spec).unschedulable) out.push('SchedulingDisabled');
  return out.join(',');
}

function nodeRoles(node: Obj): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(o(o(node.metadata).labels))) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && s(v)) roles.add(s(v));
  }
  return [...roles].sort().join(',') || '<none>';
}

const nodeAddress = (node: Obj, type: string): string => orNone(a(o(node.status).addresses).find((ad) => ad.type === type)?.address);

function eventSource(ev: Obj): string {
  const component = s(o(ev.source).component) || s(ev.reportingComponent);
  const instance = s(o(ev.source).host) || s(ev.reportingInstance);
  return instance ? `${component}, ${instance}` : component;
}

function eventCells(ev: Obj): { last: string; first: string; count: number } {
  const first = s(ev.firstTimestamp) ? age(ev.firstTimestamp) : age(ev.eventTime);
  let last = s(ev.lastTimestamp) ? age(ev.lastTimestamp) : first;
  let count = n(ev.count);
  if (ev.series && typeof ev.series === 'object') {
    last = age(o(ev.series).lastObservedTime);
    count = n(o(ev.series).count);
  } else if (count === 0) count = 1;
  return { last, first, count };
}

function jobStatus(job: Obj): string {
  const conds = o(job.status).conditions;
  if (condTrue(conds, 'Complete')) return 'Complete';
  if (condTrue(conds, 'Failed')) return 'Failed';
  if (o(job.metadata).deletionTimestamp) return 'Terminating';
  if (condTrue(conds, 'Suspended')) return 'Suspended';
  if (condTrue(conds, 'FailureTarget')) return 'FailureTarget';
  if (condTrue(conds, 'SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

function jobCompletions(job: Obj): string {
  const spec = o(job.spec);
  const succeeded = n(o(job.status).succeeded);
  if (spec.completions !== undefined && spec.completions !== null) return `${succeeded}/${n(spec.completions)}`;
  const parallelism = n(spec.parallelism);
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

function jobDuration(job: Obj): string {
  const st = o(job.status);
  if (!s(st.startTime)) return '';
  const end = s(st.completionTime) ? Date.parse(s(st.completionTime)) : Date.now();
  return humanDuration(end - Date.parse(s(st.startTime)));
}

/** rbac SubjectsStrings: users, groups and namespace/name service accounts, each joined by ", ". */
function subjects(binding: Obj, kind: string): string {
  return a(binding.subjects)
    .filter((x) => x.kind === kind)
    .map((x) => (kind === 'ServiceAccount' ? `${s(x.namespace)}/${s(x.name)}` : s(x.name)))
    .join(', ');
}

function apiServiceAvailable(svc: Obj): string {
  const c = a(o(svc.status).conditions).find((x) => x.type === 'Available');
  if (!c) return 'Unknown';
  if (c.status === 'True') return 'True';
  return s(c.reason) ? `${s(c.status)} (${s(c.reason)})` : s(c.status);
}

const D_NAME = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const D_CREATED = 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

const col = (name: string, type: string, description: string, cell: Column['cell']): Column => ({ name, type, description, cell });
const wide = (name: string, type: string, description: string, cell: Column['cell']): Column => ({ name, type, description, cell, priority: 1 });
const nameCol: Column = { name: 'Name', type: 'string', format: 'name', description: D_NAME, cell: (x) => s(o(x.metadata).name) };
const ageCol = col('Age', 'string', D_CREATED, (x) => age(o(x.metadata).creationTimestamp));

const tplSpec = (x: Obj): Obj => o(o(o(x.spec).template).spec);
const containerNames = (spec: Obj): string => a(spec.containers).map((c) => s(c.name)).join(',');
const containerImages = (spec: Obj): string => a(spec.containers).map((c) => s(c.image)).join(',');
const containersCol = (tpl: (x: Obj) => Obj): Column => wide('Containers', 'string', 'Names of each container in the template.', (x) => containerNames(tpl(x)));
const imagesCol = (tpl: (x: Obj) => Obj): Column => wide('Images', 'string', 'Images referenced by each container in the template.', (x) => containerImages(tpl(x)));
const labelSelectorCol = (desc: string, sel: (x: Obj) => unknown): Column => wide('Selector', 'string', desc, (x) => formatLabelSelector(sel(x)));

const bindingColumns = (what: string): Column[] => [
  nameCol,
  col('Role', 'string', 'RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.', (x) => `${s(o(x.roleRef).kind)}/${s(o(x.roleRef).name)}`),
  ageCol,
  wide('Users', 'string', `Users in the ${what}`, (x) => subjects(x, 'User')),
  wide('Groups', 'string', `Groups in the ${what}`, (x) => subjects(x, 'Group')),
  wide('ServiceAccounts', 'string', `ServiceAccounts in the ${what}`, (x) => subjects(x, 'ServiceAccount')),
];

const COLUMNS: Record<string, Column[]> = {
  pods: [
    nameCol,
    col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.', (x) => podCells(x).ready),
    col('Status', 'string', 'The aggregate status of the containers in this pod.', (x) => podCells(x).status),
    col('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.', (x) => podCells(x).restarts),
    ageCol,
    wide('IP', 'string', 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', (x) => orNone(s(o(a(o(x.status).podIPs)[0]).ip) || s(o(x.status).podIP))),
    wide('Node', 'string', 'NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the scheduler simply schedules this pod onto that node, assuming that it fits resource requirements.', (x) => orNone(o(x.spec).nodeName)),
    wide('Nominated Node', 'string', 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.', (x) => orNone(o(x.status).nominatedNodeName)),
    wide('Readiness Gates', 'string', 'If specified, all readiness gates will be evaluated for pod readiness.', (x) => {
      const gates = a(o(x.spec).readinessGates);
      if (!gates.length) return '<none>';
      const conds = a(o(x.status).conditions);
      const ok = gates.filter((g) => conds.find((c) => c.type === g.conditionType)?.status === 'True').length;
      return `${ok}/${gates.length}`;
    }),
  ],
  deployments: [
    nameCol,
    col('Ready', 'string', 'Number of the pod with ready state', (x) => `${n(o(x.status).readyReplicas)}/${n(o(x.spec).replicas)}`),
    col('Up-to-date', 'string', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.', (x) => n(o(x.status).updatedReplicas)),
    col('Available', 'string', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.', (x) => n(o(x.status).availableReplicas)),
    ageCol,
    containersCol(tplSpec),
    imagesCol(tplSpec),
    wide('Selector', 'string', 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', (x) => selectorString(o(x.spec).selector)),
  ],
  replicasets: [
    nameCol,
    col('Desired', 'integer', 'Replicas is the number of desired replicas.', (x) => n(o(x.spec).replicas)),
    col('Current', 'integer', 'Replicas is the most recently observed number of replicas.', (x) => n(o(x.status).replicas)),
    col('Ready', 'integer', 'The number of ready replicas for this replica set.', (x) => n(o(x.status).readyReplicas)),
    ageCol,
    containersCol(tplSpec),
    imagesCol(tplSpec),
    labelSelectorCol('Selector is a label query over pods that should match the replica count.', (x) => o(x.spec).selector),
  ],
  // Upstream's replicationControllerColumnDefinitions; the selector is a plain map (labels.FormatLabels).
  replicationcontrollers: [
    nameCol,
    col('Desired', 'integer', 'Replicas is the number of desired replicas.', (x) => n(o(x.spec).replicas)),
    col('Current', 'integer', 'Replicas is the most recently observed number of replicas.', (x) => n(o(x.status).replicas)),
    col('Ready', 'integer', 'The number of ready replicas for this replication controller.', (x) => n(o(x.status).readyReplicas)),
    ageCol,
    containersCol(tplSpec),
    imagesCol(tplSpec),
    wide('Selector', 'string', 'Selector is a label query over pods that should match the Replicas count.', (x) => formatLabels(o(x.spec).selector)),
  ],
  daemonsets: [
    nameCol,
    col('Desired', 'integer', 'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).', (x) => n(o(x.status).desiredNumberScheduled)),
    col('Current', 'integer', 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.', (x) => n(o(x.status).currentNumberScheduled)),
    col('Ready', 'integer', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.', (x) => n(o(x.status).numberReady)),
    col('Up-to-date', 'integer', 'The total number of nodes that are running updated daemon pod', (x) => n(o(x.status).updatedNumberScheduled)),
    col('Available', 'integer', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)', (x) => n(o(x.status).numberAvailable)),
    col('Node Selector', 'string', "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node.", (x) => formatLabels(tplSpec(x).nodeSelector)),
    ageCol,
    containersCol(tplSpec),
    imagesCol(tplSpec),
    labelSelectorCol('A label query over pods that are managed by the daemon set.', (x) => o(x.spec).selector),
  ],
  // Upstream's controllerRevisionColumnDefinitions.
  controllerrevisions: [
    nameCol,
    col('Controller', 'string', 'Controller of the object', (x) => {
      const ref = a(o(x.metadata).ownerReferences).find((r) => r.controller === true);
      if (!ref) return '<none>';
      const group = s(ref.apiVersion).includes('/') ? `.${s(ref.apiVersion).split('/')[0]}` : '';
      return `${s(ref.kind).toLowerCase()}${group}/${s(ref.name)}`;
    }),
    col('Revision', 'integer', 'Revision indicates the revision of the state represented by Data.', (x) => n(x.revision)),
    ageCol,
  ],
  statefulsets: [
    nameCol,
    col('Ready', 'string', 'Number of the pod with ready state', (x) => `${n(o(x.status).readyReplicas)}/${n(o(x.spec).replicas)}`),
    ageCol,
    containersCol(tplSpec),
    imagesCol(tplSpec),
  ],
  jobs: [
    nameCol,
    col('Status', 'string', 'Status of the job.', jobStatus),
    col('Completions', 'string', 'The number of pods which reached phase Succeeded.', jobCompletions),
    col('Duration', 'string', 'Time required to complete the job.', jobDuration),
    ageCol,
    containersCol(tplSpec),
    imagesCol(tplSpec),
    labelSelectorCol('A label query over pods that should match the pod count.', (x) => o(x.spec).selector),
  ],
  cronjobs: [
    nameCol,
    col('Schedule', 'string', 'The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.', (x) => s(o(x.spec).schedule)),
    col('Timezone', 'string', 'The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.', (x) => orNone(o(x.spec).timeZone)),
    col('Suspend', 'boolean', 'This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.', (x) => boolPtr(o(x.spec).suspend)),
    col('Active', 'integer', 'A list of pointers to currently running jobs.', (x) => a(o(x.status).active).length),
    col('Last Schedule', 'string', 'Information when was the last time the job was successfully scheduled.', (x) => (s(o(x.status).lastScheduleTime) ? age(o(x.status).lastScheduleTime) : '<none>')),
    ageCol,
    containersCol((x) => o(o(o(o(o(x.spec).jobTemplate).spec).template).spec)),
    imagesCol((x) => o(o(o(o(o(x.spec).jobTemplate).spec).template).spec)),
    labelSelectorCol('A label query over pods that should match the pod count.', (x) => o(o(o(x.spec).jobTemplate).spec).selector),
  ],
  services: [
    nameCol,
    col('Type', 'string', 'type determines how the Service is exposed.', (x) => s(o(x.spec).type)),
    col('Cluster-IP', 'string', 'clusterIP is the IP address of the service and is usually assigned randomly.', (x) => orNone((Array.isArray(o(x.spec).clusterIPs) ? s((o(x.spec).clusterIPs as unknown[])[0]) : '') || s(o(x.spec).clusterIP))),
    col('External-IP', 'string', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.', serviceExternalIP),
    col('Port(s)', 'string', 'The list of ports that are exposed by this service.', servicePorts),
    ageCol,
    wide('Selector', 'string', 'Route service traffic to pods with label keys and values matching this selector.', (x) => formatLabels(o(x.spec).selector)),
  ],
  endpoints: [
    nameCol,
    col('Endpoints', 'string', 'The set of all endpoints is the union of all subsets.', formatEndpoints),
    ageCol,
  ],
  endpointslices: [
    nameCol,
    col('AddressType', 'string', 'addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.', (x) => s(x.addressType)),
    col('Ports', 'string', 'ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates "all ports". Each slice may include a maximum of 100 ports.', (x) => formatDiscoveryPorts(a(x.ports))),
    col('Endpoints', 'string', 'endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.', (x) => formatDiscoveryEndpoints(a(x.endpoints))),
    ageCol,
  ],
  ingresses: [
    nameCol,
    col('Class', 'string', 'The name of the IngressClass resource that should be used for additional configuration', (x) => orNone(o(x.spec).ingressClassName)),
    col('Hosts', 'string', 'Hosts that incoming requests are matched against before the ingress rule', (x) => formatHosts(a(o(x.spec).rules))),
    col('Address', 'string', 'Address is a list containing ingress points for the load-balancer', (x) => loadBalancerIngress(o(x.status).loadBalancer)),
    col('Ports', 'string', 'Ports of TLS configurations that open', (x) => (a(o(x.spec).tls).length ? '80, 443' : '80')),
    ageCol,
  ],
  networkpolicies: [
    nameCol,
    col('Pod-Selector', 'string', "podSelector selects the pods to which this NetworkPolicy object applies. The array of rules is applied to any pods selected by this field. An empty selector matches all pods in the policy's namespace. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is optional. If it is not specified, it defaults to an empty selector.", (x) => formatLabelSelector(o(x.spec).podSelector)),
    ageCol,
  ],
  ingressclasses: [
    nameCol,
    col('Controller', 'string', 'Controller that is responsible for handling this class', (x) => s(o(x.spec).controller)),
    col('Parameters', 'string', 'A reference to a resource with additional parameters', (x) => {
      const p = o(x.spec).parameters;
      if (!p || typeof p !== 'object') return '<none>';
      const q = o(p);
      return `${s(q.kind)}${s(q.apiGroup) ? `.${s(q.apiGroup)}` : ''}/${s(q.name)}`;
    }),
    ageCol,
  ],
  nodes: [
    nameCol,
    col('Status', 'string', 'The status of the node', nodeStatus),
    col('Roles', 'string', 'The roles of the node', nodeRoles),
    ageCol,
    col('Version', 'string', 'Kubelet Version reported by the node.', (x) => s(o(o(x.status).nodeInfo).kubeletVersion)),
    wide('Internal-IP', 'string', 'List of addresses reachable to the node.', (x) => nodeAddress(x, 'InternalIP')),
    wide('External-IP', 'string', 'List of addresses reachable to the node.', (x) => nodeAddress(x, 'ExternalIP')),
    wide('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', (x) => orUnknown(o(o(x.status).nodeInfo).osImage)),
    wide('Kernel-Version', 'string', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", (x) => orUnknown(o(o(x.status).nodeInfo).kernelVersion)),
    wide('Container-Runtime', 'string', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', (x) => orUnknown(o(o(x.status).nodeInfo).containerRuntimeVersion)),
  ],
  events: [
    col('Last Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.', (x) => eventCells(x).last),
    col('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future', (x) => s(x.type)),
    col('Reason', 'string', "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", (x) => s(x.reason)),
    col('Object', 'string', 'The object that this event is about.', (x) => (s(o(x.involvedObject).name) ? `${s(o(x.involvedObject).kind).toLowerCase()}/${s(o(x.involvedObject).name)}` : s(o(x.involvedObject).kind).toLowerCase())),
    wide('Subobject', 'string', 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].', (x) => s(o(x.involvedObject).fieldPath)),
    wide('Source', 'string', 'The component reporting this event. Should be a short machine understandable string.', eventSource),
    col('Message', 'string', 'A human-readable description of the status of this operation.', (x) => s(x.message).trim()),
    wide('First Seen', 'string', 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', (x) => eventCells(x).first),
    wide('Count', 'string', 'The number of times this event has occurred.', (x) => eventCells(x).count),
    { ...wide('Name', 'string', D_NAME, (x) => s(o(x.metadata).name)), format: 'name' },
  ],
  namespaces: [nameCol, col('Status', 'string', 'The status of the namespace', (x) => s(o(x.status).phase)), ageCol],
  configmaps: [nameCol, col('Data', 'string', 'Data contains the configuration data.', (x) => Object.keys(o(x.data)).length + Object.keys(o(x.binaryData)).length), ageCol],
  secrets: [
    nameCol,
    col('Type', 'string', 'Used to facilitate programmatic handling of secret data.', (x) => s(x.type)),
    col('Data', 'string', 'Data contains the secret data.', (x) => Object.keys(o(x.data)).length),
    ageCol,
  ],
  serviceaccounts: [nameCol, ageCol],
  leases: [nameCol, col('Holder', 'string', 'holderIdentity contains the identity of the holder of a current lease.', (x) => orNone(o(x.spec).holderIdentity)), ageCol],
  rolebindings: bindingColumns('roleBinding'),
  clusterrolebindings: bindingColumns('clusterRoleBinding'),
  priorityclasses: [
    nameCol,
    col('Value', 'integer', 'value represents the integer value of this priority class.', (x) => n(x.value)),
    col('Global-Default', 'boolean', 'globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.', (x) => x.globalDefault === true),
    ageCol,
    col('PreemptionPolicy', 'string', 'preemptionPolicy is the Policy for preempting pods with lower priority.', (x) => orNone(x.preemptionPolicy)),
  ],
  // Upstream's persistentVolume/persistentVolumeClaim/storageClass column definitions.
  persistentvolumes: [
    nameCol,
    col('Capacity', 'string', 'capacity is the description of the persistent volume\'s resources and capacity.', (x) => s(o(o(x.spec).capacity).storage)),
    col('Access Modes', 'string', 'accessModes contains all ways the volume can be mounted.', (x) => accessModesAsString(a(o(x.spec).accessModes) as unknown as string[])),
    col('Reclaim Policy', 'string', 'persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.', (x) => s(o(x.spec).persistentVolumeReclaimPolicy)),
    col('Status', 'string', 'phase indicates if a volume is available, bound to a claim, or released by a claim.', (x) => (o(x.metadata).deletionTimestamp ? 'Terminating' : s(o(x.status).phase))),
    col('Claim', 'string', 'claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.', (x) => (o(x.spec).claimRef ? `${s(o(o(x.spec).claimRef).namespace)}/${s(o(o(x.spec).claimRef).name)}` : '')),
    col('StorageClass', 'string', 'storageClassName is the name of StorageClass to which this persistent volume belongs.', (x) => s(o(x.spec).storageClassName)),
    col('VolumeAttributesClass', 'string', 'Name of VolumeAttributesClass to which this persistent volume belongs.', (x) => s(o(x.spec).volumeAttributesClassName) || '<unset>'),
    col('Reason', 'string', 'reason is a brief CamelCase string that describes any failure.', (x) => s(o(x.status).reason)),
    ageCol,
    wide('VolumeMode', 'string', 'volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.', (x) => s(o(x.spec).volumeMode)),
  ],
  persistentvolumeclaims: [
    nameCol,
    col('Status', 'string', 'phase represents the current phase of PersistentVolumeClaim.', (x) => (o(x.metadata).deletionTimestamp ? 'Terminating' : s(o(x.status).phase))),
    col('Volume', 'string', 'volumeName is the binding reference to the PersistentVolume backing this claim.', (x) => s(o(x.spec).volumeName)),
    col('Capacity', 'string', 'capacity represents the actual resources of the underlying volume.', (x) => (o(x.spec).volumeName ? s(o(o(x.status).capacity).storage) : '')),
    col('Access Modes', 'string', 'accessModes contains the actual access modes the volume backing the PVC has.', (x) => (o(x.spec).volumeName ? accessModesAsString(a(o(x.status).accessModes) as unknown as string[]) : '')),
    col('StorageClass', 'string', 'storageClassName is the name of the StorageClass required by the claim.', (x) => s(o(x.spec).storageClassName)),
    col('VolumeAttributesClass', 'string', 'volumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim.', (x) => s(o(x.spec).volumeAttributesClassName) || '<unset>'),
    ageCol,
    wide('VolumeMode', 'string', 'volumeMode defines what type of volume is required by the claim.', (x) => s(o(x.spec).volumeMode)),
  ],
  storageclasses: [
    { ...nameCol, cell: (x) => (o(o(x.metadata).annotations)['storageclass.kubernetes.io/is-default-class'] === 'true' ? `${s(o(x.metadata).name)} (default)` : s(o(x.metadata).name)) },
    col('Provisioner', 'string', 'provisioner indicates the type of the provisioner.', (x) => s(x.provisioner)),
    col('ReclaimPolicy', 'string', 'reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.', (x) => s(x.reclaimPolicy) || 'Delete'),
    col('VolumeBindingMode', 'string', 'volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.', (x) => s(x.volumeBindingMode) || 'Immediate'),
    col('AllowVolumeExpansion', 'string', 'allowVolumeExpansion shows whether the storage class allow volume expand.', (x) => (x.allowVolumeExpansion === true ? 'true' : 'false')),
    ageCol,
  ],
  apiservices: [
    nameCol,
    col('Service', 'string', 'The reference to the service that hosts this API endpoint.', (x) => (o(x.spec).service ? `${s(o(o(x.spec).service).namespace)}/${s(o(o(x.spec).service).name)}` : 'Local')),
    col('Available', 'string', 'Whether this service is available.', apiServiceAvailable),
    ageCol,
  ],
  // Upstream's podDisruptionBudgetColumnDefinitions (N/A for an unset bound).
  poddisruptionbudgets: [
    nameCol,
    col('Min Available', 'string', 'The minimum number or percentage of available pods this budget requires.', (x) => (o(x.spec).minAvailable === undefined ? 'N/A' : s(o(x.spec).minAvailable))),
    col('Max Unavailable', 'string', 'The maximum number or percentage of unavailable pods this budget requires.', (x) => (o(x.spec).maxUnavailable === undefined ? 'N/A' : s(o(x.spec).maxUnavailable))),
    col('Allowed Disruptions', 'integer', 'Calculated number of pods that may be disrupted at this time.', (x) => n(o(x.status).disruptionsAllowed)),
    ageCol,
  ],
  // Upstream's horizontalPodAutoscalerColumnDefinitions (hpa_columns.ts formats the targets).
  horizontalpodautoscalers: [
    nameCol,
    col('Reference', 'string', 'Reference to the target resource being scaled.', (x) => `${s(o(o(x.spec).scaleTargetRef).kind)}/${s(o(o(x.spec).scaleTargetRef).name)}`),
    // An autoscaling/v1 object prints as its stored v2 form, as upstream prints the internal object.
    col('Targets', 'string', 'The metrics (current/target) this autoscaler scales on.', (x) => hpaTargets(x.apiVersion === 'autoscaling/v1' ? hpaV2FromV1(x) : x)),
    col('MinPods', 'string', 'Lower limit for the number of pods that can be set by the autoscaler, default 1.', (x) => (o(x.spec).minReplicas === undefined ? '<unset>' : s(o(x.spec).minReplicas))),
    col('MaxPods', 'integer', 'Upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinPods.', (x) => n(o(x.spec).maxReplicas)),
    col('Replicas', 'integer', 'Current number of replicas of pods managed by this autoscaler.', (x) => n(o(x.status).currentReplicas)),
    ageCol,
  ],
  // Upstream's certificateSigningRequestColumnDefinitions (csr_columns.ts).
  certificatesigningrequests: [
    nameCol,
    ageCol,
    col('SignerName', 'string', 'Name of the signer the CSR is requesting a certificate from', (x) => s(o(x.spec).signerName)),
    col('Requestor', 'string', 'Request originator (user name)', (x) => s(o(x.spec).username)),
    col('RequestedDuration', 'string', 'Requested certificate duration', csrRequestedDuration),
    col('Condition', 'string', 'Current condition of the certificate signing request', csrCondition),
  ],
};

/** rest.DefaultTableConvertor: Name and Created At (RFC 3339), for kinds without printer columns (roles, clusterroles...). */
const DEFAULT_COLUMNS: Column[] = [
  nameCol,
  { name: 'Created At', type: 'date', description: D_CREATED, cell: (x) => s(o(x.metadata).creationTimestamp) },
];

export function tableColumns(info: ResourceInfo): Column[] {
  return COLUMNS[info.resource] ?? DEFAULT_COLUMNS;
}

export interface TableOptions {
  includeObject: 'None' | 'Metadata' | 'Object';
  resourceVersion?: string;
  continueToken?: string;
  remainingItemCount?: number;
}

function rowObject(x: Obj, mode: TableOptions['includeObject']): JsonValue {
  if (mode === 'None') return null;
  if (mode === 'Object') return x;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o(x.metadata) };
}

export function toTable(info: ResourceInfo, items: Obj[], opts: TableOptions): Obj {
  const cols = tableColumns(info);
  const metadata: Obj = {};
  if (opts.resourceVersion) metadata.resourceVersion = opts.resourceVersion;
  if (opts.continueToken) metadata.continue = opts.continueToken;
  if (opts.remainingItemCount !== undefined) metadata.remainingItemCount = opts.remainingItemCount;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: cols.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description, priority: c.priority ?? 0 })),
    rows: items.map((x) => ({ cells: cols.map((c) => c.cell(x)), object: rowObject(x, opts.includeObject) })),
  };
}
