// The sink guard (issue 10, hole 4): objects given straight to the rule
// builders (bypassing the API server's validation, as a compromised or older
// API server could send them) are refused when a value is not an IP, CIDR,
// port, protocol or name; the other objects' rules are still produced and the
// real iptables-restore accepts them; refused objects fall back to their last
// good version; the route sync skips poisoned nodes.
import test from 'ava';
import { execFile } from 'node:child_process';
import { desiredRoutes, type NodeLike } from '../src/network.js';
import { filterRestoreInput, natRestoreInput, type EndpointsLike, type ServiceLike } from '../src/proxy/service_rules.js';
import { checkEndpoints, checkNodeRoute, checkService, isSafeIPv4Cidr, LastGood, safeIPFamily, SinkRefusal } from '../src/proxy/sink_guard.js';

/** iptables-restore's verdict on `text` without committing anything; undefined when accepted. */
function iptablesTest(text: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = execFile('iptables-restore', ['--test', '--noflush'], (e, _out, stderr) => resolve(e ? stderr || e.message : undefined));
    child.stdin!.end(text);
  });
}

const refusal = (fn: () => void): SinkRefusal => {
  try {
    fn();
  } catch (err) {
    if (err instanceof SinkRefusal) return err;
    throw err;
  }
  throw new Error('not refused');
};

const svc = (name: string, clusterIP: string, ports: unknown[] = [{ name: 'http', port: 80, protocol: 'TCP' }], extra: Record<string, unknown> = {}): ServiceLike =>
  ({ metadata: { namespace: 'shop', name }, spec: { clusterIP, ports, ...extra } }) as ServiceLike;
const eps = (name: string, ips: string[], ports: unknown[] = [{ name: 'http', port: 8080, protocol: 'TCP' }]): EndpointsLike =>
  ({ metadata: { namespace: 'shop', name }, subsets: [{ addresses: ips.map((ip) => ({ ip })), ports }] }) as EndpointsLike;

test('values: IPs need address characters and net.isIP, CIDRs are canonical IPv4, nothing with whitespace passes', (t) => {
  t.is(safeIPFamily('10.1.2.3'), 4);
  t.is(safeIPFamily('2001:db8::1'), 6);
  for (const bad of ['10.0.0.1\nCOMMIT', '10.0.0.1 -j ACCEPT', ' 10.0.0.1', '999.1.1.1', 'fe80::1%eth0', '010.0.0.1', '', 42, null]) t.is(safeIPFamily(bad), 0, JSON.stringify(bad));
  t.true(isSafeIPv4Cidr('10.244.1.0/24'));
  for (const bad of ['10.244.1.5/24', '0.0.0.0/0', '10.0.0.0/33', '10.0.0.0/024', '10.0.0.0/24 via 1.2.3.4', '10.0.0.0/24\n', 'fd00::/64', '10.0.0.0']) t.false(isSafeIPv4Cidr(bad), bad);
});

test('Service, Endpoints and Node checks name the object and the field', (t) => {
  const e = refusal(() => checkEndpoints(eps('web', ['10.213.1.5', '10.0.0.1\nCOMMIT\n*filter'])));
  t.is(e.code, 'SinkValueRefused');
  t.is(e.key, 'Endpoints shop/web');
  t.is(e.field, 'subsets[0].addresses[1].ip');
  t.is(refusal(() => checkEndpoints(eps('web', ['10.213.1.5'], [{ port: '80 -j ACCEPT' }]))).field, 'subsets[0].ports[0].port');
  t.is(refusal(() => checkEndpoints(eps('web', ['10.213.1.5'], [{ port: 80, protocol: 'TCP -j ACCEPT' }]))).field, 'subsets[0].ports[0].protocol');
  t.is(refusal(() => checkService(svc('web', '10.213.200.10 -j ACCEPT'))).field, 'spec.clusterIP');
  t.is(refusal(() => checkService(svc('web', '10.213.200.10', [{ port: 70000 }]))).field, 'spec.ports[0].port');
  t.is(refusal(() => checkService(svc('web', '10.213.200.10', [{ port: 80, nodePort: 1.5 }]))).field, 'spec.ports[0].nodePort');
  t.is(refusal(() => checkService(svc('web', '10.213.200.10', [{ port: 80, name: 'x" -j ACCEPT "' }]))).field, 'spec.ports[0].name');
  // The name ends up in a rule comment: quotes and spaces are refused.
  t.is(refusal(() => checkService({ metadata: { namespace: 'shop', name: 'web" -j ACCEPT #' }, spec: { clusterIP: '10.213.200.10', ports: [{ port: 80 }] } })).field, 'metadata.name');
  t.is(refusal(() => checkNodeRoute({ metadata: { name: 'n2' }, spec: { podCIDR: '0.0.0.0/0' } })).field, 'spec.podCIDR');
  t.is(refusal(() => checkNodeRoute({ metadata: { name: 'n2' }, spec: { podCIDR: '10.244.2.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.2 dev eth0' }] } })).field, 'status.addresses[0].address');
  t.notThrows(() => checkService(svc('web', '10.213.200.10')));
  t.notThrows(() => checkEndpoints(eps('web', ['10.213.1.5', '2001:db8::5'])));
  t.notThrows(() => checkNodeRoute({ metadata: { name: 'n2' }, spec: { podCIDR: '10.244.2.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.56.12' }] } }));
});

test('rule builders: poisoned Endpoints and Services are left out and reported, the others rules are produced, and iptables-restore accepts the input', async (t) => {
  const services = [
    svc('good', '10.213.200.10'),
    svc('poisoned-ep', '10.213.200.11'),
    svc('poisoned-svc', '10.213.200.12\nCOMMIT\n*filter\n-A INPUT -j ACCEPT'),
    svc('poisoned-port', '10.213.200.13', [{ port: '80 -j ACCEPT' }]),
    svc('v6', '2001:db8::10'),
  ];
  const endpoints = [
    eps('good', ['10.213.1.5', '10.213.2.7']),
    eps('poisoned-ep', ['10.213.1.6', '10.0.0.1\nCOMMIT\n*filter']),
    eps('poisoned-svc', ['10.213.1.7']),
    eps('poisoned-port', ['10.213.1.8']),
    eps('v6', ['2001:db8::5']),
  ];
  const refused: SinkRefusal[] = [];
  const nat = natRestoreInput(services, endpoints, [], (r) => refused.push(r));
  t.deepEqual(refused.map((r) => `${r.key} ${r.field}`).sort(), ['Endpoints shop/poisoned-ep subsets[0].addresses[1].ip', 'Service shop/poisoned-port spec.ports[0].port', 'Service shop/poisoned-svc spec.clusterIP']);
  t.false(nat.includes('COMMIT\n*filter\n-A'), 'no injected text');
  t.is(nat.split('\n').filter((l) => l === 'COMMIT').length, 1);
  t.true(nat.includes('-d 10.213.200.10/32'), 'the good service still has its rules');
  t.true(nat.includes('--to-destination 10.213.1.5:8080') && nat.includes('--to-destination 10.213.2.7:8080'));
  t.false(nat.includes('10.213.1.6'), 'nothing of the poisoned Endpoints');
  t.false(nat.includes('2001:db8'), 'IPv6 is not written into IPv4 iptables');
  t.is(await iptablesTest(nat), undefined);
  const filter = filterRestoreInput(services, endpoints);
  t.true(filter.includes('-d 10.213.200.11/32'), 'the service whose Endpoints were refused answers "refused" rather than nothing');
  t.false(filter.includes('10.213.200.12'));
  t.is(await iptablesTest(filter), undefined);
});

test('last good: a poisoned update keeps the previous version (reported once); a good one replaces it; gone objects are forgotten', (t) => {
  const good = new LastGood<EndpointsLike>((e) => `${e.metadata.namespace}/${e.metadata.name}`, checkEndpoints);
  const reports: SinkRefusal[] = [];
  const v1 = eps('web', ['10.213.1.5']);
  t.deepEqual(good.filter([v1, eps('other', ['10.213.3.3'])], (r) => reports.push(r)).map((e) => e.subsets![0]!.addresses![0]!.ip), ['10.213.1.5', '10.213.3.3']);
  const poisoned = eps('web', ['10.213.1.5 -j ACCEPT']);
  t.deepEqual(good.filter([poisoned, eps('other', ['10.213.3.3'])], (r) => reports.push(r)), [v1, eps('other', ['10.213.3.3'])]);
  t.deepEqual(good.filter([poisoned], (r) => reports.push(r)), [v1]);
  t.is(reports.length, 1, 'the same refusal is reported once');
  t.is(reports[0]!.field, 'subsets[0].addresses[0].ip');
  const v2 = eps('web', ['10.213.1.9']);
  t.deepEqual(good.filter([v2], (r) => reports.push(r)), [v2]);
  t.deepEqual(good.filter([], (r) => reports.push(r)), []);
  // Forgotten: a poisoned object that reappears has no last good version.
  t.deepEqual(good.filter([poisoned], (r) => reports.push(r)), []);
  t.is(reports.length, 2);
  // A new poisoned object without any good version is simply left out.
  t.deepEqual(new LastGood<ServiceLike>((s) => s.metadata.name, checkService).filter([svc('x', '1.2.3.4\n')], () => undefined), []);
});

test('route sync: nodes with a bad podCIDR or InternalIP get no route; the others do', (t) => {
  const nodes: NodeLike[] = [
    { metadata: { name: 'self' }, spec: { podCIDR: '10.244.0.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.56.10' }] } },
    { metadata: { name: 'n1' }, spec: { podCIDR: '10.244.1.0/24' }, status: { addresses: [{ type: 'InternalIP', address: 'fd00::11' }, { type: 'InternalIP', address: '192.168.56.11' }] } },
    { metadata: { name: 'n2' }, spec: { podCIDR: '0.0.0.0/0' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.56.12' }] } },
    { metadata: { name: 'n3' }, spec: { podCIDR: '10.244.3.0/24 dev eth0' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.56.13' }] } },
    { metadata: { name: 'n4' }, spec: { podCIDR: '10.244.4.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.56.14 onlink' }] } },
  ];
  const refused: SinkRefusal[] = [];
  t.deepEqual(desiredRoutes('self', nodes, (r) => refused.push(r)), [{ cidr: '10.244.1.0/24', via: '192.168.56.11' }]);
  t.deepEqual(refused.map((r) => `${r.key} ${r.field}`), ['Node default/n2 spec.podCIDR', 'Node default/n3 spec.podCIDR', 'Node default/n4 status.addresses[0].address']);
});
