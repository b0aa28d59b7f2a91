import test from 'ava';
import { reconcileEndpointSlices } from '../src/endpointslice/reconcile.js';
import { reconcileSlices, CONTROLLER_NAME, MIRRORING_CONTROLLER_NAME, type EndpointGroup } from '../src/endpointslice/slices.js';
import { reconcileMirroring } from '../src/endpointslicemirroring/reconcile.js';
import type { Action } from '../src/types.js';
import { objectOf, type Obj } from './helpers/world.js';

const svc = (extra: Record<string, unknown> = {}): Obj => ({
  metadata: { name: 'web', namespace: 'default', uid: 'svc-uid', labels: { team: 'a' } },
  spec: { selector: { app: 'web' }, clusterIP: '10.213.200.20', ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }], ...extra },
});
const pod = (name: string, ip: string, ready: boolean, opts: { deleting?: boolean; node?: string; hostname?: string; subdomain?: string; phase?: string } = {}): Obj => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: { app: 'web' }, ...(opts.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}) },
  spec: { nodeName: opts.node ?? 'n1', hostname: opts.hostname, subdomain: opts.subdomain, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
  status: { phase: opts.phase ?? 'Running', podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const nodes = new Map([['n1', { metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'z1' } } }]]);
const creates = (as: Action[]) => as.filter((a) => a.verb === 'create').map(objectOf);

test('slices of a service: labels, owner, ports, endpoint conditions, nodeName, zone, targetRef, hostname of a matching subdomain', (t) => {
  const pods = [
    pod('a', '10.0.0.2', true),
    pod('b', '10.0.0.3', false),
    pod('c', '10.0.0.4', true, { deleting: true }),
    pod('web-0', '10.0.0.5', true, { hostname: 'web-0', subdomain: 'web' }),
    pod('other', '10.0.0.6', true, { hostname: 'x', subdomain: 'elsewhere' }),
    pod('done', '10.0.0.7', true, { phase: 'Succeeded' }),
  ];
  const actions = reconcileEndpointSlices({ service: svc(), pods, nodes, slices: [] });
  t.is(actions.length, 1);
  const s = creates(actions)[0]!;
  t.is(s.metadata.generateName, 'web-');
  t.deepEqual(s.metadata.labels, { team: 'a', 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': CONTROLLER_NAME });
  t.deepEqual(s.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'svc-uid', controller: true, blockOwnerDeletion: true }]);
  t.is(s.addressType, 'IPv4');
  t.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  const eps = s.endpoints as Obj[];
  t.deepEqual(eps.map((e) => (e.addresses as string[])[0]), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.6', '10.0.0.5']);
  t.deepEqual(eps[0], { addresses: ['10.0.0.2'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1', zone: 'z1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' } });
  t.deepEqual(eps[1]!.conditions, { ready: false, serving: false, terminating: false });
  t.deepEqual(eps[2]!.conditions, { ready: false, serving: true, terminating: true }, 'a terminating ready pod: serving, not ready');
  t.is(eps[4]!.hostname, 'web-0');
  t.is(eps[3]!.hostname, undefined, 'another subdomain: no hostname');
  // publishNotReadyAddresses: every endpoint ready.
  const pub = creates(reconcileEndpointSlices({ service: svc({ publishNotReadyAddresses: true }), pods, nodes, slices: [] }))[0]!;
  t.true((pub.endpoints as Obj[]).every((e) => (e.conditions as { ready?: boolean }).ready === true));
  // Headless services carry the headless label.
  const hl = creates(reconcileEndpointSlices({ service: svc({ clusterIP: 'None' }), pods, nodes, slices: [] }))[0]!;
  t.is(hl.metadata.labels?.['service.kubernetes.io/headless'], '');
});

test('at most 100 endpoints per slice; a steady state writes nothing; removals update in place; an empty service keeps one placeholder', (t) => {
  const pods = Array.from({ length: 250 }, (_, i) => pod(`p${String(i).padStart(3, '0')}`, `10.1.${Math.floor(i / 200)}.${(i % 200) + 1}`, true));
  const first = creates(reconcileEndpointSlices({ service: svc(), pods, nodes, slices: [] }));
  t.deepEqual(first.map((s) => (s.endpoints as Obj[]).length), [100, 100, 50]);
  const stored: Obj[] = first.map((s, i) => ({ ...s, metadata: { ...s.metadata, name: `web-${i}`, uid: `s${i}`, resourceVersion: '1' } }));
  t.deepEqual(reconcileEndpointSlices({ service: svc(), pods, nodes, slices: stored as never }), []);
  // 10 pods go from the first slice, 5 new ones come: they fill the free room, no new slice.
  const next = [...pods.slice(10), ...Array.from({ length: 5 }, (_, i) => pod(`q${i}`, `10.2.0.${i + 1}`, true))];
  const actions = reconcileEndpointSlices({ service: svc(), pods: next, nodes, slices: stored as never });
  t.false(actions.some((a) => a.verb === 'create' || a.verb === 'delete'));
  const sizes = new Map(actions.map((a) => [objectOf(a).metadata.name, (objectOf(a).endpoints as Obj[]).length]));
  t.is([...sizes.values()].reduce((x, y) => x + y, 0) + [...stored].filter((s) => !sizes.has(s.metadata.name)).reduce((x, s) => x + (s.endpoints as Obj[]).length, 0), 245);
  // No pods at all: one placeholder slice without endpoints or ports; the others deleted after.
  const empty = reconcileEndpointSlices({ service: svc(), pods: [], nodes, slices: stored as never });
  t.is(empty.filter((a) => a.verb === 'delete').length, 3);
  const ph = creates(empty);
  t.is(ph.length, 1);
  t.deepEqual([ph[0]!.endpoints, ph[0]!.ports], [[], []]);
  t.is(empty[0]!.verb, 'create', 'the placeholder is made before the old slices go');
  t.is(empty[empty.length - 1]!.verb, 'delete', 'deletes come last');
  t.deepEqual(creates(reconcileEndpointSlices({ service: svc(), pods: [], nodes, slices: [] })).map((s) => [s.endpoints, s.ports]), [[[], []]]);
});

test('services without selector or of type ExternalName get no slices from this controller', (t) => {
  t.deepEqual(reconcileEndpointSlices({ service: svc({ selector: undefined }), pods: [pod('a', '10.0.0.2', true)], nodes, slices: [] }), []);
  t.deepEqual(reconcileEndpointSlices({ service: svc({ type: 'ExternalName', externalName: 'example.com' }), pods: [pod('a', '10.0.0.2', true)], nodes, slices: [] }), []);
});

test('a port list change moves endpoints to a slice of the new ports and deletes the old one', (t) => {
  const g = (port: number): EndpointGroup => ({ addressType: 'IPv4', ports: [{ name: '', port, protocol: 'TCP' }], endpoints: [{ addresses: ['10.0.0.1'] }] });
  const owner = { namespace: 'default', generateName: 'x-', labels: { a: 'b' }, ownerReference: { apiVersion: 'v1', kind: 'Service', name: 'x', uid: 'u' } };
  const old = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'x-1', namespace: 'default', uid: 'o', labels: { a: 'b' } }, addressType: 'IPv4', ports: [{ name: '', port: 80, protocol: 'TCP' }], endpoints: [{ addresses: ['10.0.0.1'] }] };
  const actions = reconcileSlices(owner, [g(81)], [old], 'IPv4');
  t.deepEqual(actions.map((a) => a.verb), ['create', 'delete']);
});

test('mirroring: custom Endpoints of a selector-less service become slices; skip-mirror and selector services are not mirrored', (t) => {
  const ep = {
    metadata: { name: 'ext', namespace: 'default', uid: 'ep-uid', labels: { l: 'v' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', keep: 'me' } },
    subsets: [{ addresses: [{ ip: '192.0.2.1', hostname: 'h1' }], notReadyAddresses: [{ ip: '192.0.2.2' }], ports: [{ name: 'db', port: 5432, protocol: 'TCP' }] }],
  };
  const service = { metadata: { name: 'ext', namespace: 'default', uid: 's' }, spec: { ports: [{ name: 'db', port: 5432 }] } };
  const actions = reconcileMirroring({ namespace: 'default', name: 'ext', endpoints: ep as never, service: service as never, slices: [] });
  const s = creates(actions)[0]!;
  t.deepEqual(s.metadata.labels, { l: 'v', 'kubernetes.io/service-name': 'ext', 'endpointslice.kubernetes.io/managed-by': MIRRORING_CONTROLLER_NAME });
  t.deepEqual(s.metadata.annotations, { keep: 'me' });
  t.is(s.metadata.ownerReferences?.[0]?.kind, 'Endpoints');
  t.deepEqual(s.ports, [{ name: 'db', port: 5432, protocol: 'TCP' }]);
  t.deepEqual(s.endpoints, [
    { addresses: ['192.0.2.1'], conditions: { ready: true, serving: true, terminating: false }, hostname: 'h1' },
    { addresses: ['192.0.2.2'], conditions: { ready: false, serving: false, terminating: false } },
  ]);
  const stored = { ...s, metadata: { ...s.metadata, name: 'ext-1', uid: 'm1' } };
  const skip = { ...ep, metadata: { ...ep.metadata, labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } } };
  t.deepEqual(reconcileMirroring({ namespace: 'default', name: 'ext', endpoints: skip as never, service: service as never, slices: [stored as never] }).map((a) => a.verb), ['delete']);
  const selected = { ...service, spec: { ...service.spec, selector: { app: 'x' } } };
  t.deepEqual(reconcileMirroring({ namespace: 'default', name: 'ext', endpoints: ep as never, service: selected as never, slices: [stored as never] }).map((a) => a.verb), ['delete']);
});
