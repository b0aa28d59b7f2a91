import test from 'ava';
import type { EndpointSlice, Service } from '@mkube/api';
import { ClusterZone } from '../src/zone.js';
import { reverseName, dashedAddress } from '../src/names.js';

const svc = (name: string, spec: Service['spec'], ns = 'default'): Service => ({ metadata: { name, namespace: ns }, spec });
const slice = (name: string, service: string, endpoints: EndpointSlice['endpoints'], ports: EndpointSlice['ports'] = [], addressType = 'IPv4'): EndpointSlice => ({
  metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
  addressType,
  endpoints,
  ports,
});
const data = (a: { answers: unknown[] }) => a.answers.map((x) => (x as { data: unknown }).data);

test('names: reverse names of IPv4 and IPv6, dashed addresses', (t) => {
  t.is(reverseName('10.213.200.10'), '10.200.213.10.in-addr.arpa');
  t.is(reverseName('fd00::1'), `1.0.0.0.${'0.'.repeat(26)}d.f.ip6.arpa`);
  t.is(dashedAddress('10.0.0.1'), '10-0-0-1');
});

test('a ClusterIP service: A, AAAA, SRV per named port with the A in additionals, PTR; case-insensitive; NODATA and NXDOMAIN carry the SOA', (t) => {
  const z = new ClusterZone();
  z.upsertService(svc('web', { clusterIP: '10.213.200.20', clusterIPs: ['10.213.200.20', 'fd00::20'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { port: 81 }] }));
  const a = z.lookup('Web.Default.svc.cluster.local.', 'A')!;
  t.is(a.rcode, 'NOERROR');
  t.deepEqual(data(a), ['10.213.200.20']);
  t.is((a.answers[0] as { ttl: number }).ttl, 5);
  t.deepEqual(data(z.lookup('web.default.svc.cluster.local', 'AAAA')!), ['fd00::20']);
  const srv = z.lookup('_http._tcp.web.default.svc.cluster.local', 'SRV')!;
  t.deepEqual(data(srv), [{ priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' }]);
  t.deepEqual(srv.additionals.map((x) => (x as { data: unknown }).data), ['10.213.200.20', 'fd00::20']);
  t.deepEqual(data(z.lookup('20.200.213.10.in-addr.arpa', 'PTR')!), ['web.default.svc.cluster.local']);
  const nodata = z.lookup('web.default.svc.cluster.local', 'TXT')!;
  t.deepEqual([nodata.rcode, nodata.answers.length, nodata.authorities[0]?.type], ['NOERROR', 0, 'SOA']);
  const nx = z.lookup('nope.default.svc.cluster.local', 'A')!;
  t.deepEqual([nx.rcode, nx.authorities[0]?.type], ['NXDOMAIN', 'SOA']);
  t.is(z.lookup('default.svc.cluster.local', 'A')!.rcode, 'NOERROR', 'an existing namespace is an empty non-terminal');
  t.deepEqual(data(z.lookup('dns-version.cluster.local', 'TXT')!), [['1.1.0']]);
  t.is(z.lookup('example.com', 'A'), undefined, 'outside the zone: forwarded');
  t.is(z.lookup('1.1.168.192.in-addr.arpa', 'PTR'), undefined, 'unknown reverse names: forwarded');
  z.deleteService(svc('web', {}));
  t.is(z.lookup('web.default.svc.cluster.local', 'A')!.rcode, 'NXDOMAIN');
  t.is(z.lookup('20.200.213.10.in-addr.arpa', 'PTR'), undefined);
});

test('a headless service: ready endpoints, hostnames (own or dashed), SRV per endpoint, PTR; publishNotReadyAddresses; no endpoints is NODATA', (t) => {
  const z = new ClusterZone();
  z.upsertService(svc('db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }));
  t.deepEqual([z.lookup('db.default.svc.cluster.local', 'A')!.rcode, z.lookup('db.default.svc.cluster.local', 'A')!.answers.length], ['NOERROR', 0]);
  z.upsertSlice(slice('db-abc', 'db', [
    { addresses: ['10.1.0.5'], hostname: 'db-0', conditions: { ready: true } },
    { addresses: ['10.1.0.6'], conditions: { ready: true } },
    { addresses: ['10.1.0.7'], hostname: 'db-2', conditions: { ready: false } },
  ], [{ name: 'pg', port: 5432, protocol: 'TCP' }]));
  t.deepEqual(data(z.lookup('db.default.svc.cluster.local', 'A')!), ['10.1.0.5', '10.1.0.6']);
  t.deepEqual(data(z.lookup('db-0.db.default.svc.cluster.local', 'A')!), ['10.1.0.5']);
  t.deepEqual(data(z.lookup('10-1-0-6.db.default.svc.cluster.local', 'A')!), ['10.1.0.6']);
  t.is(z.lookup('db-2.db.default.svc.cluster.local', 'A')!.rcode, 'NXDOMAIN', 'not ready: no record');
  t.deepEqual(data(z.lookup('_pg._tcp.db.default.svc.cluster.local', 'SRV')!).map((d) => (d as { target: string }).target), ['db-0.db.default.svc.cluster.local', '10-1-0-6.db.default.svc.cluster.local']);
  t.deepEqual(data(z.lookup('5.0.1.10.in-addr.arpa', 'PTR')!), ['db-0.db.default.svc.cluster.local']);
  z.upsertService(svc('db', { clusterIP: 'None', publishNotReadyAddresses: true, ports: [{ name: 'pg', port: 5432 }] }));
  t.deepEqual(data(z.lookup('db-2.db.default.svc.cluster.local', 'A')!), ['10.1.0.7']);
  z.deleteSlice(slice('db-abc', 'db', []));
  t.is(z.lookup('db-0.db.default.svc.cluster.local', 'A')!.rcode, 'NXDOMAIN');
});

test('ExternalName is a CNAME; pods by dashed address', (t) => {
  const z = new ClusterZone();
  z.upsertService(svc('ext', { type: 'ExternalName', externalName: 'db.example.com.' }));
  const a = z.lookup('ext.default.svc.cluster.local', 'A')!;
  t.deepEqual(a.answers.map((x) => [x.type, (x as { data: unknown }).data]), [['CNAME', 'db.example.com']]);
  t.deepEqual(data(z.lookup('10-2-3-4.default.pod.cluster.local', 'A')!), ['10.2.3.4']);
  t.is(z.lookup('10-2-3-999.default.pod.cluster.local', 'A')!.rcode, 'NXDOMAIN');
});
