// Issue 10, hole 4: values that node agents write into iptables-restore and
// `ip route` input are validated as upstream does (IPs, CIDRs, ports,
// protocols) on create, update, patch and the status subresource, over REST and
// gRPC: injections answer 422 Invalid with the field path in details.causes and
// nothing is written; valid values (IPv6 too) still pass.
import * as grpc from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import { ResourcesClient, type GrpcApiError } from '../src/grpc/client.js';
import { api, startFixture, type Fixture, type Reply } from './helpers/cluster.js';

let fx: Fixture;
let admin: ResourcesClient;

test.before(async () => {
  fx = await startFixture();
  const s = fx.server;
  admin = new ResourcesClient({ address: `127.0.0.1:${s.grpc!.port}`, caCert: s.pki.caCert, cert: s.pki.adminCert, key: s.pki.adminKey });
});
test.after.always(async () => {
  admin?.close();
  await fx?.stop();
});

const SERVICE_RANGE = '10.213.200.0/24'; // the API server's default --service-cluster-ip-range
const INJECTIONS = ['10.0.0.1\nCOMMIT\n*filter', '10.0.0.1 -j ACCEPT', '999.1.1.1', 'fe80::1%eth0', '10.0.0.1/32', ''];
const IP_MSG = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';

interface Cause {
  field: string;
  message: string;
  reason: string;
}

/** A 422 Invalid Status with a cause on `field` whose message contains `message`. */
function isInvalid(t: ExecutionContext, r: Reply, field: string, message: string, what: string): void {
  t.is(r.status, 422, `${what}: ${r.text}`);
  t.like(r.body, { kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422 }, what);
  const causes = (r.body?.details?.causes ?? []) as Cause[];
  t.true(
    causes.some((c) => c.field === field && c.message.includes(message)),
    `${what}: expected a cause on ${field} saying "${message}", got ${JSON.stringify(causes)}`,
  );
}

const EP_PATH = '/api/v1/namespaces/default/endpoints';
const endpoints = (name: string, ip: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Endpoints',
  metadata: { name },
  subsets: [{ addresses: [{ ip }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], ...extra }],
});

test('Endpoints: injected and special addresses are refused on create, and nothing is stored', async (t) => {
  const cases: Array<[string, string]> = [
    ...INJECTIONS.map((ip) => [ip, IP_MSG] as [string, string]),
    ['0.0.0.0', 'may not be unspecified (0.0.0.0)'],
    ['::', 'may not be unspecified (::)'],
    ['127.0.0.1', 'may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ['::1', 'may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ['::ffff:127.0.0.1', 'may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ['169.254.169.254', 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'],
    ['fe80::1', 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'],
    ['224.0.0.1', 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'],
    ['ff02::1', 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'],
  ];
  for (const [i, [ip, msg]] of cases.entries()) {
    const name = `bad-${i}`;
    const r = await api(fx.server, 'POST', EP_PATH, endpoints(name, ip));
    isInvalid(t, r, 'subsets[0].addresses[0].ip', msg, `ip ${JSON.stringify(ip)}`);
    t.is((await api(fx.server, 'GET', `${EP_PATH}/${name}`)).status, 404, `ip ${JSON.stringify(ip)} not stored`);
  }
  // notReadyAddresses too.
  const nr = await api(fx.server, 'POST', EP_PATH, { ...endpoints('bad-nr', '10.0.0.2'), subsets: [{ notReadyAddresses: [{ ip: '10.0.0.1 -j ACCEPT' }] }] });
  isInvalid(t, nr, 'subsets[0].notReadyAddresses[0].ip', IP_MSG, 'notReadyAddresses');
});

test('Endpoints: ports, protocols and port names are checked', async (t) => {
  const withPorts = (ports: unknown[]) => ({ ...endpoints('bad-port', '10.0.0.2'), subsets: [{ addresses: [{ ip: '10.0.0.2' }], ports }] });
  // A string where an integer belongs does not even decode (400, as upstream's decoder answers).
  const typed = await api(fx.server, 'POST', EP_PATH, withPorts([{ port: '80 -j ACCEPT', protocol: 'TCP' }]));
  t.like(typed.body, { kind: 'Status', reason: 'BadRequest', code: 400 });
  t.regex(String(typed.body.message), /\.subsets\[0\]\.ports\[0\]\.port: expected integer, got string/);
  isInvalid(t, await api(fx.server, 'POST', EP_PATH, withPorts([{ port: 70000, protocol: 'TCP' }])), 'subsets[0].ports[0].port', 'must be between 1 and 65535, inclusive', 'port range');
  isInvalid(t, await api(fx.server, 'POST', EP_PATH, withPorts([{ port: 80, protocol: 'TCP -j ACCEPT' }])), 'subsets[0].ports[0].protocol', 'Unsupported value: "TCP -j ACCEPT": supported values: "SCTP", "TCP", "UDP"', 'protocol');
  isInvalid(t, await api(fx.server, 'POST', EP_PATH, withPorts([{ name: 'a"b', port: 80, protocol: 'TCP' }])), 'subsets[0].ports[0].name', 'a lowercase RFC 1123 label', 'port name');
  isInvalid(t, await api(fx.server, 'POST', EP_PATH, withPorts([{ port: 80, protocol: 'TCP' }, { name: 'b', port: 81, protocol: 'TCP' }])), 'subsets[0].ports[0].name', 'Required value', 'name required with 2 ports');
  t.is((await api(fx.server, 'GET', `${EP_PATH}/bad-port`)).status, 404);
});

test('Endpoints: update, merge patch, JSON patch and strategic merge patch cannot inject; the stored object is unchanged', async (t) => {
  const created = await api(fx.server, 'POST', EP_PATH, endpoints('good', '10.213.1.5'));
  t.is(created.status, 201, created.text);
  const put = await api(fx.server, 'PUT', `${EP_PATH}/good`, { ...created.body, subsets: [{ addresses: [{ ip: '10.0.0.1\nCOMMIT\n*filter' }], ports: [{ port: 80, protocol: 'TCP' }] }] });
  isInvalid(t, put, 'subsets[0].addresses[0].ip', IP_MSG, 'PUT');
  const merge = await api(fx.server, 'PATCH', `${EP_PATH}/good`, { subsets: [{ addresses: [{ ip: '0.0.0.0' }], ports: [{ port: 80, protocol: 'TCP' }] }] }, { contentType: 'application/merge-patch+json' });
  isInvalid(t, merge, 'subsets[0].addresses[0].ip', 'may not be unspecified (0.0.0.0)', 'merge patch');
  const json = await api(fx.server, 'PATCH', `${EP_PATH}/good`, [{ op: 'replace', path: '/subsets/0/addresses/0/ip', value: '10.0.0.1 -j ACCEPT' }], { contentType: 'application/json-patch+json' });
  isInvalid(t, json, 'subsets[0].addresses[0].ip', IP_MSG, 'JSON patch');
  const smp = await api(fx.server, 'PATCH', `${EP_PATH}/good`, { subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port: 80, protocol: 'TCP' }] }] }, { contentType: 'application/strategic-merge-patch+json' });
  isInvalid(t, smp, 'subsets[0].addresses[0].ip', 'may not be in the loopback range', 'strategic merge patch');
  const got = await api(fx.server, 'GET', `${EP_PATH}/good`);
  t.deepEqual(got.body.subsets, [{ addresses: [{ ip: '10.213.1.5' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }]);
  t.is(got.body.metadata.resourceVersion, created.body.metadata.resourceVersion, 'nothing was written');
});

test('Endpoints: valid IPv4 and IPv6 addresses pass, on create and update', async (t) => {
  const r = await api(fx.server, 'POST', EP_PATH, { ...endpoints('v6', '2001:db8::5'), subsets: [{ addresses: [{ ip: '2001:db8::5', hostname: 'web-0', nodeName: 'node-1' }], notReadyAddresses: [{ ip: 'fd00::7' }], ports: [{ port: 80 }] }] });
  t.is(r.status, 201, r.text);
  const u = await api(fx.server, 'PUT', `${EP_PATH}/v6`, { ...r.body, subsets: [{ addresses: [{ ip: '10.213.2.7' }, { ip: '2001:db8::6' }], ports: [{ name: 'a', port: 80, protocol: 'UDP' }, { name: 'b', port: 443, protocol: 'SCTP' }] }] });
  t.is(u.status, 200, u.text);
});

test('Endpoints over gRPC: create and update with an injected address are INVALID_ARGUMENT (422) and nothing is written', async (t) => {
  const ref = { resource: 'endpoints', namespace: 'default' };
  const failure = async (p: Promise<unknown>): Promise<GrpcApiError> => {
    try {
      await p;
    } catch (err) {
      return err as GrpcApiError;
    }
    throw new Error('the call succeeded');
  };
  const c = await failure(admin.create(ref, endpoints('grpc-bad', '10.0.0.1\nCOMMIT\n*filter')));
  t.is(c.code, grpc.status.INVALID_ARGUMENT);
  t.like(c.status, { kind: 'Status', reason: 'Invalid', code: 422 });
  t.true(((c.status?.details as { causes?: Cause[] } | undefined)?.causes ?? []).some((x) => x.field === 'subsets[0].addresses[0].ip' && x.message.includes(IP_MSG)), JSON.stringify(c.status));
  const nf = await failure(admin.get(ref, 'grpc-bad'));
  t.is(nf.code, grpc.status.NOT_FOUND);

  const ok = await admin.create(ref, endpoints('grpc-good', '10.213.3.3'));
  const u = await failure(admin.update(ref, { ...ok, subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port: 80, protocol: 'TCP' }] }] }));
  t.is(u.code, grpc.status.INVALID_ARGUMENT);
  t.true(((u.status?.details as { causes?: Cause[] } | undefined)?.causes ?? []).some((x) => x.field === 'subsets[0].addresses[0].ip' && x.message.includes('loopback')), JSON.stringify(u.status));
  const after = await admin.get(ref, 'grpc-good');
  t.deepEqual((after.subsets as Array<{ addresses: unknown }>)[0]!.addresses, [{ ip: '10.213.3.3' }]);
  // A valid update over gRPC still works.
  const good = await admin.update(ref, { ...after, subsets: [{ addresses: [{ ip: '2001:db8::9' }], ports: [{ port: 80, protocol: 'TCP' }] }] });
  t.deepEqual((good.object.subsets as Array<{ addresses: unknown }>)[0]!.addresses, [{ ip: '2001:db8::9' }]);
});

const NODES = '/api/v1/nodes';
const node = (name: string, spec: Record<string, unknown>, status?: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec, ...(status ? { status } : {}) });

test('Node: pod CIDRs are CIDRs, not a whole address space, not overlapping the service range', async (t) => {
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [{ podCIDR: '0.0.0.0/0' }, 'spec.podCIDRs[0]', 'may not be the whole address space'],
    [{ podCIDR: '::/0' }, 'spec.podCIDRs[0]', 'may not be the whole address space'],
    [{ podCIDR: '10.213.0.0/16' }, 'spec.podCIDRs[0]', `may not overlap the service cluster IP range (${SERVICE_RANGE})`],
    [{ podCIDR: '10.213.200.128/25' }, 'spec.podCIDRs[0]', `may not overlap the service cluster IP range (${SERVICE_RANGE})`],
    [{ podCIDR: '10.0.0.0/33' }, 'spec.podCIDRs[0]', 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
    [{ podCIDR: '10.0.0.0/24 via 1.2.3.4' }, 'spec.podCIDRs[0]', 'must be a valid CIDR value'],
    [{ podCIDR: '10.0.0.0/24\n' }, 'spec.podCIDRs[0]', 'must be a valid CIDR value'],
    [{ podCIDR: '10.0.0.0' }, 'spec.podCIDRs[0]', 'must be a valid CIDR value'],
    [{ podCIDRs: ['10.1.0.0/24', '10.2.0.0/24'] }, 'spec.podCIDRs', 'may specify no more than one CIDR for each IP family'],
    [{ podCIDRs: ['10.1.0.0/24', 'fd00::/64 dev eth0'] }, 'spec.podCIDRs[1]', 'must be a valid CIDR value'],
    [{ podCIDR: '10.9.0.0/24 x', podCIDRs: ['10.1.0.0/24'] }, 'spec.podCIDR', 'must be a valid CIDR value'],
  ];
  for (const [i, [spec, field, msg]] of cases.entries()) {
    const r = await api(fx.server, 'POST', NODES, node(`bad-cidr-${i}`, spec));
    isInvalid(t, r, field, msg, JSON.stringify(spec));
    t.is((await api(fx.server, 'GET', `${NODES}/bad-cidr-${i}`)).status, 404);
  }
  const dual = await api(fx.server, 'POST', NODES, node('dual', { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] }));
  t.is(dual.status, 201, dual.text);
  const v4 = await api(fx.server, 'POST', NODES, node('plain', {}));
  t.is(v4.status, 201, v4.text);
  // podCIDR may be set once (from "" to valid), as the IPAM controller does, but not to a bad value, and not changed afterwards.
  isInvalid(t, await api(fx.server, 'PATCH', `${NODES}/plain`, { spec: { podCIDR: '0.0.0.0/0' } }, { contentType: 'application/merge-patch+json' }), 'spec.podCIDRs[0]', 'may not be the whole address space', 'patch to /0');
  const set = await api(fx.server, 'PATCH', `${NODES}/plain`, { spec: { podCIDR: '10.244.2.0/24', podCIDRs: ['10.244.2.0/24'] } }, { contentType: 'application/merge-patch+json' });
  t.is(set.status, 200, set.text);
  const change = await api(fx.server, 'PATCH', `${NODES}/plain`, { spec: { podCIDR: '10.244.3.0/24', podCIDRs: ['10.244.3.0/24'] } }, { contentType: 'application/merge-patch+json' });
  isInvalid(t, change, 'spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid', 'podCIDR change');
  t.is((await api(fx.server, 'GET', `${NODES}/plain`)).body.spec.podCIDR, '10.244.2.0/24');
});

test('Node: InternalIP/ExternalIP addresses must be IPs, on create and through the status subresource', async (t) => {
  const bad = await api(fx.server, 'POST', NODES, node('bad-addr', {}, { addresses: [{ type: 'InternalIP', address: '10.0.0.5 dev eth0' }] }));
  isInvalid(t, bad, 'status.addresses[0].address', IP_MSG, 'create');
  const ok = await api(fx.server, 'POST', NODES, node('addr', {}, { addresses: [{ type: 'InternalIP', address: '192.168.56.11' }, { type: 'InternalIP', address: 'fd00::11' }, { type: 'Hostname', address: 'addr' }] }));
  t.is(ok.status, 201, ok.text);
  const viaStatus = await api(fx.server, 'PATCH', `${NODES}/addr/status`, { status: { addresses: [{ type: 'InternalIP', address: '192.168.56.11\nCOMMIT' }] } }, { contentType: 'application/merge-patch+json' });
  isInvalid(t, viaStatus, 'status.addresses[0].address', IP_MSG, 'status patch');
  t.is((await api(fx.server, 'GET', `${NODES}/addr`)).body.status.addresses[0].address, '192.168.56.11');
});

const SVCS = '/api/v1/namespaces/default/services';
const service = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port: 80 }], ...spec } });

test('Service: cluster IPs, external IPs, load balancer IP and target ports are validated', async (t) => {
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [{ clusterIP: '10.213.200.5 -j ACCEPT' }, 'spec.clusterIPs[0]', IP_MSG],
    [{ clusterIP: '10.213.200.5\nCOMMIT' }, 'spec.clusterIPs[0]', IP_MSG],
    [{ clusterIPs: ['10.213.200.6', '10.213.200.7 x'] }, 'spec.clusterIPs[1]', IP_MSG],
    [{ clusterIP: '10.213.200.9 -j ACCEPT', clusterIPs: ['10.213.200.9'] }, 'spec.clusterIP', IP_MSG],
    [{ externalIPs: ['1.2.3.4\n-A MKUBE-SERVICES -j ACCEPT'] }, 'spec.externalIPs[0]', IP_MSG],
    [{ externalIPs: ['127.0.0.1'] }, 'spec.externalIPs[0]', 'may not be in the loopback range'],
    [{ externalIPs: ['0.0.0.0'] }, 'spec.externalIPs[0]', 'may not be unspecified (0.0.0.0)'],
    [{ type: 'LoadBalancer', loadBalancerIP: '1.2.3.4 x' }, 'spec.loadBalancerIP', IP_MSG],
    [{ ports: [{ port: 80, targetPort: 'http -j ACCEPT' }] }, 'spec.ports[0].targetPort', 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'],
    [{ ports: [{ port: 80, protocol: 'TCP\n' }] }, 'spec.ports[0].protocol', 'Unsupported value'],
    [{ ports: [{ port: 0 }] }, 'spec.ports[0].port', 'must be between 1 and 65535, inclusive'],
  ];
  for (const [i, [spec, field, msg]] of cases.entries()) {
    const r = await api(fx.server, 'POST', SVCS, service(`bad-${i}`, spec));
    isInvalid(t, r, field, msg, JSON.stringify(spec));
    t.is((await api(fx.server, 'GET', `${SVCS}/bad-${i}`)).status, 404);
  }
  const ok = await api(fx.server, 'POST', SVCS, service('good', { externalIPs: ['192.0.2.10', '2001:db8::10'], ports: [{ port: 80, targetPort: 'http' }] }));
  t.is(ok.status, 201, ok.text);
  const patched = await api(fx.server, 'PATCH', `${SVCS}/good`, { spec: { externalIPs: ['192.0.2.10 -j DROP'] } }, { contentType: 'application/merge-patch+json' });
  isInvalid(t, patched, 'spec.externalIPs[0]', IP_MSG, 'patch externalIPs');
  const lb = await api(fx.server, 'PATCH', `${SVCS}/good/status`, { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1\nCOMMIT' }] } } }, { contentType: 'application/merge-patch+json' });
  isInvalid(t, lb, 'status.loadBalancer.ingress[0].ip', IP_MSG, 'status ingress ip');
  const got = await api(fx.server, 'GET', `${SVCS}/good`);
  t.deepEqual(got.body.spec.externalIPs, ['192.0.2.10', '2001:db8::10']);
  t.falsy(got.body.status?.loadBalancer?.ingress);
});

test('Pod status: podIP(s) and hostIP(s) written through the status subresource are validated; IPv6 and dual-stack pass', async (t) => {
  const pods = '/api/v1/namespaces/default/pods';
  const created = await api(fx.server, 'POST', pods, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
  t.is(created.status, 201, created.text);
  const patch = (status: Record<string, unknown>) => api(fx.server, 'PATCH', `${pods}/p/status`, { status }, { contentType: 'application/merge-patch+json' });
  isInvalid(t, await patch({ podIP: '10.0.0.1\nCOMMIT\n*filter' }), 'status.podIPs[0]', IP_MSG, 'podIP');
  isInvalid(t, await patch({ podIP: '10.0.0.1', podIPs: [{ ip: '10.0.0.1' }, { ip: 'fd00::1 x' }] }), 'status.podIPs[1]', IP_MSG, 'podIPs');
  isInvalid(t, await patch({ hostIP: '192.168.1.1 -j ACCEPT' }), 'status.hostIPs[0]', IP_MSG, 'hostIP');
  isInvalid(t, await patch({ podIPs: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }] }), 'status.podIPs', 'may specify no more than one IP for each IP family', 'two IPv4');
  // The same through PUT of the status subresource.
  const put = await api(fx.server, 'PUT', `${pods}/p/status`, { ...created.body, status: { ...created.body.status, podIP: '999.1.1.1' } });
  isInvalid(t, put, 'status.podIPs[0]', IP_MSG, 'PUT status');
  t.falsy((await api(fx.server, 'GET', `${pods}/p`)).body.status.podIP);
  const ok = await patch({ podIP: '10.213.1.7', podIPs: [{ ip: '10.213.1.7' }, { ip: 'fd00:10:213:1::7' }], hostIP: '192.168.56.11', hostIPs: [{ ip: '192.168.56.11' }] });
  t.is(ok.status, 200, ok.text);
  t.deepEqual(ok.body.status.podIPs, [{ ip: '10.213.1.7' }, { ip: 'fd00:10:213:1::7' }]);
});
