// Printer columns per served resource, as upstream's printers
// (pkg/printers/internalversion AddHandlers, kube-aggregator's APIService
// table, the default Name/Created At convertor): column names, types,
// priorities and cell values for a sample object; then the real kubectl 1.27
// and 1.33 print them from a real API server (Table over HTTPS).
import { execFile } from 'node:child_process';
import test from 'ava';
import { findResource, type JsonObject } from '@mkube/api';
import { humanDuration, toTable } from '../src/http/table.js';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const ago = (ms: number): string => new Date(Date.now() - ms).toISOString().replace(/\.\d+Z$/, 'Z');
const MIN = 60_000;
const meta = (extra: JsonObject = {}): JsonObject => ({ name: 'x', namespace: 'default', creationTimestamp: ago(25 * MIN), ...extra });
const tpl = { spec: { containers: [{ name: 'a', image: 'busybox:1' }, { name: 'b', image: 'nginx:2' }] } };

interface Case { group?: string; resource: string; obj: JsonObject; columns: string; cells: unknown[] }
// columns: upstream's names in order, '*' marking priority-1 (-o wide) columns.
const cases = (): Case[] => [
  {
    resource: 'pods',
    obj: { metadata: meta(), spec: { nodeName: 'n1', containers: [{ name: 'a' }, { name: 'b' }], readinessGates: [{ conditionType: 'g' }] }, status: { phase: 'Running', podIP: '10.0.0.5', podIPs: [{ ip: '10.0.0.5' }], conditions: [{ type: 'g', status: 'True' }], containerStatuses: [{ name: 'a', ready: true, restartCount: 2, state: { running: {} }, lastState: { terminated: { exitCode: 1, finishedAt: ago(30 * MIN) } } }, { name: 'b', ready: false, restartCount: 0, state: { waiting: { reason: 'CrashLoopBackOff' } } }] } },
    columns: 'Name Ready Status Restarts Age *IP *Node *Nominated_Node *Readiness_Gates',
    cells: ['x', '1/2', 'CrashLoopBackOff', '2 (30m ago)', '25m', '10.0.0.5', 'n1', '<none>', '1/1'],
  },
  {
    resource: 'pods',
    obj: { metadata: meta({ deletionTimestamp: ago(0) }), spec: { initContainers: [{ name: 'i' }], containers: [{ name: 'a' }] }, status: { phase: 'Pending', initContainerStatuses: [{ name: 'i', restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }] } },
    columns: 'Name Ready Status Restarts Age *IP *Node *Nominated_Node *Readiness_Gates',
    cells: ['x', '0/1', 'Terminating', '0', '25m', '<none>', '<none>', '<none>', '<none>'],
  },
  {
    group: 'apps', resource: 'deployments',
    obj: { metadata: meta(), spec: { replicas: 3, selector: { matchLabels: { app: 'x' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }, { key: 'b', operator: 'Exists' }] }, template: tpl }, status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 1 } },
    columns: 'Name Ready Up-to-date Available Age *Containers *Images *Selector',
    cells: ['x', '2/3', 3, 1, '25m', 'a,b', 'busybox:1,nginx:2', 'app=x,b,tier in (api,web)'],
  },
  {
    group: 'apps', resource: 'replicasets',
    obj: { metadata: meta(), spec: { replicas: 2, selector: {}, template: tpl }, status: { replicas: 2 } },
    columns: 'Name Desired Current Ready Age *Containers *Images *Selector',
    cells: ['x', 2, 2, 0, '25m', 'a,b', 'busybox:1,nginx:2', '<none>'],
  },
  {
    resource: 'replicationcontrollers',
    obj: { metadata: meta(), spec: { replicas: 1, selector: { b: '2', a: '1' }, template: tpl }, status: { replicas: 1, readyReplicas: 1 } },
    columns: 'Name Desired Current Ready Age *Containers *Images *Selector',
    cells: ['x', 1, 1, 1, '25m', 'a,b', 'busybox:1,nginx:2', 'a=1,b=2'],
  },
  {
    group: 'apps', resource: 'daemonsets',
    obj: { metadata: meta(), spec: { selector: { matchLabels: { app: 'd' } }, template: { spec: { ...tpl.spec, nodeSelector: { 'kubernetes.io/os': 'linux' } } } }, status: { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 3, numberAvailable: 2 } },
    columns: 'Name Desired Current Ready Up-to-date Available Node_Selector Age *Containers *Images *Selector',
    cells: ['x', 3, 3, 2, 3, 2, 'kubernetes.io/os=linux', '25m', 'a,b', 'busybox:1,nginx:2', 'app=d'],
  },
  {
    group: 'apps', resource: 'statefulsets',
    obj: { metadata: meta(), spec: { replicas: 3, template: tpl }, status: { readyReplicas: 1 } },
    columns: 'Name Ready Age *Containers *Images',
    cells: ['x', '1/3', '25m', 'a,b', 'busybox:1,nginx:2'],
  },
  {
    group: 'batch', resource: 'jobs',
    obj: { metadata: meta(), spec: { parallelism: 2, selector: { matchLabels: { j: '1' } }, template: tpl }, status: { succeeded: 1, startTime: ago(4 * MIN), completionTime: ago(MIN), conditions: [{ type: 'Complete', status: 'True' }] } },
    columns: 'Name Status Completions Duration Age *Containers *Images *Selector',
    cells: ['x', 'Complete', '1/1 of 2', '3m', '25m', 'a,b', 'busybox:1,nginx:2', 'j=1'],
  },
  {
    group: 'batch', resource: 'cronjobs',
    obj: { metadata: meta(), spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { template: tpl } } }, status: { active: [{ name: 'j1' }], lastScheduleTime: ago(40 * MIN) } },
    columns: 'Name Schedule Timezone Suspend Active Last_Schedule Age *Containers *Images *Selector',
    cells: ['x', '*/5 * * * *', '<none>', '<unset>', 1, '40m', '25m', 'a,b', 'busybox:1,nginx:2', '<none>'],
  },
  {
    resource: 'services',
    obj: { metadata: meta(), spec: { type: 'NodePort', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }], selector: { app: 'web' } } },
    columns: 'Name Type Cluster-IP External-IP Port(s) Age *Selector',
    cells: ['x', 'NodePort', '10.96.0.10', '<none>', '80:30080/TCP,53/UDP', '25m', 'app=web'],
  },
  {
    resource: 'services',
    obj: { metadata: meta(), spec: { type: 'LoadBalancer', clusterIP: 'None', clusterIPs: ['None'], ports: [] } },
    columns: 'Name Type Cluster-IP External-IP Port(s) Age *Selector',
    cells: ['x', 'LoadBalancer', 'None', '<pending>', '<none>', '25m', '<none>'],
  },
  {
    resource: 'endpoints',
    obj: { metadata: meta(), subsets: [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }, { port: 443 }] }] },
    columns: 'Name Endpoints Age',
    cells: ['x', '10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...', '25m'],
  },
  {
    resource: 'endpoints',
    obj: { metadata: meta() },
    columns: 'Name Endpoints Age',
    cells: ['x', '<none>', '25m'],
  },
  {
    group: 'networking.k8s.io', resource: 'ingresses',
    obj: { metadata: meta(), spec: { rules: [{ host: 'a.example' }, { host: 'b.example' }], tls: [{ hosts: ['a.example'] }] }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.2' }, { hostname: 'lb.example' }] } } },
    columns: 'Name Class Hosts Address Ports Age',
    cells: ['x', '<none>', 'a.example,b.example', '192.0.2.2,lb.example', '80, 443', '25m'],
  },
  {
    group: 'discovery.k8s.io', resource: 'endpointslices',
    obj: { metadata: meta(), addressType: 'IPv4', ports: [{ name: 'a', port: 80 }, { name: 'b' }, { port: 82 }, { port: 83 }], endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }, { addresses: ['10.0.0.3'] }, { addresses: ['10.0.0.4'] }, { addresses: ['10.0.0.5'] }] },
    columns: 'Name AddressType Ports Endpoints Age',
    cells: ['x', 'IPv4', '80,b,82 + 1 more...', '10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...', '25m'],
  },
  {
    group: 'discovery.k8s.io', resource: 'endpointslices',
    obj: { metadata: meta(), addressType: 'IPv4', endpoints: [] },
    columns: 'Name AddressType Ports Endpoints Age',
    cells: ['x', 'IPv4', '<unset>', '<unset>', '25m'],
  },
  {
    group: 'networking.k8s.io', resource: 'ingressclasses',
    obj: { metadata: meta(), spec: { controller: 'example.com/ingress', parameters: { apiGroup: 'k8s.example.com', kind: 'IngressParameters', name: 'p' } } },
    columns: 'Name Controller Parameters Age',
    cells: ['x', 'example.com/ingress', 'IngressParameters.k8s.example.com/p', '25m'],
  },
  {
    resource: 'nodes',
    obj: { metadata: meta({ labels: { 'node-role.kubernetes.io/control-plane': '', 'node-role.kubernetes.io/worker': '' } }), spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'False' }], addresses: [{ type: 'InternalIP', address: '192.168.1.2' }], nodeInfo: { kubeletVersion: 'v1.31.0', osImage: 'Debian', kernelVersion: '6.1', containerRuntimeVersion: 'containerd://1.7' } } },
    columns: 'Name Status Roles Age Version *Internal-IP *External-IP *OS-Image *Kernel-Version *Container-Runtime',
    cells: ['x', 'NotReady,SchedulingDisabled', 'control-plane,worker', '25m', 'v1.31.0', '192.168.1.2', '<none>', 'Debian', '6.1', 'containerd://1.7'],
  },
  {
    resource: 'events',
    obj: { metadata: meta({ name: 'ev1' }), involvedObject: { kind: 'Pod', name: 'p', fieldPath: 'spec.containers{a}' }, reason: 'Pulled', type: 'Normal', message: ' pulled \n', source: { component: 'kubelet', host: 'n1' }, firstTimestamp: ago(70 * MIN), lastTimestamp: ago(50 * MIN), count: 4 },
    columns: 'Last_Seen Type Reason Object *Subobject *Source Message *First_Seen *Count *Name',
    cells: ['50m', 'Normal', 'Pulled', 'pod/p', 'spec.containers{a}', 'kubelet, n1', 'pulled', '70m', 4, 'ev1'],
  },
  {
    resource: 'namespaces',
    obj: { metadata: meta(), status: { phase: 'Terminating' } },
    columns: 'Name Status Age',
    cells: ['x', 'Terminating', '25m'],
  },
  {
    resource: 'configmaps',
    obj: { metadata: meta(), data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } },
    columns: 'Name Data Age',
    cells: ['x', 3, '25m'],
  },
  {
    resource: 'secrets',
    obj: { metadata: meta(), type: 'kubernetes.io/tls', data: { 'tls.crt': '', 'tls.key': '' } },
    columns: 'Name Type Data Age',
    cells: ['x', 'kubernetes.io/tls', 2, '25m'],
  },
  { resource: 'serviceaccounts', obj: { metadata: meta(), secrets: [{ name: 's' }] }, columns: 'Name Age', cells: ['x', '25m'] },
  { group: 'coordination.k8s.io', resource: 'leases', obj: { metadata: meta(), spec: { holderIdentity: 'node-1' } }, columns: 'Name Holder Age', cells: ['x', 'node-1', '25m'] },
  { group: 'coordination.k8s.io', resource: 'leases', obj: { metadata: meta(), spec: {} }, columns: 'Name Holder Age', cells: ['x', '<none>', '25m'] },
  {
    group: 'rbac.authorization.k8s.io', resource: 'rolebindings',
    obj: { metadata: meta(), roleRef: { kind: 'ClusterRole', name: 'view', apiGroup: 'rbac.authorization.k8s.io' }, subjects: [{ kind: 'User', name: 'alice' }, { kind: 'User', name: 'bob' }, { kind: 'Group', name: 'devs' }, { kind: 'ServiceAccount', namespace: 'ns1', name: 'sa1' }] },
    columns: 'Name Role Age *Users *Groups *ServiceAccounts',
    cells: ['x', 'ClusterRole/view', '25m', 'alice, bob', 'devs', 'ns1/sa1'],
  },
  {
    group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings',
    obj: { metadata: meta(), roleRef: { kind: 'ClusterRole', name: 'admin' } },
    columns: 'Name Role Age *Users *Groups *ServiceAccounts',
    cells: ['x', 'ClusterRole/admin', '25m', '', '', ''],
  },
  { group: 'rbac.authorization.k8s.io', resource: 'roles', obj: { metadata: meta({ creationTimestamp: '2024-01-02T03:04:05Z' }) }, columns: 'Name Created_At', cells: ['x', '2024-01-02T03:04:05Z'] },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', obj: { metadata: meta({ creationTimestamp: '2024-01-02T03:04:05Z' }) }, columns: 'Name Created_At', cells: ['x', '2024-01-02T03:04:05Z'] },
  {
    group: 'scheduling.k8s.io', resource: 'priorityclasses',
    obj: { metadata: meta(), value: 1000, globalDefault: true, preemptionPolicy: 'Never' },
    columns: 'Name Value Global-Default Age PreemptionPolicy',
    cells: ['x', 1000, true, '25m', 'Never'],
  },
  {
    group: 'apiregistration.k8s.io', resource: 'apiservices',
    obj: { metadata: meta(), spec: { group: 'g.example', version: 'v1', service: { namespace: 'ns', name: 'svc' } }, status: { conditions: [{ type: 'Available', status: 'False', reason: 'MissingEndpoints' }] } },
    columns: 'Name Service Available Age',
    cells: ['x', 'ns/svc', 'False (MissingEndpoints)', '25m'],
  },
];

for (const [i, c0] of cases().entries()) {
  test(`columns and cells: ${c0.resource} #${i}`, (t) => {
    const c = cases()[i];
    const info = findResource(c.group ?? '', 'v1', c.resource);
    if (!info) return t.fail(`${c.resource} is not served`);
    const table = toTable(info, [c.obj], { includeObject: 'None' }) as { columnDefinitions: { name: string; priority: number }[]; rows: { cells: unknown[] }[] };
    t.is(table.columnDefinitions.map((d) => `${d.priority ? '*' : ''}${d.name.replace(/ /g, '_')}`).join(' '), c.columns);
    t.deepEqual(table.rows[0].cells, c.cells);
  });
}

test('HumanDuration as upstream', (t) => {
  const cases: [number, string][] = [[-2000, '<invalid>'], [-500, '0s'], [0, '0s'], [119_000, '119s'], [120_000, '2m'], [150_000, '2m30s'], [600_000, '10m'], [3 * 3600_000, '3h'], [3 * 3600_000 + 5 * MIN, '3h5m'], [8 * 3600_000 + 5 * MIN, '8h'], [48 * 3600_000, '2d'], [50 * 3600_000, '2d2h'], [8 * 86400_000, '8d'], [730 * 86400_000, '2y'], [731 * 86400_000, '2y1d'], [2920 * 86400_000, '8y']];
  for (const [ms, want] of cases) t.is(humanDuration(ms), want, String(ms));
});

// --- the real kubectl against a real API server ---

const BIN = '/usr/lib/google-cloud-sdk/bin';
let fx: Fixture;
test.before(async () => {
  fx = await startFixture();
});
test.after.always(async () => {
  await fx?.stop();
});

function kubectl(bin: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { env: { ...process.env, KUBECONFIG: fx.server.kubeconfigPath, HOME: fx.dir }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}
const words = (line: string): string[] => line.trim().split(/\s{2,}/);

test.serial('kubectl 1.27 and 1.33 print upstream columns for endpoints, services, configmaps, secrets, leases, priorityclasses', async (t) => {
  const ns = 'printers';
  t.is((await api(fx.server, 'POST', '/api/v1/namespaces', { metadata: { name: ns } })).status, 201);
  const created = await Promise.all([
    api(fx.server, 'POST', `/api/v1/namespaces/${ns}/endpoints`, { metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }, { ip: '10.0.0.4' }], ports: [{ port: 80 }] }] }),
    api(fx.server, 'POST', `/api/v1/namespaces/${ns}/services`, { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP' }] } }),
    api(fx.server, 'POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'cfg' }, data: { a: '1', b: '2' } }),
    api(fx.server, 'POST', `/api/v1/namespaces/${ns}/secrets`, { metadata: { name: 'sec' }, type: 'Opaque', data: { k: 'dg==' } }),
    api(fx.server, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, { metadata: { name: 'l' }, spec: { holderIdentity: 'me' } }),
    api(fx.server, 'POST', '/apis/scheduling.k8s.io/v1/priorityclasses', { metadata: { name: 'printers-high' }, value: 1000 }),
  ]);
  for (const r of created) t.is(r.status, 201, JSON.stringify(r.body));
  for (const v of ['kubectl.1.27', 'kubectl.1.33']) {
    const get = async (args: string[]): Promise<string[][]> => {
      const r = await kubectl(`${BIN}/${v}`, args);
      t.is(r.code, 0, `${v} ${args.join(' ')}: ${r.err}`);
      return r.out.trim().split('\n').map(words);
    };
    const ep = await get(['-n', ns, 'get', 'endpoints', 'web']);
    t.deepEqual(ep[0], ['NAME', 'ENDPOINTS', 'AGE'], v);
    t.deepEqual(ep[1].slice(0, 2), ['web', '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...'], v);
    const svc = await get(['-n', ns, 'get', 'services', 'web', '-o', 'wide']);
    t.deepEqual(svc[0], ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR'], v);
    t.is(svc[1][1], 'ClusterIP');
    t.regex(svc[1][2], /^\d+\.\d+\.\d+\.\d+$/);
    t.deepEqual([svc[1][3], svc[1][4], svc[1][6]], ['<none>', '80/TCP', 'app=web']);
    const cm = await get(['-n', ns, 'get', 'configmap', 'cfg']);
    t.deepEqual(cm[0], ['NAME', 'DATA', 'AGE']);
    t.deepEqual(cm[1].slice(0, 2), ['cfg', '2']);
    const sec = await get(['-n', ns, 'get', 'secret', 'sec']);
    t.deepEqual(sec[0], ['NAME', 'TYPE', 'DATA', 'AGE']);
    t.deepEqual(sec[1].slice(0, 3), ['sec', 'Opaque', '1']);
    const lease = await get(['-n', ns, 'get', 'lease', 'l']);
    t.deepEqual(lease[0], ['NAME', 'HOLDER', 'AGE']);
    t.deepEqual(lease[1].slice(0, 2), ['l', 'me']);
    const pc = await get(['get', 'priorityclass', 'printers-high']);
    t.deepEqual(pc[0], ['NAME', 'VALUE', 'GLOBAL-DEFAULT', 'AGE', 'PREEMPTIONPOLICY']);
    t.deepEqual([pc[1][0], pc[1][1], pc[1][2]], ['printers-high', '1000', 'false']);
    const roles = await get(['get', 'clusterroles', 'cluster-admin']);
    t.deepEqual(roles[0], ['NAME', 'CREATED AT']);
    t.regex(roles[1][1], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }
});
