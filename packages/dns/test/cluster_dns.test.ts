// mkube-dns against a real API server (on a real etcd) and the real EndpointSlice controllers, asked
// over real UDP and TCP: records of ClusterIP, headless and ExternalName services, PTR, NXDOMAIN with
// the SOA, truncation and the TCP retry, forwarding with (negative) caching and SERVFAIL offline, and
// the time from a Service's creation to its name resolving.
import test from 'ava';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from '@mkube/apiserver';
import { KubeClient, loadKubeconfig, Resources, type KubeObject } from '@mkube/client';
import { startEtcdCluster, type EtcdCluster } from '@mkube/testing';
import { ControllerManager } from '@mkube/controllers';
import { ClusterDns } from '../src/cluster_dns.js';
import { dataOf, query } from './dns_client.js';

interface Env {
  client: KubeClient;
  dns: ClusterDns;
  upstreamQueries: string[];
  offline: ClusterDns;
}

const silent = pino({ level: 'silent' });

/** A stand-in upstream resolver: A 192.0.2.1 for *.example.test, NXDOMAIN (with an SOA of 60 s) otherwise. */
async function fakeUpstream(seen: string[]): Promise<{ port: number; close(): void }> {
  const sock = createSocket('udp4');
  sock.on('message', (msg, r) => {
    const q = dnsPacket.decode(msg);
    const qq = q.questions![0]!;
    seen.push(`${qq.name} ${qq.type}`);
    const ok = qq.name.endsWith('example.test');
    const soa = { type: 'SOA' as const, name: 'example.test', ttl: 60, data: { mname: 'ns.example.test', rname: 'h.example.test', minimum: 60 } };
    sock.send(dnsPacket.encode({ type: 'response', id: q.id, flags: ok ? 0x80 : 0x80 | 3, questions: q.questions, answers: ok ? [{ type: 'A', name: qq.name, ttl: 300, data: '192.0.2.1' }] : [], authorities: ok ? [] : [soa] }), r.port, r.address);
  });
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
  return { port: sock.address().port, close: () => sock.close() };
}

let env: Env;
let stopAll: () => Promise<void> = async () => {};

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-dns-test-'));
  let etcd: EtcdCluster | undefined;
  let server: ApiServer | undefined;
  let manager: ControllerManager | undefined;
  let dns: ClusterDns | undefined;
  let offline: ClusterDns | undefined;
  let client: KubeClient | undefined;
  let upstream: { close(): void } | undefined;
  stopAll = async () => {
    await dns?.stop().catch(() => undefined);
    await offline?.stop().catch(() => undefined);
    upstream?.close();
    await manager?.stop().catch(() => undefined);
    client?.close();
    await server?.stop().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  etcd = await startEtcdCluster({ members: 1 });
  server = await startApiServer({ dataDir: join(dir, 'data'), etcdServers: etcd.endpoints, securePort: 0, compactionIntervalMs: 0, logger: silent });
  const cfg = loadKubeconfig(server.kubeconfigPath);
  client = new KubeClient(cfg);
  manager = new ControllerManager({ clientConfig: cfg, leaderElect: false, metricsPort: -1, logger: silent, controllers: ['endpointslice', 'endpointslicemirroring'] });
  await manager.start();
  const upstreamQueries: string[] = [];
  const up = await fakeUpstream(upstreamQueries);
  upstream = up;
  dns = new ClusterDns({ client, log: silent, dnsHost: '127.0.0.1', dnsPort: 0, metricsPort: 0, forwarder: { upstreams: [`127.0.0.1:${up.port}`] } });
  await dns.start();
  await dns.waitForSync();
  // No upstream at all (an offline machine): other names get SERVFAIL at once.
  offline = new ClusterDns({ client, log: silent, dnsHost: '127.0.0.1', dnsPort: 0, metricsPort: -1, forwarder: { upstreams: [] } });
  await offline.start();
  env = { client, dns, upstreamQueries, offline };
});

test.after.always(async () => {
  await stopAll();
});

const services = () => env.client.resource(Resources.services);
const pods = () => env.client.resource(Resources.pods);

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function readyPod(name: string, labels: Record<string, string>, ip: string, extra: Record<string, unknown> = {}): Promise<void> {
  const created = await pods().create('default', { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...extra } } as KubeObject);
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  created.status = { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] };
  await pods().updateStatus(created);
}

test.serial('a new Service resolves within 1 s; A, SRV with its A in additionals, PTR over UDP; NODATA and NXDOMAIN carry the SOA', async (t) => {
  const created = await services().create('default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } } as KubeObject);
  const t0 = Date.now();
  const ip = created.spec.clusterIP as string;
  const r = await eventually('web to resolve', async () => {
    const a = await query(env.dns.dnsPort, 'web.default.svc.cluster.local', 'A');
    return a.rcode === 'NOERROR' && a.answers?.length ? a : undefined;
  }, 1000);
  const ms = Date.now() - t0;
  t.log(`Service created → resolvable in ${ms} ms`);
  t.true(ms < 1000);
  t.deepEqual(dataOf(r), [ip]);
  t.true(r.flag_aa, 'authoritative');
  const srv = await query(env.dns.dnsPort, '_http._tcp.web.default.svc.cluster.local', 'SRV');
  t.deepEqual(dataOf(srv), [{ priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' }]);
  t.deepEqual(dataOf({ ...srv, answers: srv.additionals } as never, 'A'), [ip]);
  const ptr = await query(env.dns.dnsPort, `${ip.split('.').reverse().join('.')}.in-addr.arpa`, 'PTR');
  t.deepEqual(dataOf(ptr), ['web.default.svc.cluster.local']);
  const nodata = await query(env.dns.dnsPort, 'web.default.svc.cluster.local', 'AAAA');
  t.deepEqual([nodata.rcode, nodata.answers?.length, nodata.authorities?.[0]?.type], ['NOERROR', 0, 'SOA']);
  const nx = await query(env.dns.dnsPort, 'nothere.default.svc.cluster.local', 'A');
  t.deepEqual([nx.rcode, nx.authorities?.[0]?.type], ['NXDOMAIN', 'SOA']);
  // A deleted Service stops resolving as quickly.
  await services().delete('default', 'web');
  await eventually('web to go', async () => ((await query(env.dns.dnsPort, 'web.default.svc.cluster.local', 'A')).rcode === 'NXDOMAIN' ? true : undefined), 1000);
});

test.serial('a headless service: its pods by hostname.subdomain, SRV per pod, the service name to every ready pod (EndpointSlices from the controller)', async (t) => {
  await services().create('default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db' }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ name: 'pg', port: 5432 }] } } as KubeObject);
  await readyPod('db-0', { app: 'db' }, '10.213.5.10', { hostname: 'db-0', subdomain: 'db' });
  await readyPod('db-1', { app: 'db' }, '10.213.5.11', { hostname: 'db-1', subdomain: 'db' });
  const a = await eventually('db-1 to resolve', async () => {
    const r = await query(env.dns.dnsPort, 'db-1.db.default.svc.cluster.local', 'A');
    return r.answers?.length ? r : undefined;
  });
  t.deepEqual(dataOf(a), ['10.213.5.11']);
  t.deepEqual(dataOf(await query(env.dns.dnsPort, 'db.default.svc.cluster.local', 'A')).sort(), ['10.213.5.10', '10.213.5.11']);
  const srv = await query(env.dns.dnsPort, '_pg._tcp.db.default.svc.cluster.local', 'SRV', { tcp: true });
  t.deepEqual(dataOf(srv).map((d) => (d as { target: string }).target).sort(), ['db-0.db.default.svc.cluster.local', 'db-1.db.default.svc.cluster.local']);
  t.deepEqual(dataOf(await query(env.dns.dnsPort, '10.5.213.10.in-addr.arpa', 'PTR')), ['db-0.db.default.svc.cluster.local']);
});

test.serial('a large answer is truncated over UDP (TC, no answers) and complete over TCP', async (t) => {
  await services().create('default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'many' }, spec: { clusterIP: 'None', selector: { app: 'many' }, ports: [{ name: 'http', port: 80 }] } } as KubeObject);
  for (let i = 0; i < 40; i++) await readyPod(`many-${i}`, { app: 'many' }, `10.213.6.${i + 10}`);
  await eventually('40 addresses', async () => ((await query(env.dns.dnsPort, 'many.default.svc.cluster.local', 'A', { tcp: true })).answers?.length === 40 ? true : undefined), 20_000);
  const udp = await query(env.dns.dnsPort, 'many.default.svc.cluster.local', 'A');
  t.true(udp.flag_tc, 'TC set');
  t.is(udp.answers?.length, 0);
  const tcp = await query(env.dns.dnsPort, 'many.default.svc.cluster.local', 'A', { tcp: true });
  t.false(tcp.flag_tc);
  t.is(tcp.answers?.length, 40);
  // A client announcing a 4096-byte EDNS buffer gets the whole answer over UDP.
  t.is((await query(env.dns.dnsPort, 'many.default.svc.cluster.local', 'A', { edns: 4096 })).answers?.length, 40);
});

test.serial('ExternalName is a CNAME; custom Endpoints of a selector-less headless service are mirrored and resolve', async (t) => {
  await services().create('default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext' }, spec: { type: 'ExternalName', externalName: 'db.example.test' } } as KubeObject);
  const cname = await eventually('ext', async () => {
    const r = await query(env.dns.dnsPort, 'ext.default.svc.cluster.local', 'A');
    return r.answers?.length ? r : undefined;
  });
  t.deepEqual(cname.answers?.map((a) => [a.type, (a as { data: unknown }).data]), [['CNAME', 'db.example.test']]);
  await services().create('default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'legacy' }, spec: { clusterIP: 'None', ports: [{ name: 'tcp', port: 9000 }] } } as KubeObject);
  await env.client.resource(Resources.endpoints).create('default', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'legacy' }, subsets: [{ addresses: [{ ip: '192.0.2.50', hostname: 'old' }], ports: [{ name: 'tcp', port: 9000 }] }] } as KubeObject);
  const r = await eventually('legacy', async () => {
    const a = await query(env.dns.dnsPort, 'old.legacy.default.svc.cluster.local', 'A');
    return a.answers?.length ? a : undefined;
  });
  t.deepEqual(dataOf(r), ['192.0.2.50']);
});

test.serial('other names are forwarded and cached (positive and negative); with no upstream they get SERVFAIL at once', async (t) => {
  env.upstreamQueries.length = 0;
  const a1 = await query(env.dns.dnsPort, 'www.example.test', 'A');
  const a2 = await query(env.dns.dnsPort, 'www.example.test', 'A');
  t.deepEqual([dataOf(a1), dataOf(a2)], [['192.0.2.1'], ['192.0.2.1']]);
  t.false(a1.flag_aa);
  const n1 = await query(env.dns.dnsPort, 'missing.invalid', 'A');
  const n2 = await query(env.dns.dnsPort, 'missing.invalid', 'A');
  t.deepEqual([n1.rcode, n2.rcode], ['NXDOMAIN', 'NXDOMAIN']);
  t.deepEqual(env.upstreamQueries, ['www.example.test A', 'missing.invalid A'], 'the second of each came from the cache');
  const started = Date.now();
  const off = await query(env.offline.dnsPort, 'www.example.test', 'A');
  t.is(off.rcode, 'SERVFAIL');
  t.true(Date.now() - started < 500);
  t.is((await query(env.offline.dnsPort, 'kubernetes.default.svc.cluster.local', 'A')).rcode, 'NOERROR', 'the cluster zone still answers offline');
});

test.serial('/readyz is ok once synced, /metrics counts queries', async (t) => {
  const base = `http://127.0.0.1:${env.dns.metricsPort}`;
  t.is((await fetch(`${base}/readyz`)).status, 200);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.regex(metrics, /mkube_dns_requests_total\{proto="udp",type="A"\} \d+/);
  t.regex(metrics, /mkube_dns_responses_total\{rcode="NXDOMAIN"\} \d+/);
});
