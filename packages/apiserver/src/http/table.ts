/** meta.k8s.io/v1 Table output with kubectl's columns for the common resources. */
import type { JsonObject, JsonValue, ResourceInfo } from '@mkube/api';

type Obj = JsonObject;
const o = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const a = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

interface Column {
  name: string;
  type: string;
  format?: string;
  priority?: number;
  description: string;
  cell: (x: Obj) => JsonValue;
}

/** Kubernetes' duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
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

const age = (ts: unknown): string => (typeof ts === 'string' && ts ? humanDuration(Date.now() - Date.parse(ts)) : '<unknown>');
const name: Column = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', cell: (x) => String(o(x.metadata).name ?? '') };
const ageCol: Column = { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', cell: (x) => age(o(x.metadata).creationTimestamp) };
const none = (s: unknown): string => (s === undefined || s === null || s === '' ? '<none>' : String(s));

function selectorString(sel: Obj): string {
  const parts = Object.entries(o(sel.matchLabels)).map(([k, v]) => `${k}=${String(v)}`);
  for (const e of a(sel.matchExpressions)) parts.push(`${String(e.key)} ${String(e.operator).toLowerCase()} (${((e.values as string[]) ?? []).join(',')})`);
  return parts.length ? parts.join(',') : '<none>';
}

function podStatus(p: Obj): string {
  const status = o(p.status);
  let reason = String(status.reason ?? status.phase ?? '');
  const statuses = a(status.containerStatuses);
  for (const cs of statuses) {
    const st = o(cs.state);
    if (o(st.waiting).reason) reason = String(o(st.waiting).reason);
    else if (o(st.terminated).reason) reason = String(o(st.terminated).reason);
    else if (st.terminated) reason = o(st.terminated).signal ? `Signal:${String(o(st.terminated).signal)}` : `ExitCode:${String(o(st.terminated).exitCode ?? 0)}`;
  }
  if (o(p.metadata).deletionTimestamp) reason = status.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return reason || 'Pending';
}

const wide = (c: Omit<Column, 'priority'>): Column => ({ ...c, priority: 1 });
const containersCol = (tpl: (x: Obj) => Obj) => wide({ name: 'Containers', type: 'string', description: 'Names of each container in the template.', cell: (x) => a(o(tpl(x)).containers).map((c) => String(c.name)).join(',') });
const imagesCol = (tpl: (x: Obj) => Obj) => wide({ name: 'Images', type: 'string', description: 'Images referenced by each container in the template.', cell: (x) => a(o(tpl(x)).containers).map((c) => String(c.image)).join(',') });
const selectorCol = wide({ name: 'Selector', type: 'string', description: 'Label selector for pods.', cell: (x) => selectorString(o(o(x.spec).selector)) });
const templateSpec = (x: Obj) => o(o(o(x.spec).template).spec);

const COLUMNS: Record<string, Column[]> = {
  pods: [
    name,
    { name: 'Ready', type: 'string', description: 'The aggregate readiness state of this pod for accepting traffic.', cell: (x) => `${a(o(x.status).containerStatuses).filter((c) => c.ready).length}/${a(o(x.spec).containers).length}` },
    { name: 'Status', type: 'string', description: 'The aggregate status of the containers in this pod.', cell: podStatus },
    { name: 'Restarts', type: 'string', description: 'The number of times the containers in this pod have been restarted.', cell: (x) => String(a(o(x.status).containerStatuses).reduce((n, c) => n + Number(c.restartCount ?? 0), 0)) },
    ageCol,
    wide({ name: 'IP', type: 'string', description: 'IP address allocated to the pod.', cell: (x) => none(o(x.status).podIP) }),
    wide({ name: 'Node', type: 'string', description: 'Name of the Node the Pod is assigned to.', cell: (x) => none(o(x.spec).nodeName) }),
    wide({ name: 'Nominated Node', type: 'string', description: 'Name of the nominated node.', cell: (x) => none(o(x.status).nominatedNodeName) }),
    wide({ name: 'Readiness Gates', type: 'string', description: 'Pod readiness gates.', cell: (x) => (a(o(x.spec).readinessGates).length ? `${a(o(x.spec).readinessGates).length}` : '<none>') }),
  ],
  deployments: [
    name,
    { name: 'Ready', type: 'string', description: 'Number of the pod with ready state.', cell: (x) => `${Number(o(x.status).readyReplicas ?? 0)}/${Number(o(x.spec).replicas ?? 0)}` },
    { name: 'Up-to-date', type: 'integer', description: 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.', cell: (x) => Number(o(x.status).updatedReplicas ?? 0) },
    { name: 'Available', type: 'integer', description: 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.', cell: (x) => Number(o(x.status).availableReplicas ?? 0) },
    ageCol,
    containersCol(templateSpec),
    imagesCol(templateSpec),
    selectorCol,
  ],
  replicasets: [
    name,
    { name: 'Desired', type: 'integer', description: 'Number of desired pods.', cell: (x) => Number(o(x.spec).replicas ?? 0) },
    { name: 'Current', type: 'integer', description: 'Number of actual pods.', cell: (x) => Number(o(x.status).replicas ?? 0) },
    { name: 'Ready', type: 'integer', description: 'Number of ready pods.', cell: (x) => Number(o(x.status).readyReplicas ?? 0) },
    ageCol,
    containersCol(templateSpec),
    imagesCol(templateSpec),
    selectorCol,
  ],
  // Upstream's replicationControllerColumnDefinitions; the selector is a plain map (labels.FormatLabels).
  replicationcontrollers: [
    name,
    { name: 'Desired', type: 'integer', description: 'Number of desired pods.', cell: (x) => Number(o(x.spec).replicas ?? 0) },
    { name: 'Current', type: 'integer', description: 'Number of actual pods.', cell: (x) => Number(o(x.status).replicas ?? 0) },
    { name: 'Ready', type: 'integer', description: 'Number of ready pods.', cell: (x) => Number(o(x.status).readyReplicas ?? 0) },
    ageCol,
    containersCol(templateSpec),
    imagesCol(templateSpec),
    wide({ name: 'Selector', type: 'string', description: 'Label selector for pods.', cell: (x) => Object.entries(o(o(x.spec).selector)).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)).map(([k, v]) => `${k}=${String(v)}`).join(',') || '<none>' }),
  ],
  statefulsets: [
    name,
    { name: 'Ready', type: 'string', description: 'Number of the pod with ready state.', cell: (x) => `${Number(o(x.status).readyReplicas ?? 0)}/${Number(o(x.spec).replicas ?? 0)}` },
    ageCol,
    containersCol(templateSpec),
    imagesCol(templateSpec),
  ],
  services: [
    name,
    { name: 'Type', type: 'string', description: 'The type of the service.', cell: (x) => String(o(x.spec).type ?? 'ClusterIP') },
    { name: 'Cluster-IP', type: 'string', description: 'The cluster IP of the service.', cell: (x) => none(o(x.spec).clusterIP) },
    {
      name: 'External-IP',
      type: 'string',
      description: 'The external IP of the service.',
      cell: (x) => {
        const ips = [...((o(x.spec).externalIPs as string[] | undefined) ?? []), ...a(o(o(x.status).loadBalancer).ingress).map((i) => String(i.ip ?? i.hostname ?? ''))];
        if (ips.length) return ips.join(',');
        if (o(x.spec).type === 'LoadBalancer') return '<pending>';
        if (o(x.spec).type === 'ExternalName') return String(o(x.spec).externalName ?? '');
        return '<none>';
      },
    },
    {
      name: 'Port(s)',
      type: 'string',
      description: 'The ports of the service.',
      cell: (x) => {
        const ports = a(o(x.spec).ports).map((p) => (p.nodePort ? `${String(p.port)}:${String(p.nodePort)}/${String(p.protocol ?? 'TCP')}` : `${String(p.port)}/${String(p.protocol ?? 'TCP')}`));
        return ports.length ? ports.join(',') : '<none>';
      },
    },
    ageCol,
    wide({ name: 'Selector', type: 'string', description: 'Label selector for pods.', cell: (x) => { const s = Object.entries(o(o(x.spec).selector)).map(([k, v]) => `${k}=${String(v)}`).join(','); return s || '<none>'; } }),
  ],
  nodes: [
    name,
    {
      name: 'Status',
      type: 'string',
      description: 'The status of the node.',
      cell: (x) => {
        const ready = a(o(x.status).conditions).find((c) => c.type === 'Ready');
        let s = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
        if (o(x.spec).unschedulable) s += ',SchedulingDisabled';
        return s;
      },
    },
    {
      name: 'Roles',
      type: 'string',
      description: 'The roles of the node.',
      cell: (x) => {
        const roles = Object.keys(o(o(x.metadata).labels)).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice('node-role.kubernetes.io/'.length));
        return roles.length ? roles.sort().join(',') : '<none>';
      },
    },
    ageCol,
    { name: 'Version', type: 'string', description: 'Kubelet version.', cell: (x) => String(o(o(x.status).nodeInfo).kubeletVersion ?? '') },
    wide({ name: 'Internal-IP', type: 'string', description: 'Internal IP.', cell: (x) => none(a(o(x.status).addresses).find((ad) => ad.type === 'InternalIP')?.address) }),
    wide({ name: 'External-IP', type: 'string', description: 'External IP.', cell: (x) => none(a(o(x.status).addresses).find((ad) => ad.type === 'ExternalIP')?.address) }),
    wide({ name: 'OS-Image', type: 'string', description: 'OS image.', cell: (x) => String(o(o(x.status).nodeInfo).osImage ?? '<unknown>') }),
    wide({ name: 'Kernel-Version', type: 'string', description: 'Kernel version.', cell: (x) => String(o(o(x.status).nodeInfo).kernelVersion ?? '<unknown>') }),
    wide({ name: 'Container-Runtime', type: 'string', description: 'Container runtime.', cell: (x) => String(o(o(x.status).nodeInfo).containerRuntimeVersion ?? '<unknown>') }),
  ],
  namespaces: [name, { name: 'Status', type: 'string', description: 'The status of the namespace.', cell: (x) => String(o(x.status).phase ?? 'Active') }, ageCol],
  events: [
    { name: 'Last Seen', type: 'string', description: 'Time when this event was last observed.', cell: (x) => age(x.lastTimestamp ?? x.eventTime ?? o(x.metadata).creationTimestamp) },
    { name: 'Type', type: 'string', description: 'Type of this event.', cell: (x) => String(x.type ?? '') },
    { name: 'Reason', type: 'string', description: 'Reason of this event.', cell: (x) => String(x.reason ?? '') },
    { name: 'Object', type: 'string', description: 'The object this event is about.', cell: (x) => `${String(o(x.involvedObject).kind ?? '').toLowerCase()}/${String(o(x.involvedObject).name ?? '')}` },
    { name: 'Message', type: 'string', description: 'A human-readable description of the status of this operation.', cell: (x) => String(x.message ?? '') },
    wide({ name: 'Subobject', type: 'string', description: 'The field of the object.', cell: (x) => String(o(x.involvedObject).fieldPath ?? '') }),
    wide({ name: 'Source', type: 'string', description: 'The component reporting this event.', cell: (x) => String(o(x.source).component ?? x.reportingComponent ?? '') }),
    wide({ name: 'First Seen', type: 'string', description: 'The time at which the event was first recorded.', cell: (x) => age(x.firstTimestamp ?? o(x.metadata).creationTimestamp) }),
    wide({ name: 'Count', type: 'string', description: 'The number of times this event has occurred.', cell: (x) => String(x.count ?? 1) }),
    wide({ name: 'Name', type: 'string', description: 'The name of the event.', cell: (x) => String(o(x.metadata).name ?? '') }),
  ],
  configmaps: [name, { name: 'Data', type: 'integer', description: 'Number of data entries.', cell: (x) => Object.keys(o(x.data)).length + Object.keys(o(x.binaryData)).length }, ageCol],
  secrets: [
    name,
    { name: 'Type', type: 'string', description: 'The type of the secret.', cell: (x) => String(x.type ?? 'Opaque') },
    { name: 'Data', type: 'integer', description: 'Number of data entries.', cell: (x) => Object.keys(o(x.data)).length },
    ageCol,
  ],
  jobs: [
    name,
    { name: 'Status', type: 'string', description: 'Status of the job.', cell: (x) => (a(o(x.status).conditions).find((c) => c.type === 'Complete' && c.status === 'True') ? 'Complete' : a(o(x.status).conditions).find((c) => c.type === 'Failed' && c.status === 'True') ? 'Failed' : 'Running') },
    { name: 'Completions', type: 'string', description: 'Completions.', cell: (x) => `${Number(o(x.status).succeeded ?? 0)}/${Number(o(x.spec).completions ?? 1)}` },
    { name: 'Duration', type: 'string', description: 'Duration.', cell: (x) => (o(x.status).startTime ? humanDuration((o(x.status).completionTime ? Date.parse(String(o(x.status).completionTime)) : Date.now()) - Date.parse(String(o(x.status).startTime))) : '') },
    ageCol,
  ],
};

export function tableColumns(info: ResourceInfo): Column[] {
  return COLUMNS[info.resource] ?? [name, ageCol];
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
