import test from 'ava';
import { reconcileEndpoints, resolveTargetPort, computeSubsets } from '../src/endpoints/reconcile.js';
import { objectOf, type Obj } from './helpers/world.js';

const svc = (ports: unknown[], extra: Record<string, unknown> = {}): Obj => ({ metadata: { name: 'web', namespace: 'default', labels: { team: 'a' } }, spec: { selector: { app: 'web' }, ports, ...extra } });
const pod = (name: string, ip: string | undefined, ready: boolean, opts: { ports?: unknown[]; labels?: Record<string, string>; phase?: string; deleting?: boolean } = {}): Obj => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: opts.labels ?? { app: 'web' }, ...(opts.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}) },
  spec: { nodeName: 'n1', containers: [{ name: 'c', ports: opts.ports ?? [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
  status: { phase: opts.phase ?? 'Running', ...(ip ? { podIP: ip } : {}), conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

test('targetPort: number, numeric string, named container port (protocol must match), default to port', (t) => {
  const p = pod('a', '10.0.0.1', true, { ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] });
  t.is(resolveTargetPort(p, { port: 80, targetPort: 9000 }), 9000);
  t.is(resolveTargetPort(p, { port: 80, targetPort: '9001' }), 9001);
  t.is(resolveTargetPort(p, { port: 80, targetPort: 'http' }), 8080);
  t.is(resolveTargetPort(p, { port: 53, targetPort: 'dns', protocol: 'UDP' }), 53);
  t.is(resolveTargetPort(p, { port: 53, targetPort: 'dns', protocol: 'TCP' }), undefined);
  t.is(resolveTargetPort(p, { port: 80, targetPort: 'nope' }), undefined);
  t.is(resolveTargetPort(p, { port: 80 }), 80);
});

test('ready pods in addresses, unready in notReadyAddresses; no IP, terminal, deleting or non-matching pods are left out', (t) => {
  const pods = [
    pod('b', '10.0.0.12', true),
    pod('a', '10.0.0.2', true),
    pod('c', '10.0.0.3', false),
    pod('noip', undefined, true),
    pod('done', '10.0.0.4', true, { phase: 'Succeeded' }),
    pod('going', '10.0.0.5', true, { deleting: true }),
    pod('other', '10.0.0.6', true, { labels: { app: 'other' } }),
  ];
  const [create] = reconcileEndpoints({ service: svc([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]), pods, endpoints: undefined, namespace: 'default', name: 'web' });
  t.is(create!.verb, 'create');
  const ep = objectOf(create);
  t.deepEqual(ep.metadata.labels, { team: 'a' });
  t.deepEqual(ep.subsets, [
    {
      addresses: [
        { ip: '10.0.0.2', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' } },
        { ip: '10.0.0.12', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'uid-b' } },
      ],
      notReadyAddresses: [{ ip: '10.0.0.3', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'c', uid: 'uid-c' } }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  ]);
  // Unchanged: no write. Changed readiness: an update of the existing object.
  t.deepEqual(reconcileEndpoints({ service: svc([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]), pods, endpoints: { ...ep, metadata: { ...ep.metadata, resourceVersion: '5' } }, namespace: 'default', name: 'web' }), []);
  pods[2]!.status.conditions[0].status = 'True';
  const [upd] = reconcileEndpoints({ service: svc([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]), pods, endpoints: { ...ep, metadata: { ...ep.metadata, resourceVersion: '5' } }, namespace: 'default', name: 'web' });
  t.is(upd!.verb, 'update');
  t.is(objectOf(upd).metadata.resourceVersion, '5');
  t.is((objectOf(upd).subsets as Array<{ addresses: unknown[] }>)[0]!.addresses.length, 3); // eslint-disable-line @typescript-eslint/no-explicit-any
});

test('pods that resolve named ports differently land in different subsets; pods missing the named port are left out', (t) => {
  const pods = [pod('a', '10.0.0.1', true), pod('b', '10.0.0.2', true, { ports: [{ name: 'http', containerPort: 9090 }] }), pod('c', '10.0.0.3', true, { ports: [] })];
  const subsets = computeSubsets(svc([{ name: 'http', port: 80, targetPort: 'http' }]), pods);
  t.is(subsets.length, 2);
  t.deepEqual(subsets.map((s) => [s.ports![0]!.port, s.addresses!.map((a) => a.ip)]).sort(), [[8080, ['10.0.0.1']], [9090, ['10.0.0.2']]]);
});

test('publishNotReadyAddresses, services without selector, deleted services', (t) => {
  const subsets = computeSubsets(svc([{ port: 80 }], { publishNotReadyAddresses: true }), [pod('a', '10.0.0.1', false)]);
  t.is(subsets[0]!.addresses!.length, 1);
  t.deepEqual(reconcileEndpoints({ service: { metadata: { name: 'x', namespace: 'default' }, spec: { ports: [{ port: 80 }] } }, pods: [], endpoints: undefined, namespace: 'default', name: 'x' }), []);
  const del = reconcileEndpoints({ service: undefined, pods: [], endpoints: { metadata: { name: 'x', namespace: 'default', uid: 'u1' } }, namespace: 'default', name: 'x' });
  t.like(del[0], { verb: 'delete', name: 'x', uid: 'u1' });
});
