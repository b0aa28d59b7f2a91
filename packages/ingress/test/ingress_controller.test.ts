// mkube-ingress against a real API server (on a real etcd) with real HTTP backends on addresses of
// 10.213.92.0/24 added to lo for the test (EndpointSlice addresses may not be in 127.0.0.0/8) (Services without selectors and their EndpointSlices, as the endpointslice controller
// writes them): the default IngressClass, the seed's example.com /api and /frontend routing and the
// default backend asked with real curl, HTTPS with a Secret's certificate (curl --resolve --cacert,
// SNI), X-Forwarded-* headers, status.loadBalancer.ingress from the Nodes' InternalIPs, WebSocket
// upgrade, request/response streaming, retries on a dead endpoint, and a rolling replacement of the
// backends under a constant request loop that loses no request.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from '@mkube/apiserver';
import { KubeClient, loadKubeconfig, Resources } from '@mkube/client';
import { resourceFor, type EndpointSlice, type Event, type Ingress, type IngressClass, type Node, type Secret, type Service } from '@mkube/api';
import { startEtcdCluster, waitFor, type EtcdCluster } from '@mkube/testing';
import { IngressController } from '../src/controller.js';

const run = promisify(execFile);
const silent = pino({ level: 'silent' });
const ING = resourceFor('ingresses', 'networking.k8s.io');
const CLASSES = resourceFor('ingressclasses', 'networking.k8s.io');
const BACKEND_PORT_BASE = 0;
/** The test's own subnet (no other test uses 10.213.92.0/24), its addresses on lo while it runs. */
const ADDRS = [11, 12, 13, 14, 15, 21, 22];
const ip = (n: number) => `10.213.92.${n}`;

interface Backend {
  ip: string;
  port: number;
  server: Server;
  hits: number;
}

/** An HTTP server on ip answering "<name> <ip> <path>" with the X-Forwarded headers, echoing POST bodies, and tunnelling Upgrade as an echo. */
async function backend(name: string, ip: string, port = BACKEND_PORT_BASE): Promise<Backend> {
  const b: Backend = { ip, port: 0, server: createServer(), hits: 0 };
  b.server.on('request', (req: IncomingMessage, res) => {
    b.hits++;
    if (req.method === 'POST') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    const fwd = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port'].map((h) => `${h}=${String(req.headers[h])}`).join(' ');
    res.end(`${name} ${ip} ${req.url ?? ''} ${fwd}\n`);
  });
  b.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${String(req.headers.upgrade)}\r\nConnection: Upgrade\r\nX-Backend: ${name}\r\n\r\n`);
    socket.pipe(socket);
  });
  await new Promise<void>((res) => b.server.listen(port, ip, () => res()));
  b.port = (b.server.address() as { port: number }).port;
  return b;
}

function service(name: string): Service {
  return { metadata: { namespace: 'default', name }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] } };
}

function sliceOf(svc: string, eps: { ip: string; ready: boolean }[], port: number): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'default', name: `${svc}-manual`, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready, serving: e.ready, terminating: !e.ready } })),
  };
}

/** GET through the proxy with node:http (a fresh connection each time unless an agent is given). */
function get(port: number, host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${host}${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

interface Env {
  client: KubeClient;
  ctl: IngressController;
  dir: string;
  api: Backend[];
  frontend: Backend[];
  fallback: Backend;
}

let env: Env;
let stopAll: () => Promise<void> = async () => {};

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-ingress-test-'));
  /** What runs, for the teardown (filled as it starts). */
  const up: { etcd?: EtcdCluster; server?: ApiServer; ctl?: IngressController; client?: KubeClient } = {};
  const backends: Backend[] = [];
  const added: string[] = [];
  stopAll = async () => {
    await up.ctl?.stop().catch(() => undefined);
    for (const b of backends) b.server.closeAllConnections();
    await Promise.all(backends.map((b) => new Promise((res) => b.server.close(res))));
    up.client?.close();
    await up.server?.stop().catch(() => undefined);
    await up.etcd?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    for (const a of added) await run('ip', ['addr', 'del', `${a}/32`, 'dev', 'lo']).catch(() => undefined);
  };
  for (const n of ADDRS) {
    await run('ip', ['addr', 'replace', `${ip(n)}/32`, 'dev', 'lo']);
    added.push(ip(n));
  }
  const etcd = (up.etcd = await startEtcdCluster({ members: 1 }));
  const server = (up.server = await startApiServer({ dataDir: join(dir, 'data'), etcdServers: etcd.endpoints, securePort: 0, compactionIntervalMs: 0, logger: silent }));
  const client = (up.client = new KubeClient(loadKubeconfig(server.kubeconfigPath)));
  const first = await backend('api', ip(11));
  const api = [first, await backend('api', ip(12), first.port)];
  const frontend = [await backend('frontend', ip(13), api[0]!.port)];
  const fallback = await backend('default', ip(14), api[0]!.port);
  backends.push(...api, ...frontend, fallback);
  const port = api[0]!.port;
  for (const s of ['api', 'frontend', 'fallback']) await client.resource<Service>(Resources.services).create('default', service(s));
  const slices = client.resource<EndpointSlice>(Resources.endpointslices);
  await slices.create('default', sliceOf('api', api.map((b) => ({ ip: b.ip, ready: true })), port));
  await slices.create('default', sliceOf('frontend', frontend.map((b) => ({ ip: b.ip, ready: true })), port));
  await slices.create('default', sliceOf('fallback', [{ ip: fallback.ip, ready: true }], port));
  // Two nodes: status.loadBalancer.ingress carries both InternalIPs.
  for (const [name, ip] of [['n1', '10.213.93.2'], ['n2', '10.213.93.3']] as const) {
    const node = await client.resource<Node>(Resources.nodes).create(undefined, { metadata: { name } });
    await client.resource<Node>(Resources.nodes).updateStatus({ ...node, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
  }
  // The seed's example.com certificate, signed by a test CA, in a kubernetes.io/tls Secret.
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt')]);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=example.com', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.csr')]);
  await run('bash', ['-c', `printf 'subjectAltName=DNS:example.com' > ${join(dir, 'ext')} && openssl x509 -req -in ${join(dir, 'tls.csr')} -CA ${join(dir, 'ca.crt')} -CAkey ${join(dir, 'ca.key')} -CAcreateserial -days 1 -extfile ${join(dir, 'ext')} -out ${join(dir, 'tls.crt')}`]);
  const b64 = async (f: string) => (await readFile(join(dir, f))).toString('base64');
  await client.resource<Secret>(Resources.secrets).create('default', { metadata: { namespace: 'default', name: 'example-tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': await b64('tls.crt'), 'tls.key': await b64('tls.key') } });
  const ctl = (up.ctl = new IngressController({ client, log: silent, host: '127.0.0.1', httpPort: 0, httpsPort: 0, metricsPort: 0 }));
  await ctl.start();
  await ctl.waitForSync();
  env = { client, ctl, dir, api, frontend, fallback };
});

test.after.always(async () => {
  await stopAll();
});

test.serial('the default IngressClass mkube is created, annotated as the default, for controller mkube.io/ingress', async (t) => {
  const c = await env.client.resource<IngressClass>(CLASSES).get(undefined, 'mkube');
  t.is(c.spec?.controller, 'mkube.io/ingress');
  t.is(c.metadata?.annotations?.['ingressclass.kubernetes.io/is-default-class'], 'true');
});

test.serial('example.com: /api to the api pods, /frontend to the frontend pods, unknown host to the default backend (real curl); TLS with the Secret; status filled', async (t) => {
  const ing: Ingress = {
    metadata: { namespace: 'default', name: 'shop' },
    spec: {
      defaultBackend: { service: { name: 'fallback', port: { number: 80 } } },
      tls: [{ hosts: ['example.com'], secretName: 'example-tls' }],
      rules: [{ host: 'example.com', http: { paths: [
        { path: '/api', pathType: 'Prefix', backend: { service: { name: 'api', port: { number: 80 } } } },
        { path: '/frontend', pathType: 'Prefix', backend: { service: { name: 'frontend', port: { name: 'http' } } } },
      ] } }],
    },
  };
  await env.client.resource<Ingress>(ING).create('default', ing);
  const port = env.ctl.proxy.httpPort;
  const curl = async (...args: string[]) => (await run('curl', ['-sS', '--max-time', '5', ...args])).stdout;
  await waitFor('the Ingress to route', 10_000, async () => ((await get(port, 'example.com', '/api')).body.startsWith('api ') ? true : undefined));
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const out = await curl('-H', 'Host: example.com', `http://127.0.0.1:${port}/api/items?x=1`);
    t.regex(out, /^api 10\.213\.92\.1[12] \/api\/items\?x=1 x-forwarded-for=127\.0\.0\.1 x-forwarded-proto=http x-forwarded-host=example\.com x-forwarded-port=\d+/);
    seen.add(out.split(' ')[1]!);
  }
  t.is(seen.size, 2, 'both api endpoints serve (round robin)');
  t.regex(await curl('-H', 'Host: example.com', `http://127.0.0.1:${port}/frontend/`), /^frontend 10\.213\.92\.13 \/frontend\//);
  t.regex(await curl('-H', 'Host: unknown.org', `http://127.0.0.1:${port}/api`), /^default 10\.213\.92\.14 /);
  t.regex(await curl('-H', 'Host: example.com', `http://127.0.0.1:${port}/apis`), /^default /, '/apis is not under the /api prefix');
  const https = await curl('--resolve', `example.com:${env.ctl.proxy.httpsPort}:127.0.0.1`, '--cacert', join(env.dir, 'ca.crt'), `https://example.com:${env.ctl.proxy.httpsPort}/api`);
  t.regex(https, /^api .* x-forwarded-proto=https x-forwarded-host=example\.com:\d+ x-forwarded-port=\d+/);
  await waitFor('status.loadBalancer.ingress', 10_000, async () => {
    const got = await env.client.resource<Ingress>(ING).get('default', 'shop');
    return (got.status?.loadBalancer?.ingress ?? []).length === 2 ? true : undefined;
  });
  const got = await env.client.resource<Ingress>(ING).get('default', 'shop');
  t.deepEqual(got.status?.loadBalancer?.ingress, [{ ip: '10.213.93.2' }, { ip: '10.213.93.3' }]);
});

test.serial('events as ingress-nginx writes them: Normal Sync "Scheduled for sync" on an Ingress of ours when added and when changed, none on another class', async (t) => {
  const events = env.client.resource<Event>(Resources.events);
  const syncs = async (name: string) => (await events.list('default')).items.filter((e) => e.involvedObject?.name === name && e.reason === 'Sync');
  // shop (the test above) was added, then its status written: two Sync events, as ingress-nginx's "(x2)".
  const shop = await waitFor('two Sync events on shop', 10_000, async () => ((await syncs('shop')).length >= 2 ? syncs('shop') : undefined));
  const e = shop[0]!;
  t.like(e, { type: 'Normal', reason: 'Sync', message: 'Scheduled for sync', source: { component: 'mkube-ingress' }, involvedObject: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: 'default', name: 'shop' } });
  const uid = (await env.client.resource<Ingress>(ING).get('default', 'shop')).metadata?.uid;
  t.is(e.involvedObject?.uid, uid);
  // Another class's Ingress gets none: ours created after it has its event, and by then the other was seen (one watch, in order).
  await env.client.resource<Ingress>(ING).create('default', { metadata: { namespace: 'default', name: 'foreign-ev' }, spec: { ingressClassName: 'other', defaultBackend: { service: { name: 'api', port: { number: 80 } } } } });
  await env.client.resource<Ingress>(ING).create('default', { metadata: { namespace: 'default', name: 'ours-ev' }, spec: { defaultBackend: { service: { name: 'api', port: { number: 80 } } } } });
  await waitFor('a Sync event on ours-ev', 10_000, async () => ((await syncs('ours-ev')).length >= 1 ? true : undefined));
  t.deepEqual(await syncs('foreign-ev'), []);
  for (const n of ['foreign-ev', 'ours-ev']) await env.client.resource<Ingress>(ING).delete('default', n);
});

test.serial('TLS without a usable Secret (missing, or not a certificate) and clients without SNI get ingress-nginx\'s "Kubernetes Ingress Controller Fake Certificate"; requests still route', async (t) => {
  await env.client.resource<Secret>(Resources.secrets).create('default', { metadata: { namespace: 'default', name: 'bad-tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from('not a certificate').toString('base64'), 'tls.key': Buffer.from('not a key').toString('base64') } });
  const rule = (host: string) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix' as const, backend: { service: { name: 'frontend', port: { name: 'http' } } } }] } });
  await env.client.resource<Ingress>(ING).create('default', {
    metadata: { namespace: 'default', name: 'broken-tls' },
    spec: { tls: [{ hosts: ['missing.example.com'], secretName: 'no-such-secret' }, { hosts: ['bad.example.com'], secretName: 'bad-tls' }], rules: [rule('missing.example.com'), rule('bad.example.com')] },
  });
  const port = env.ctl.proxy.httpsPort;
  /** curl -v over HTTPS: the server certificate's subject line and the body. */
  const tls = async (host: string, extra: string[]) => {
    const r = await run('curl', ['-sS', '-v', '--max-time', '5', ...extra, `https://${host}:${port}/frontend/x`]);
    return { subject: /^\*\s+subject: (.*)$/m.exec(r.stderr)?.[1], issuer: /^\*\s+issuer: (.*)$/m.exec(r.stderr)?.[1], body: r.stdout };
  };
  const FAKE = 'O=Acme Co; CN=Kubernetes Ingress Controller Fake Certificate';
  for (const host of ['missing.example.com', 'bad.example.com']) {
    const r = await waitFor(`${host} to route`, 10_000, async () => {
      const got = await tls(host, ['-k', '--resolve', `${host}:${port}:127.0.0.1`]).catch(() => undefined);
      return got?.body.startsWith('frontend ') ? got : undefined;
    });
    t.is(r.subject, FAKE, host);
    t.is(r.issuer, FAKE, `${host}: self-signed`);
    t.regex(r.body, /^frontend 10\.213\.92\.13 \/frontend\/x .*x-forwarded-proto=https/);
  }
  // No SNI (an IP address): the fake certificate; it is not trusted without -k.
  const ipOnly = await tls('127.0.0.1', ['-k', '-H', 'Host: missing.example.com']);
  t.is(ipOnly.subject, FAKE);
  await t.throwsAsync(run('curl', ['-sS', '--max-time', '5', '--resolve', `missing.example.com:${port}:127.0.0.1`, `https://missing.example.com:${port}/`]), { message: /SSL certificate problem: self.signed certificate/ });
  // The host with a good Secret keeps its certificate.
  t.is((await tls('example.com', ['--resolve', `example.com:${port}:127.0.0.1`, '--cacert', join(env.dir, 'ca.crt')])).subject, 'CN=example.com');
  // Once the Secret exists, its certificate is served.
  const pem = async (f: string) => (await readFile(join(env.dir, f))).toString('base64');
  await env.client.resource<Secret>(Resources.secrets).create('default', { metadata: { namespace: 'default', name: 'no-such-secret' }, type: 'kubernetes.io/tls', data: { 'tls.crt': await pem('tls.crt'), 'tls.key': await pem('tls.key') } });
  await waitFor('missing.example.com to get the Secret\'s certificate', 10_000, async () => ((await tls('missing.example.com', ['-k', '--resolve', `missing.example.com:${port}:127.0.0.1`])).subject === 'CN=example.com' ? true : undefined));
  await env.client.resource<Ingress>(ING).delete('default', 'broken-tls');
  for (const n of ['bad-tls', 'no-such-secret']) await env.client.resource<Secret>(Resources.secrets).delete('default', n);
  t.pass();
});

test.serial('an Ingress of another class is ignored; removing the default backend gives 404', async (t) => {
  await env.client.resource<Ingress>(ING).create('default', { metadata: { namespace: 'default', name: 'other' }, spec: { ingressClassName: 'nginx', rules: [{ host: 'other.org', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api', port: { number: 80 } } } }] } }] } });
  const shop = await env.client.resource<Ingress>(ING).get('default', 'shop');
  await env.client.resource<Ingress>(ING).update({ ...shop, spec: { ...shop.spec, defaultBackend: undefined } });
  await waitFor('the default backend to go', 10_000, async () => ((await get(env.ctl.proxy.httpPort, 'other.org', '/')).status === 404 ? true : undefined));
  const r = await get(env.ctl.proxy.httpPort, 'other.org', '/');
  t.is(r.status, 404);
  t.is((await get(env.ctl.proxy.httpPort, 'example.com', '/api')).status, 200);
});

test.serial('WebSocket upgrade is tunnelled; a 1 MB POST streams through and back', async (t) => {
  const port = env.ctl.proxy.httpPort;
  const echoed = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/ws', headers: { host: 'example.com', connection: 'Upgrade', upgrade: 'websocket' } });
    req.on('upgrade', (res, socket) => {
      t.is(res.headers['x-backend'], 'api');
      socket.write('ping over the tunnel');
      socket.once('data', (d: Buffer) => {
        resolve(d.toString());
        socket.destroy();
      });
    });
    req.on('error', reject);
    req.end();
  });
  t.is(echoed, 'ping over the tunnel');
  const body = Buffer.alloc(1 << 20, 7);
  const back = await new Promise<Buffer>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/upload', headers: { host: 'example.com' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    });
    req.on('error', reject);
    for (let i = 0; i < 16; i++) req.write(body.subarray(i << 16, (i + 1) << 16));
    req.end();
  });
  t.true(back.equals(body));
});

test.serial('a dead endpoint: idempotent requests are retried on a live one, none fails', async (t) => {
  const dead = await backend('api', ip(15), env.api[0]!.port);
  await new Promise((res) => dead.server.close(res));
  const slices = env.client.resource<EndpointSlice>(Resources.endpointslices);
  const cur = await slices.get('default', 'api-manual');
  await slices.update({ ...cur, endpoints: [{ addresses: [ip(15)], conditions: { ready: true } }, ...(cur.endpoints ?? [])] });
  await waitFor('the dead endpoint in the table', 10_000, async () => (env.ctl.proxy.current.match('example.com', '/api')?.backend.endpoints.length === 3 ? true : undefined));
  const results = await Promise.all(Array.from({ length: 30 }, () => get(env.ctl.proxy.httpPort, 'example.com', '/api')));
  t.deepEqual(results.filter((r) => r.status !== 200), []);
  await slices.update({ ...(await slices.get('default', 'api-manual')), endpoints: cur.endpoints });
});

test.serial('a rolling replacement of the api backends under a constant request loop loses no request', async (t) => {
  const port = env.ctl.proxy.httpPort;
  const slices = env.client.resource<EndpointSlice>(Resources.endpointslices);
  const bport = env.api[0]!.port;
  let ok = 0;
  const failures: string[] = [];
  const seen = new Map<string, number>();
  let stop = false;
  // 4 clients in a loop, each request on a new connection to the proxy (the proxy pools its own to the backends).
  const loop = async () => {
    while (!stop) {
      try {
        const r = await get(port, 'example.com', '/api');
        if (r.status === 200) {
          ok++;
          const ip = r.body.split(' ')[1]!;
          seen.set(ip, (seen.get(ip) ?? 0) + 1);
        } else failures.push(`${r.status} ${r.body.trim()}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const loops = Array.from({ length: 4 }, loop);
  const old = env.api;
  const fresh = [await backend('api', ip(21), bport), await backend('api', ip(22), bport)];
  const setEndpoints = async (eps: { ip: string; ready: boolean }[]) => {
    const cur = await slices.get('default', 'api-manual');
    await slices.update({ ...cur, endpoints: sliceOf('api', eps, bport).endpoints });
  };
  const step = async (eps: { ip: string; ready: boolean }[], removed: Backend | undefined) => {
    const before = ok;
    await setEndpoints(eps);
    await waitFor('requests after the change', 10_000, async () => (ok >= before + 50 ? true : undefined));
    if (removed) {
      // The old pod stops, as a container does after its grace period: it closes idle keep-alive connections.
      await new Promise((res) => { removed.server.close(res); removed.server.closeIdleConnections(); });
    }
  };
  // Surge one new, retire one old, surge the second new, retire the second old (maxSurge 1, maxUnavailable 0).
  await step([{ ip: old[0]!.ip, ready: true }, { ip: old[1]!.ip, ready: true }, { ip: fresh[0]!.ip, ready: true }], undefined);
  await step([{ ip: old[0]!.ip, ready: false }, { ip: old[1]!.ip, ready: true }, { ip: fresh[0]!.ip, ready: true }], old[0]);
  await step([{ ip: old[1]!.ip, ready: true }, { ip: fresh[0]!.ip, ready: true }, { ip: fresh[1]!.ip, ready: true }], undefined);
  await step([{ ip: old[1]!.ip, ready: false }, { ip: fresh[0]!.ip, ready: true }, { ip: fresh[1]!.ip, ready: true }], old[1]);
  const before = ok;
  await waitFor('requests on the new backends only', 10_000, async () => (ok >= before + 100 ? true : undefined));
  stop = true;
  await Promise.all(loops);
  for (const b of fresh) {
    b.server.closeAllConnections();
    await new Promise((res) => b.server.close(res));
  }
  t.log(`${ok} requests, ${failures.length} failed; per backend ${JSON.stringify(Object.fromEntries(seen))}`);
  t.deepEqual(failures, []);
  t.true((seen.get(ip(21)) ?? 0) > 0 && (seen.get(ip(22)) ?? 0) > 0);
  t.true(ok >= 300);
});
