// The seed's Ingress on real containers: two lab workers (lab mking, nodes 10.213.80.0/24, pods
// 10.213.81-82.0/24) with their containerd and node agent, the EndpointSlice controller, and
// mkube-ingress on each node as `mkube up` runs it (in the node's namespace, NODE_IP:80 and :443,
// packages/cli/src/ingress.ts). busybox httpd pods answer with their name. An Ingress for
// example.com (no class: the default IngressClass mkube) routes /api to the api pods and /frontend
// to the frontend pod, other hosts to its defaultBackend; curl through both nodes, HTTPS with a
// Secret's certificate (curl --resolve --cacert), kubectl's ADDRESS column from
// status.loadBalancer, and a rolling replacement of the api pods under a constant request loop
// through both nodes that loses no request.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { Resources, type KubeObject } from '@mkube/client';
import { ControllerManager } from '@mkube/controllers';
import { kubectlFor, labDown, labUp, REPO_ROOT, run, startLabAgents, waitFor, waitNodesReady, type LabAgents, type LabNode, type LabSummary } from '@mkube/testing';
import { startControlPlane, type ControlPlane } from './control_plane.js';
import { ingressArgs } from '@mkube/cli';

const LAB = 'mking';
const SUBNET = 80; // nodes 10.213.80.0/24, pods 10.213.81.0/24 and 10.213.82.0/24
const INGRESS_BIN = join(REPO_ROOT, 'packages', 'ingress', 'src', 'bin', 'mkube-ingress.ts');

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
let cm: ControllerManager | undefined;
let nodeAgents: LabAgents | undefined;
const ingressProcs: ChildProcess[] = [];
let workers: LabNode[] = [];

const { k, apply } = kubectlFor(() => cp!);

test.before(async () => {
  lab = await labUp(['--workers', '2', '--name', LAB, '--subnet', String(SUBNET)], 120_000);
  workers = lab.workers;
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  cm = new ControllerManager({ kubeconfig: cp.kubeconfigPath, leaderElect: false, controllers: ['endpoints', 'endpointslice', 'serviceaccount'], metricsPort: -1, logger: pino({ level: 'silent' }) });
  await cm.start();
  nodeAgents = await startLabAgents(cp, LAB, workers);
  for (const w of workers) {
    ingressProcs.push(spawn('nsenter', [`--net=/run/netns/${w.netns}`, process.execPath, '--import', 'tsx', INGRESS_BIN, ...ingressArgs(cp.kubeconfigPath, w.nodeIP, undefined)], { cwd: REPO_ROOT, stdio: process.env.MKUBE_DEBUG ? 'inherit' : 'ignore' }));
  }
  for (const w of workers) await waitFor(`mkube-ingress on ${w.nodeIP}:80`, 60_000, async () => ((await get(w.nodeIP, 'nothing.example', '/').catch(() => undefined))?.status === 404 ? true : undefined));
  await waitNodesReady(() => cp!.client.resource(Resources.nodes).list(), 2);
});

test.after.always(async () => {
  for (const p of ingressProcs) if (p.exitCode === null) p.kill('SIGKILL');
  await nodeAgents?.kill();
  await cm?.stop();
  await cp?.stop();
  await labDown(LAB);
  nodeAgents?.remove();
});

/** GET http://ip/path with a Host header on a new connection: status and body. */
function get(ip: string, host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port: 80, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${host}${path} via ${ip}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** A busybox httpd pod answering every path below with its own name ("api-1"). */
const webPod = (name: string, app: string, node: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: {app: ${app}}
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'mkdir -p /www && for f in api frontend index.html; do echo ${name} > /www/$f; done && exec httpd -f -p 8080 -h /www']
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`;
const svc = (name: string) => `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  selector: {app: ${name}}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

async function readyPod(name: string): Promise<void> {
  await waitFor(`${name} ready`, 120_000, async () => {
    const p = (await cp!.client.resource(Resources.pods).get('default', name).catch(() => undefined)) as KubeObject | undefined;
    return p?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
  });
}

test.serial('example.com: /api to the api pods, /frontend to the frontend pod, another host to the default backend, HTTPS with the Secret, status; a rolling replacement of the api pods loses no request', async (t) => {
  t.timeout(400_000);
  const [w0, w1] = [workers[0]!, workers[1]!];
  await apply('backends', [webPod('api-1', 'api', w0.name), webPod('api-2', 'api', w1.name), webPod('frontend-1', 'frontend', w0.name), webPod('fallback-1', 'fallback', w1.name), svc('api'), svc('frontend'), svc('fallback')].join('---\n'));
  for (const p of ['api-1', 'api-2', 'frontend-1', 'fallback-1']) await readyPod(p);
  const dir = cp!.dir;
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=mking-ca', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt')], 30_000);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=example.com', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.csr')], 30_000);
  writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:example.com');
  await run('openssl', ['x509', '-req', '-in', join(dir, 'tls.csr'), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', join(dir, 'ext'), '-out', join(dir, 'tls.crt')], 30_000);
  await k(['create', 'secret', 'tls', 'example-tls', '--cert', join(dir, 'tls.crt'), '--key', join(dir, 'tls.key')]);
  await apply('ingress', `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  defaultBackend: {service: {name: fallback, port: {number: 80}}}
  tls: [{hosts: [example.com], secretName: example-tls}]
  rules:
  - host: example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
      - {path: /frontend, pathType: Prefix, backend: {service: {name: frontend, port: {name: http}}}}
`);
  t.is((await k(['get', 'ingressclass', 'mkube', '-o', 'jsonpath={.spec.controller} {.metadata.annotations.ingressclass\\.kubernetes\\.io/is-default-class}'])).trim(), 'mkube.io/ingress true');
  const curl = async (...args: string[]) => (await run('curl', ['-sS', '--max-time', '5', ...args], 10_000)).stdout.trim();
  for (const w of workers) {
    await waitFor(`example.com/api via ${w.nodeIP}`, 30_000, async () => ((await get(w.nodeIP, 'example.com', '/api').catch(() => undefined))?.body.startsWith('api-') ? true : undefined));
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await curl('-H', 'Host: example.com', `http://${w.nodeIP}/api`));
    t.deepEqual([...seen].sort(), ['api-1', 'api-2'], `both api pods through ${w.nodeIP}`);
    t.is(await curl('-H', 'Host: example.com', `http://${w.nodeIP}/frontend`), 'frontend-1');
    t.is(await curl('-H', 'Host: unknown.example.org', `http://${w.nodeIP}/api`), 'fallback-1');
    t.is(await curl('--resolve', `example.com:443:${w.nodeIP}`, '--cacert', join(dir, 'ca.crt'), 'https://example.com/frontend'), 'frontend-1');
  }
  const addresses = await waitFor('ADDRESS of the Ingress', 30_000, async () => {
    const a = (await k(['get', 'ingress', 'shop', '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}'])).trim();
    return a.split(' ').length === 2 ? a : undefined;
  });
  t.deepEqual(addresses.split(' ').sort(), workers.map((w) => w.nodeIP).sort());
  t.log((await k(['get', 'ingress', 'shop'])).trim());

  // The rolling replacement under a constant loop through both nodes (maxSurge 2, maxUnavailable 0 by hand).
  let ok = 0;
  let stop = false;
  const failures: string[] = [];
  const served = new Map<string, number>();
  const loop = async (ip: string) => {
    while (!stop) {
      try {
        const r = await get(ip, 'example.com', '/api');
        if (r.status === 200) {
          ok++;
          served.set(r.body.trim(), (served.get(r.body.trim()) ?? 0) + 1);
        } else failures.push(`${r.status} ${r.body.trim()}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const loops = [loop(w0.nodeIP), loop(w1.nodeIP), loop(w0.nodeIP), loop(w1.nodeIP)];
  await apply('new-api', [webPod('api-3', 'api', w0.name), webPod('api-4', 'api', w1.name)].join('---\n'));
  await readyPod('api-3');
  await readyPod('api-4');
  for (const old of ['api-1', 'api-2']) {
    await k(['delete', 'pod', old, '--wait=false']);
    await waitFor(`${old} gone`, 60_000, async () => ((await cp!.client.resource(Resources.pods).get('default', old).then(() => false, (e: { code?: number }) => e.code === 404)) ? true : undefined));
  }
  const before = ok;
  await waitFor('requests after the replacement', 30_000, async () => (ok >= before + 100 ? true : undefined));
  stop = true;
  await Promise.all(loops);
  t.log(`${ok} requests through the Ingress during the rollout, ${failures.length} failed; served by ${JSON.stringify(Object.fromEntries(served))}`);
  t.deepEqual(failures, []);
  t.true((served.get('api-3') ?? 0) > 0 && (served.get('api-4') ?? 0) > 0);
  const after = new Set<string>();
  for (let i = 0; i < 6; i++) after.add(await curl('-H', 'Host: example.com', `http://${w0.nodeIP}/api`));
  t.deepEqual([...after].sort(), ['api-3', 'api-4']);
});
