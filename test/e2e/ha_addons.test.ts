// The add-ons of a cluster built through the join flow: `mkube up --control-planes 3 --workers 2 --lb-address-pool
// 10.213.244.0/24` in its own lab (deploy/lab/lab.sh --name mkad --subnet 238: hosts 10.213.238.11-15, pods
// 10.213.239-243.0/24), every host through mkube init / mkube join. Checked: a pod resolves
// kubernetes.default.svc.cluster.local and a Service's name through kube-dns (the workers' mkube-dns); a
// LoadBalancer Service gets a pool address that answers from this machine (the control planes' cloud controller
// manager, a worker's announcement); `kubectl top nodes` shows both workers (the control planes' metrics-servers
// behind the metrics.k8s.io APIService); an Ingress routes through each worker's mkube-ingress (its client
// certificate fetched with the bootstrap token; a worker's node credentials cannot fetch it); the first control
// plane's API server, restarted with every store member after the joins, still serves once its own store member is
// SIGKILLed. Also: mkube status healthy with them; a worker's mkube leave takes its DNS server out of kube-dns.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { labDown } from '@mkube/testing';
import { readState, stopProcess } from '@mkube/cli';

const LAB = 'mkad';
const SUBNET = 238;
const POOL = '10.213.244.0/24';
const MKUBE = join(process.cwd(), 'packages/cli/dist/src/bin/mkube.js');
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';

interface Run { code: number; out: string; err: string }
function run(cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, env, maxBuffer: 32 << 20, killSignal: 'SIGKILL' }, (e, out, err) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err }));
  });
}

interface HostRecord { name: string; role: 'control-plane' | 'worker'; address: string; dataDir: string; netns?: string; apiServer?: string; storeClientURL?: string }

let work: string;
let dir: string;
let hosts: HostRecord[] = [];
const kubeconfig = () => join(dir, 'admin.kubeconfig');
const kubectl = (args: string[]) => run(KUBECTL, args, 60_000, { ...process.env, KUBECONFIG: kubeconfig(), HOME: work });
const k = async (args: string[]) => {
  const r = await kubectl(args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.err.trim()}`);
  return r.out;
};
const mkube = (args: string[], timeoutMs = 120_000) => run(process.execPath, [MKUBE, ...args], timeoutMs);
const planes = () => hosts.filter((h) => h.role === 'control-plane');
const workers = () => hosts.filter((h) => h.role === 'worker');

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${last})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** One HTTP GET from this machine: status and body. */
function get(host: string, path: string, hostHeader?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port: 80, path, headers: hostHeader ? { host: hostHeader } : {}, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function apply(name: string, yaml: string): Promise<void> {
  const f = join(work, `${name}.yaml`);
  writeFileSync(f, yaml);
  await k(['apply', '-f', f]);
}

test.before(async (t) => {
  work = mkdtempSync(join(tmpdir(), 'mkube-ha-addons-'));
  dir = join(work, 'cluster');
  await labDown(LAB).catch(() => undefined);
  const started = Date.now();
  const r = await mkube(['up', '--control-planes', '3', '--workers', '2', '--data-dir', dir, '--lab-name', LAB, '--lab-subnet', String(SUBNET), '--lb-address-pool', POOL], 480_000);
  if (r.code !== 0) throw new Error(`mkube up failed (${r.code}):\n${r.out}\n${r.err}`);
  t.log(`mkube up --control-planes 3 --workers 2 (with the add-ons): ${((Date.now() - started) / 1000).toFixed(1)} s`);
  hosts = readState(dir)!.hosts as HostRecord[];
  await apply('ns', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: addons\n');
  // busybox httpd answering with the pod's name, two replicas behind a LoadBalancer Service.
  await apply('web', `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: addons}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: addons}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: addons}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
`);
  await waitUntil('Deployment web available and the client pod Ready', 180_000, async () => {
    const ready = (await k(['get', 'deployment', 'web', '-n', 'addons', '-o', 'jsonpath={.status.readyReplicas}'])).trim();
    const client = (await k(['get', 'pod', 'client', '-n', 'addons', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).trim();
    return ready === '2' && client === 'True' ? true : undefined;
  });
});

test.after.always(async () => {
  if (dir) {
    await mkube(['down', '--data-dir', dir], 120_000);
    for (const h of hosts) for (const c of readState(h.dataDir)?.components ?? []) await stopProcess(c.pid, 2000).catch(() => undefined);
  }
  await labDown(LAB).catch(() => undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('every worker runs mkube-dns and mkube-ingress, every control plane the CCM and a metrics-server; kube-dns lists the workers', async (t) => {
  for (const w of workers()) t.deepEqual((readState(w.dataDir)?.components ?? []).map((c) => c.name).sort(), [`dns-${w.name}`, `ingress-${w.name}`, `node-agent-${w.name}`]);
  for (const p of planes()) for (const n of ['cloud-controller-manager', 'metrics-server']) t.true((readState(p.dataDir)?.components ?? []).some((c) => c.name === n), `${p.name} ${n}`);
  const ep = (await k(['get', 'endpoints', 'kube-dns', '-n', 'kube-system', '-o', 'jsonpath={.subsets[*].addresses[*].ip}'])).trim().split(/\s+/).sort();
  t.deepEqual(ep, workers().map((w) => w.address).sort());
  t.is((await k(['get', 'service', 'kube-dns', '-n', 'kube-system', '-o', 'jsonpath={.spec.clusterIP}'])).trim(), '10.213.200.10');
  const ms = (await k(['get', 'endpoints', 'metrics-server', '-n', 'kube-system', '-o', 'jsonpath={.subsets[*].addresses[*].ip}'])).trim().split(/\s+/).sort();
  t.deepEqual(ms, planes().map((p) => p.address).sort());
  // Every API server was given every store member (the earlier ones restarted after each join).
  for (const p of planes()) {
    const api = readState(p.dataDir)!.components.find((c) => c.name === 'apiserver')!;
    const servers = api.command[api.command.indexOf('--etcd-servers') + 1]!.split(',');
    t.deepEqual([...servers].sort(), planes().map((x) => x.storeClientURL!).sort(), p.name);
    t.is(servers[0], p.storeClientURL, `${p.name}'s own member first`);
  }
});

test.serial('a pod resolves kubernetes.default.svc.cluster.local and a Service name through kube-dns', async (t) => {
  const exec = (cmd: string[]) => k(['exec', '-n', 'addons', 'client', '--', 'timeout', '10', ...cmd]);
  const kube = await waitUntil('nslookup kubernetes.default.svc.cluster.local', 60_000, async () => {
    const out = await exec(['nslookup', 'kubernetes.default.svc.cluster.local']).catch(() => '');
    return /Address:\s*10\.213\.200\.1\b/.test(out) ? out : undefined;
  });
  t.regex(kube, /Server:\s+10\.213\.200\.10/);
  const ip = (await k(['get', 'service', 'web', '-n', 'addons', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  const web = await waitUntil('nslookup web.addons.svc.cluster.local', 30_000, async () => {
    const out = await exec(['nslookup', 'web.addons.svc.cluster.local']).catch(() => '');
    return out.includes(ip) ? out : undefined;
  });
  t.true(web.includes(ip));
  // Through the search path, to the pods.
  t.regex((await exec(['wget', '-qO-', 'http://web'])).trim(), /^web-/);
});

test.serial('a LoadBalancer Service gets an address of the pool that answers from this machine', async (t) => {
  const addr = await waitUntil('the LoadBalancer address', 60_000, async () => {
    const ip = (await k(['get', 'service', 'web', '-n', 'addons', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim();
    return ip || undefined;
  });
  t.regex(addr, /^10\.213\.244\.\d+$/);
  const body = await waitUntil(`http://${addr}/ to answer`, 60_000, async () => {
    const r = await get(addr, '/');
    return r.status === 200 ? r.body : undefined;
  });
  t.regex(body.trim(), /^web-/);
  t.log(`LoadBalancer ${addr} answering from this machine`);
});

test.serial('kubectl top nodes shows both workers', async (t) => {
  const out = await waitUntil('kubectl top nodes with both workers', 120_000, async () => {
    const r = await kubectl(['top', 'nodes', '--no-headers']);
    return r.code === 0 && workers().every((w) => new RegExp(`^${w.name}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi`, 'm').test(r.out)) ? r.out : undefined;
  });
  t.log(out.trim());
  t.pass();
});

test.serial('an Ingress routes through every worker\'s mkube-ingress', async (t) => {
  await apply('ingress', `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: addons}
spec:
  ingressClassName: mkube
  rules:
  - host: web.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`);
  // The Secret with mkube-ingress's certificate: readable with a bootstrap token, not with a node's credentials.
  const w0 = workers()[0]!;
  const nodeKc = join(w0.dataDir, 'kubelet.kubeconfig');
  const asNode = await run(KUBECTL, ['--kubeconfig', nodeKc, 'get', 'secret', '-n', 'kube-system', 'mkube-worker-addons'], 30_000, { ...process.env, HOME: work });
  t.not(asNode.code, 0);
  t.regex(asNode.err, /forbidden/i);
  for (const w of workers()) {
    const body = await waitUntil(`the Ingress through ${w.address}`, 60_000, async () => {
      const r = await get(w.address, '/', 'web.example.com');
      return r.status === 200 ? r.body : undefined;
    });
    t.regex(body.trim(), /^web-/, w.name);
    t.is((await get(w.address, '/', 'other.example.com')).status, 404);
  }
});

test.serial('mkube status is healthy with the add-ons; a worker that leaves takes its DNS server out of kube-dns and stops its add-ons', async (t) => {
  const st = JSON.parse((await mkube(['status', '--data-dir', dir, '-o', 'json'], 60_000)).out) as { healthy: boolean; leaders?: { lease: string }[] };
  t.true(st.healthy, JSON.stringify(st));
  t.true(st.leaders!.some((l) => l.lease === 'cloud-controller-manager'));
  const w = workers()[1]!;
  const pids = readState(w.dataDir)!.components.map((c) => c.pid);
  const r = await run('nsenter', [`--net=/run/netns/${w.netns!}`, process.execPath, MKUBE, 'leave', '--data-dir', w.dataDir, '--kubeconfig', kubeconfig()], 180_000);
  t.is(r.code, 0, `${r.out}\n${r.err}`);
  const ep = (await k(['get', 'endpoints', 'kube-dns', '-n', 'kube-system', '-o', 'jsonpath={.subsets[*].addresses[*].ip}'])).trim();
  t.is(ep, workers()[0]!.address);
  for (const pid of pids) t.throws(() => process.kill(pid, 0), undefined, `pid ${pid} stopped`);
  const node = await kubectl(['get', 'node', w.name]);
  t.regex(node.err, /NotFound/);
});

test.serial('after the first control plane\'s store member is SIGKILLed its API server still serves (it knows the other members)', async (t) => {
  const first = planes()[0]!;
  const store = readState(first.dataDir)!.components.find((c) => c.name === 'store')!;
  process.kill(store.pid, 'SIGKILL');
  const ctx = `--context=mkube-${first.name}`;
  const started = Date.now();
  await waitUntil(`a write through ${first.name}'s API server`, 30_000, async () => {
    const r = await kubectl([ctx, 'create', 'configmap', 'after-kill', '-n', 'addons', '--from-literal=a=b']);
    return r.code === 0 || /AlreadyExists/.test(r.err) ? true : undefined;
  });
  t.log(`write through ${first.name} acknowledged ${((Date.now() - started) / 1000).toFixed(1)} s after its store member's kill`);
  const r = await kubectl([ctx, 'get', 'configmap', 'after-kill', '-n', 'addons', '-o', 'jsonpath={.data.a}']);
  t.is(r.code, 0, r.err);
  t.is(r.out, 'b');
  t.is((await kubectl([ctx, 'get', '--raw', '/readyz'])).out.trim(), 'ok');
  t.true(readFileSync(join(first.dataDir, 'cluster.json'), 'utf8').length > 0);
});
