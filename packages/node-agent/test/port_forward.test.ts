// pods/portforward end to end: real kubectl 1.27 (SPDY/3.1) and 1.33 (SPDY
// tunnelled in a WebSocket) and a v4.channel.k8s.io WebSocket client (the
// Python client's protocol) through a real API server and node agent to
// containerd's streaming server, into an nginx pod's network namespace
// (host-node lab): the page through the forward, concurrent connections,
// `svc/NAME`, a port nothing listens on, refusals before any upgrade.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError as ClientApiError, Resources, loadKubeconfig } from '@mkube/client';
import { issueCertificate } from '@mkube/apiserver';
import { connectWebSocket } from '../src/server/websocket.js';
import { startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, type LabNode } from './lab_helper.js';

const LAB = 'mkpfw';
const SUBNET = 114; // nodes 10.213.114.0/24, pods 10.213.115.0/24
const KUBECTL = { '1.27': '/usr/lib/google-cloud-sdk/bin/kubectl.1.27', '1.33': '/usr/lib/google-cloud-sdk/bin/kubectl.1.33' } as const;
type Version = keyof typeof KUBECTL;

let ctx: { cp: ControlPlane; node: LabNode; rootDir: string; agent?: AgentProcess } | undefined;
const children = new Set<ChildProcess>();

test.before(async () => {
  const summary = await labUp(['--host-node', '--name', LAB, '--subnet', String(SUBNET)]);
  const node = summary.workers[0]!;
  const cp = await startControlPlane(LAB);
  ctx = { cp, node, rootDir: tmpRoot(LAB) };
  ctx.agent = await startAgent(cp, node, ctx.rootDir, ['--pod-cidr', node.podCIDR]);
  await cp.client.resource(Resources.pods).create('default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
    spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, containers: [{ name: 'nginx', image: 'nginx', imagePullPolicy: 'IfNotPresent', ports: [{ containerPort: 80 }] }] },
  });
  await cp.client.resource(Resources.services).create('default', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 8080, targetPort: 80 }] },
  });
  await waitFor('pod web Running', 60_000, async () => {
    const p = await cp.client.resource(Resources.pods).get('default', 'web');
    return p.status?.phase === 'Running' ? true : undefined;
  });
});

test.after.always(async () => {
  for (const c of children) c.kill('SIGKILL');
  await labDown(LAB).catch(() => undefined);
  if (!ctx) return;
  await ctx.agent?.kill('SIGKILL');
  await ctx.cp.stop();
  rmSync(ctx.rootDir, { recursive: true, force: true });
});

interface Forward {
  port: number;
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts `kubectl port-forward TARGET :REMOTE` and resolves once it listens on a local port. */
async function forward(v: Version, target: string, remote: number, extra: string[] = []): Promise<Forward> {
  const p = spawn(KUBECTL[v], ['--kubeconfig', ctx!.cp.kubeconfigPath, ...extra, 'port-forward', '--address', '127.0.0.1', target, `:${remote}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(p);
  const kill = setTimeout(() => p.kill('SIGKILL'), 60_000); // bound on every forward
  let out = '';
  let err = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) =>
    p.once('close', (code) => {
      clearTimeout(kill);
      children.delete(p);
      r(code);
    }),
  );
  const port = await Promise.race([
    waitFor(`kubectl ${v} port-forward ${target} listening`, 20_000, () => {
      const m = /Forwarding from 127\.0\.0\.1:(\d+) -> \d+/.exec(out);
      return m ? Number(m[1]) : undefined;
    }),
    exited.then((code) => {
      throw new Error(`kubectl ${v} port-forward exited with ${code}: ${err}${out}`);
    }),
  ]);
  return {
    port,
    stderr: () => err,
    exited,
    async stop() {
      p.kill('SIGTERM');
      await exited;
    },
  };
}

/** One HTTP GET over its own TCP connection. */
function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('GET timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** A TCP connection whose whole answer (until the peer closes) is `response`. */
function rawConnect(port: number): Promise<{ socket: Socket; response: Promise<string>; closed(): boolean }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    let data = '';
    let closed = false;
    socket.setTimeout(20_000, () => socket.destroy(new Error('no answer within 20 s')));
    socket.on('data', (d: Buffer) => (data += d.toString()));
    const response = new Promise<string>((res, rej) => {
      socket.on('close', () => {
        closed = true;
        res(data);
      });
      socket.on('error', rej);
    });
    socket.once('connect', () => resolve({ socket, response, closed: () => closed }));
    socket.once('error', reject);
  });
}

for (const v of Object.keys(KUBECTL) as Version[]) {
  test.serial(`kubectl ${v} port-forward pod/web: a GET on the local port returns nginx's page, also over two concurrent connections`, async (t) => {
    const f = await forward(v, 'pod/web', 80, ['-v=8']);
    t.teardown(() => f.stop());
    const r = await get(f.port);
    // the transport each version uses: plain SPDY/3.1 (1.27), SPDY tunnelled in a WebSocket (1.33)
    if (v === '1.27') {
      t.regex(f.stderr(), /Upgrade: SPDY\/3\.1/);
      t.regex(f.stderr(), /X-Stream-Protocol-Version: portforward\.k8s\.io/);
    } else {
      t.regex(f.stderr(), /Sec-Websocket-Protocol: SPDY\/3\.1\+portforward\.k8s\.io/);
      t.regex(f.stderr(), /negotiated protocol: portforward\.k8s\.io/);
    }
    t.is(r.status, 200);
    t.regex(r.body, /Welcome to nginx!/);
    // two connections open at the same time: the first sends half a request,
    // the second is answered meanwhile, then the first completes
    const first = await rawConnect(f.port);
    first.socket.write('GET / HTTP/1.0\r\n');
    const second = await get(f.port, '/missing-page');
    t.is(second.status, 404);
    t.false(first.closed());
    first.socket.write('Host: web\r\n\r\n');
    const a = await first.response;
    t.regex(a, /^HTTP\/1\.1 200 OK/);
    t.regex(a, /Welcome to nginx!/);
    // and again after those closed: the forward lives on
    t.is((await get(f.port)).status, 200);
  });

  test.serial(`kubectl ${v} port-forward svc/web: kubectl resolves the service to the pod and its target port`, async (t) => {
    const f = await forward(v, 'svc/web', 8080);
    t.teardown(() => f.stop());
    const r = await get(f.port);
    t.is(r.status, 200);
    t.regex(r.body, /Welcome to nginx!/);
  });

  test.serial(`kubectl ${v} port-forward to a port nothing listens on reports upstream's forwarding error`, async (t) => {
    const f = await forward(v, 'pod/web', 81);
    t.teardown(() => f.stop());
    // the local connection is accepted, then closed without an answer
    await new Promise<void>((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port: f.port }, () => s.write('GET / HTTP/1.0\r\n\r\n'));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.setTimeout(20_000, () => s.destroy());
    });
    const msg = await waitFor('the forwarding error on kubectl stderr', 20_000, () => (/an error occurred forwarding \d+ -> 81/.test(f.stderr()) ? f.stderr() : undefined));
    t.regex(msg, /error forwarding port 81 to pod [0-9a-f]{64}, uid : .*connection refused/);
  });
}

test.serial('a v4.channel.k8s.io WebSocket port-forward (the Python client) carries the port prefix and the data', async (t) => {
  const kc = loadKubeconfig(ctx!.cp.kubeconfigPath);
  const ws = await connectWebSocket(`${kc.server}/api/v1/namespaces/default/pods/web/portforward?ports=80`, ['v4.channel.k8s.io'], { ca: kc.ca, cert: kc.cert, key: kc.key, servername: 'localhost' });
  t.teardown(() => ws.socket.destroy());
  t.is(ws.protocol, 'v4.channel.k8s.io');
  const frames: Buffer[] = [];
  ws.on('message', (m: Buffer) => frames.push(m));
  const closed = new Promise<void>((r) => ws.on('close', () => r()));
  // first frame on each of the port's channels (0 data, 1 error): the port, little-endian uint16
  await waitFor('both port frames', 15_000, () => (frames.length >= 2 ? true : undefined));
  t.deepEqual(frames.slice(0, 2).map((f) => [...f]).sort((a, b) => a[0]! - b[0]!), [[0, 80, 0], [1, 80, 0]]);
  ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('GET / HTTP/1.0\r\nHost: web\r\n\r\n')]));
  await Promise.race([closed, waitFor('the page on the data channel', 15_000, () => (Buffer.concat(frames.slice(2).filter((f) => f[0] === 0).map((f) => f.subarray(1))).includes('</html>') ? true : undefined))]);
  const data = Buffer.concat(frames.slice(2).filter((f) => f[0] === 0).map((f) => f.subarray(1))).toString();
  t.regex(data, /^HTTP\/1\.1 200 OK/);
  t.regex(data, /Welcome to nginx!/);
  t.deepEqual(frames.slice(2).filter((f) => f[0] === 1 && f.length > 1), []);
});

test.serial('port-forward refusals before any upgrade: a plain request, a bad port, no RBAC permission', async (t) => {
  const kc = loadKubeconfig(ctx!.cp.kubeconfigPath);
  const plain = await ctx!.cp.client.request('POST', '/api/v1/namespaces/default/pods/web/portforward').then(
    () => undefined,
    (e: ClientApiError) => e,
  );
  t.is(plain?.code, 400);
  t.is(plain?.status.message, 'Upgrade request required');
  const tls = { ca: kc.ca, cert: kc.cert, key: kc.key, servername: 'localhost' };
  const bad = await connectWebSocket(`${kc.server}/api/v1/namespaces/default/pods/web/portforward?ports=http`, ['v4.channel.k8s.io'], tls).then(() => undefined, (e: Error) => e);
  t.regex(String(bad?.message), /HTTP\/1\.1 400 /);
  t.regex(String(bad?.message), /unable to parse \\"http\\" as a port/);
  // bob has a client certificate from the cluster CA and no RBAC binding
  const pki = join(ctx!.cp.dir, 'api', 'pki');
  issueCertificate(pki, 'pf-bob', '/CN=bob', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  const bob = { ca: kc.ca, cert: readFileSync(join(pki, 'pf-bob.crt')), key: readFileSync(join(pki, 'pf-bob.key')), servername: 'localhost' };
  const denied = await connectWebSocket(`${kc.server}/api/v1/namespaces/default/pods/web/portforward?ports=80`, ['v4.channel.k8s.io'], bob).then(() => undefined, (e: Error) => e);
  t.regex(String(denied?.message), /HTTP\/1\.1 403 /);
  t.regex(String(denied?.message), /pods \\"web\\" is forbidden: User \\"bob\\" cannot create resource \\"pods\/portforward\\" in API group \\"\\" in the namespace \\"default\\"/);
});
