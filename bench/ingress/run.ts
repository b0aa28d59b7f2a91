// Ingress benchmark: requests per second and latency of GET / to 2 nginx pods on a lab worker
// (real containers, lab mkibn, subnets 10.213.84-85) three ways, each from this host with the same
// load generator (load.ts, its own process, BENCH_CONNECTIONS keep-alive connections):
//   direct      — the pods' IPs, connections spread over both;
//   mkube-ingress — through mkube-ingress (the built bin, one process) on 127.0.0.1, from an Ingress;
//   nginx       — Debian's nginx (installed here with apt-get when missing) as a reverse proxy to the
//                 same two pods (upstream keepalive 64, HTTP/1.1 to the backends), worker_processes 1
//                 (mkube-ingress is one process too).
// Prints the three results and the ratios mkube-ingress / nginx and mkube-ingress / direct.
// Not a test: it measures.
//
//   node --import tsx bench/ingress/run.ts
//   BENCH_SECONDS=10 BENCH_CONNECTIONS=32 node --import tsx bench/ingress/run.ts
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Resources, type KubeObject } from '@mkube/client';
import { ControllerManager } from '@mkube/controllers';
import { freePort, labDown, labUp, REPO_ROOT, run, startAgent, tmpRoot, waitFor, type AgentProcess, type LabSummary } from '@mkube/testing';
import { startControlPlane, type ControlPlane } from '../../test/e2e/control_plane.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const LAB = 'mkibn';
const SUBNET = 84; // node 10.213.84.11, pods 10.213.85.0/24
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const INGRESS_BIN = join(REPO_ROOT, 'packages', 'ingress', 'dist', 'src', 'bin', 'mkube-ingress.js');
const HOST = 'bench.example';

interface Result {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  requests: number;
  non200: number;
  errors: number;
}

function have(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** nginx from Debian's package, installed when missing without starting its service (RUNLEVEL=1: invoke-rc.d starts nothing). */
function ensureNginx(): string {
  if (!have('nginx')) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
    const install = () => spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'nginx'], { stdio: 'inherit', env }).status === 0;
    if (!install()) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      if (!install()) throw new Error('cannot install Debian package nginx (apt-get install nginx failed)');
    }
  }
  return spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim();
}

function nginxConf(dir: string, port: number, backends: string[]): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream backends {
${backends.map((b) => `    server ${b};`).join('\n')}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 100000;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`;
}

function get(ip: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port, path: '/', headers: { host: HOST }, agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

function load(targets: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'load.ts'), targets.join(','), HOST, '/', String(CONNECTIONS), String(SECONDS), '2'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Result) : reject(new Error(`load.ts exited ${code}`))));
  });
}

const procs: ChildProcess[] = [];
let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
let cm: ControllerManager | undefined;
let agent: AgentProcess | undefined;
const dir = mkdtempSync(join(tmpdir(), 'mkube-bench-ingress-'));
let root: string | undefined;

async function cleanup(): Promise<void> {
  // SIGTERM: nginx's master then stops its worker (SIGKILL would orphan it).
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  await agent?.kill('SIGKILL').catch(() => undefined);
  await cm?.stop().catch(() => undefined);
  await cp?.stop().catch(() => undefined);
  await labDown(LAB).catch(() => undefined);
  if (root) rmSync(root, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}

try {
  const nginx = ensureNginx();
  const version = spawnSync(nginx, ['-v'], { encoding: 'utf8' }).stderr.trim();
  const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);
  say(`${version}; lab ${LAB} up`);
  lab = await labUp(['--workers', '1', '--name', LAB, '--subnet', String(SUBNET)], 120_000);
  const w = lab.workers[0]!;
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  cm = new ControllerManager({ kubeconfig: cp.kubeconfigPath, leaderElect: false, controllers: ['endpointslice', 'serviceaccount'], metricsPort: -1, logger: pino({ level: 'silent' }) });
  await cm.start();
  root = tmpRoot(`${LAB}-${w.name}`);
  agent = await startAgent(cp, w, root, ['--pod-cidr', w.podCIDR], { netns: true });
  const pod = (name: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: web}}
spec:
  nodeName: ${w.name}
  containers: [{name: nginx, image: nginx, imagePullPolicy: IfNotPresent, readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 1}}]
`;
  writeFileSync(join(dir, 'objects.yaml'), [pod('web-1'), pod('web-2'), `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
`, `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench}
spec:
  ingressClassName: mkube
  rules: [{host: ${HOST}, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
`].join('---\n'));
  await run(KUBECTL, ['--kubeconfig', cp.kubeconfigPath, 'apply', '-f', join(dir, 'objects.yaml')], 60_000);
  say('waiting for the nginx pods');
  const podIPs: string[] = [];
  for (const name of ['web-1', 'web-2']) {
    podIPs.push(await waitFor(`${name} ready`, 180_000, async () => {
      const p = (await cp!.client.resource(Resources.pods).get('default', name).catch(() => undefined)) as KubeObject | undefined;
      return p?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? (p!.status.podIP as string) : undefined;
    }));
  }
  const direct = podIPs.map((ip) => `${ip}:80`);
  const ingressPort = await freePort();
  procs.push(spawn(process.execPath, [INGRESS_BIN, '--kubeconfig', cp.kubeconfigPath, '--ingress-bind-address', '127.0.0.1', '--http-port', String(ingressPort), '--https-port', '0', '--metrics-port', '-1', '--publish-status-address', '127.0.0.1', '--log-level', process.env.BENCH_LOG_LEVEL ?? 'warn'], { stdio: 'inherit' }));
  const nginxPort = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, nginxPort, direct));
  procs.push(spawn(nginx, ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')], { stdio: 'inherit' }));
  say(`pods ${podIPs.join(', ')}; starting mkube-ingress and nginx`);
  // Same page everywhere before measuring.
  const page = (await get(podIPs[0]!, 80)).body;
  for (const [what, ip, port] of [['mkube-ingress', '127.0.0.1', ingressPort], ['nginx', '127.0.0.1', nginxPort]] as const) {
    await waitFor(`${what} to serve the pods' page`, 60_000, async () => {
      const r = await get(ip, port);
      if (r.body !== page) throw new Error(`${what} answered ${r.status}: ${r.body.slice(0, 200)}`);
      return true;
    });
  }
  process.stderr.write(`[bench] ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${CONNECTIONS} connections, ${SECONDS} s each; page ${page.length} bytes; ${version}\n`);
  const results: Record<string, Result> = {};
  results.direct = await load(direct);
  results['mkube-ingress'] = await load([`127.0.0.1:${ingressPort}`]);
  results.nginx = await load([`127.0.0.1:${nginxPort}`]);
  const fmt = (n: number, d = 2) => n.toFixed(d);
  process.stdout.write('| path | requests/s | p50 ms | p99 ms | max ms | non-200 | errors |\n|---|---|---|---|---|---|---|\n');
  for (const [name, r] of Object.entries(results)) process.stdout.write(`| ${name} | ${fmt(r.rps, 0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.non200} | ${r.errors} |\n`);
  const i = results['mkube-ingress']!;
  process.stdout.write(`ratio mkube-ingress / nginx: requests/s ${fmt(i.rps / results.nginx!.rps)}, p99 ${fmt(i.p99 / results.nginx!.p99)}\n`);
  process.stdout.write(`ratio mkube-ingress / direct: requests/s ${fmt(i.rps / results.direct!.rps)}, p99 ${fmt(i.p99 / results.direct!.p99)}\n`);
} finally {
  await cleanup();
}
