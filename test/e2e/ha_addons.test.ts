// The add-ons of a cluster built through the join flow: `mkube up --control-planes 3 --workers 2 --lb-address-pool
// 10.213.244.0/24` in its own lab (deploy/lab/lab.sh --name mkad --subnet 238: hosts 10.213.238.11-15, pods
// 10.213.239-243.0/24), every host through mkube init / mkube join. Checked: a pod resolves
// kubernetes.default.svc.cluster.local and a Service's name through kube-dns (the workers' mkube-dns); a
// LoadBalancer Service gets a pool address that answers from this machine (the control planes' cloud controller
// manager, a worker's announcement); `kubectl top nodes` shows both workers (the control planes' metrics-servers
// behind the metrics.k8s.io APIService); an Ingress routes through each worker's mkube-ingress, which runs as its own
// identity system:mkube-ingress:<node> asked for with the node's credentials (a bootstrap token reads no Secret; a
// node's request for another node's identity is never approved); that identity renewed (SIGHUP to mkube
// ingress-identity) and a node agent's certificate rotated (SIGHUP) are picked up by the running mkube-ingress and
// mkube-dns; the first control plane's CCM and metrics-server kubeconfigs list all three API servers after the joins
// and its CCM keeps allocating LoadBalancer addresses with its own API server SIGKILLed; the first control plane's
// API server, restarted with every store member after the joins, still serves once its own store member is SIGKILLed.
// Also: mkube status healthy with them; a worker's mkube leave takes its DNS server out of kube-dns.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parse, stringify } from 'yaml';
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
  for (const w of workers()) t.deepEqual((readState(w.dataDir)?.components ?? []).map((c) => c.name).sort(), [`dns-${w.name}`, `ingress-identity-${w.name}`, `ingress-${w.name}`, `node-agent-${w.name}`]);
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
  // Each worker's mkube-ingress runs as its own identity, in the group bound to the Ingress controller's role.
  for (const w of workers()) {
    const who = await run(KUBECTL, ['--kubeconfig', join(w.dataDir, 'mkube-ingress.kubeconfig'), 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username} {.status.userInfo.groups}'], 30_000, { ...process.env, HOME: work });
    t.is(who.code, 0, who.err);
    t.is(who.out, `system:mkube-ingress:${w.name} ["system:mkube-ingresses","system:authenticated"]`);
  }
  for (const w of workers()) {
    const body = await waitUntil(`the Ingress through ${w.address}`, 60_000, async () => {
      const r = await get(w.address, '/', 'web.example.com');
      return r.status === 200 ? r.body : undefined;
    });
    t.regex(body.trim(), /^web-/, w.name);
    t.is((await get(w.address, '/', 'other.example.com')).status, 404);
  }
});

/** The serial number of the client certificate in a kubeconfig (embedded data, or the file it names). */
function kubeconfigSerial(path: string): string {
  const doc = parse(readFileSync(path, 'utf8')) as { users: { user: { 'client-certificate-data'?: string; 'client-certificate'?: string } }[] };
  const u = doc.users[0]!.user;
  const pem = u['client-certificate-data'] ? Buffer.from(u['client-certificate-data'], 'base64') : readFileSync(u['client-certificate']!);
  return new X509Certificate(pem).serialNumber;
}

test.serial('a bootstrap token reads no Secret; a node\'s request for another node\'s Ingress identity is never approved', async (t) => {
  const first = planes()[0]!;
  const token = (await mkube(['token', 'create', '--data-dir', first.dataDir], 60_000)).out.trim();
  t.regex(token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
  const asToken = (args: string[]) => run(KUBECTL, ['--server', first.apiServer!, '--certificate-authority', join(first.dataDir, 'apiserver', 'pki', 'ca.crt'), '--token', token, ...args], 30_000, { ...process.env, KUBECONFIG: '/dev/null', HOME: work });
  for (const args of [['get', 'secrets', '-n', 'kube-system'], ['get', 'secret', '-n', 'kube-system', 'mkube-worker-addons'], ['get', 'secrets', '-A']]) {
    const r = await asToken(args);
    t.not(r.code, 0, `kubectl ${args.join(' ')} with a bootstrap token`);
    t.regex(r.err, /Forbidden|forbidden/, r.err);
  }
  t.regex((await kubectl(['get', 'secret', '-n', 'kube-system', 'mkube-worker-addons'])).err, /NotFound/);
  // Worker 0 asks for worker 1's identity, then for its own: its own is issued, the other stays pending.
  const [w0, w1] = workers() as [HostRecord, HostRecord];
  const nodeKc = join(w0.dataDir, 'kubelet.kubeconfig');
  const submit = async (name: string, node: string) => {
    const key = join(work, `${name}.key`);
    const gen = await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], 10_000);
    t.is(gen.code, 0, gen.err);
    const req = await run('openssl', ['req', '-new', '-key', key, '-subj', `/O=system:mkube-ingresses/CN=system:mkube-ingress:${node}`], 10_000);
    t.is(req.code, 0, req.err);
    const f = join(work, `${name}.yaml`);
    writeFileSync(f, `apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {name: ${name}}\nspec:\n  signerName: kubernetes.io/kube-apiserver-client\n  usages: [digital signature, client auth]\n  request: ${Buffer.from(req.out).toString('base64')}\n`);
    const r = await run(KUBECTL, ['--kubeconfig', nodeKc, 'create', '-f', f], 30_000, { ...process.env, HOME: work });
    t.is(r.code, 0, r.err);
  };
  await submit('e2e-w0-asks-w1', w1.name);
  await submit('e2e-w0-own', w0.name);
  await waitUntil('e2e-w0-own issued', 60_000, async () => ((await k(['get', 'csr', 'e2e-w0-own', '-o', 'jsonpath={.status.certificate}'])).trim() ? true : undefined));
  t.regex(await k(['get', 'csr', 'e2e-w0-own', '-o', 'jsonpath={.status.conditions[0].reason}']), /^AutoApproved$/);
  t.is((await k(['get', 'csr', 'e2e-w0-asks-w1', '-o', 'jsonpath={.status}'])).trim(), '{}');
  t.regex(await k(['get', 'csr', 'e2e-w0-asks-w1']), /Pending/);
});

test.serial('a renewed Ingress identity and a rotated node certificate are picked up by the running mkube-ingress and mkube-dns', async (t) => {
  const w = workers()[0]!;
  const comps = readState(w.dataDir)!.components;
  const identity = comps.find((c) => c.name === `ingress-identity-${w.name}`)!;
  const agent = comps.find((c) => c.name === `node-agent-${w.name}`)!;
  const ingress = comps.find((c) => c.name === `ingress-${w.name}`)!;
  const dns = comps.find((c) => c.name === `dns-${w.name}`)!;
  const ingressKc = join(w.dataDir, 'mkube-ingress.kubeconfig');
  const nodeKc = join(w.dataDir, 'kubelet.kubeconfig');
  const before = { ingress: kubeconfigSerial(ingressKc), node: kubeconfigSerial(nodeKc) };
  process.kill(identity.pid, 'SIGHUP');
  process.kill(agent.pid, 'SIGHUP');
  const after = await waitUntil('both certificates renewed', 60_000, async () => {
    const now = { ingress: kubeconfigSerial(ingressKc), node: kubeconfigSerial(nodeKc) };
    return now.ingress !== before.ingress && now.node !== before.node ? now : undefined;
  });
  const reloaded = (log: string, serial: string) => readFileSync(log, 'utf8').split('\n').some((l) => l.includes('client certificate reloaded') && l.toLowerCase().includes(serial.toLowerCase()));
  await waitUntil('mkube-ingress to reload its identity', 30_000, async () => (reloaded(ingress.log, after.ingress) ? true : undefined));
  await waitUntil('mkube-dns to reload the node certificate', 30_000, async () => (reloaded(dns.log, after.node) ? true : undefined));
  t.log(`ingress identity ${before.ingress} → ${after.ingress}, node ${before.node} → ${after.node}: both reloaded`);
  // Still working with the new identities: an Ingress and a Service created now.
  await apply('after-rotation', `apiVersion: v1
kind: Service
metadata: {name: rotated, namespace: addons}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: rotated, namespace: addons}
spec:
  ingressClassName: mkube
  rules:
  - host: rotated.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: rotated, port: {number: 80}}}}
`);
  const body = await waitUntil(`the new Ingress through ${w.address}`, 60_000, async () => {
    const r = await get(w.address, '/', 'rotated.example.com');
    return r.status === 200 ? r.body : undefined;
  });
  t.regex(body.trim(), /^web-/);
  const ip = (await k(['get', 'service', 'rotated', '-n', 'addons', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  const r = new Resolver({ timeout: 1000, tries: 1 });
  r.setServers([w.address]);
  const answer = await waitUntil(`rotated.addons.svc.cluster.local from ${w.address}`, 30_000, async () => {
    const a = await r.resolve4('rotated.addons.svc.cluster.local').catch(() => []);
    return a.includes(ip) ? a : undefined;
  });
  t.deepEqual(answer, [ip]);
});

test.serial('a worker that joined before later control planes: mkube start --refresh-etcd-servers makes its kubeconfigs list every API server', async (t) => {
  const w = workers()[0]!;
  const nodeKc = join(w.dataDir, 'kubelet.kubeconfig');
  const ingressKc = join(w.dataDir, 'mkube-ingress.kubeconfig');
  const listed = (path: string) => {
    const doc = parse(readFileSync(path, 'utf8')) as { clusters: { cluster: { server: string; extensions?: { name: string; extension: { servers: string[] } }[] } }[] };
    return doc.clusters[0]!.cluster.extensions?.find((e) => e.name === 'mkube.io/servers')?.extension.servers ?? [doc.clusters[0]!.cluster.server];
  };
  const all = planes().map((p) => p.apiServer!);
  t.deepEqual([...listed(nodeKc)].sort(), [...all].sort());
  // As if it had joined when only the first control plane existed: its kubeconfigs list that one API server.
  const only = (path: string) => {
    const doc = parse(readFileSync(path, 'utf8')) as { clusters: { cluster: { extensions?: { name: string; extension: { servers: string[] } }[] } }[] };
    for (const { cluster } of doc.clusters) for (const e of cluster.extensions ?? []) if (e.name === 'mkube.io/servers') e.extension.servers = [all[0]!];
    writeFileSync(path, stringify(doc), { mode: 0o600 });
  };
  only(nodeKc);
  only(ingressKc);
  t.deepEqual(listed(nodeKc), [all[0]]);
  const before = readState(w.dataDir)!.components.map((c) => [c.name, c.pid] as const);
  const r = await run('nsenter', [`--net=/run/netns/${w.netns!}`, process.execPath, MKUBE, 'start', '--data-dir', w.dataDir, '--refresh-etcd-servers'], 120_000);
  t.is(r.code, 0, `${r.out}\n${r.err}`);
  t.regex(r.out, new RegExp(`node-agent-${w.name}, dns-${w.name}, ingress-${w.name} restarted with every API server`));
  t.deepEqual([...listed(nodeKc)].sort(), [...all].sort());
  t.deepEqual([...listed(ingressKc)].sort(), [...all].sort());
  const after = new Map(readState(w.dataDir)!.components.map((c) => [c.name, c.pid]));
  for (const [name, pid] of before) t.is(after.get(name) !== pid, name !== `ingress-identity-${w.name}`, `${name} restarted`);
  // Still a working node: Ready, its DNS answering, its Ingress routing.
  await waitUntil(`${w.name} Ready after the restart`, 90_000, async () => ((await k(['get', 'node', w.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).trim() === 'True' ? true : undefined));
  const res = new Resolver({ timeout: 1000, tries: 1 });
  res.setServers([w.address]);
  await waitUntil(`kubernetes.default from ${w.address}`, 60_000, async () => ((await res.resolve4('kubernetes.default.svc.cluster.local').catch(() => [])).length > 0 ? true : undefined));
  await waitUntil(`the Ingress through ${w.address}`, 60_000, async () => ((await get(w.address, '/', 'web.example.com').catch(() => undefined))?.status === 200 ? true : undefined));
  // Nothing to do the second time.
  const again = await run('nsenter', [`--net=/run/netns/${w.netns!}`, process.execPath, MKUBE, 'start', '--data-dir', w.dataDir, '--refresh-etcd-servers'], 120_000);
  t.is(again.code, 0, again.err);
  t.regex(again.out, /the node's kubeconfigs already list every API server/);
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

test.serial('the first control plane\'s CCM and metrics-server list all three API servers; its CCM keeps working with its own API server killed', async (t) => {
  const first = planes()[0]!;
  const all = planes().map((p) => p.apiServer!);
  for (const base of ['cloud-controller-manager', 'metrics-server']) {
    const doc = parse(readFileSync(join(first.dataDir, 'kubeconfigs', `${base}.kubeconfig`), 'utf8')) as { clusters: { cluster: { server: string; extensions?: { name: string; extension: { servers: string[] } }[] } }[] };
    const c = doc.clusters[0]!.cluster;
    t.is(c.server, first.apiServer, base);
    t.deepEqual([...c.extensions!.find((e) => e.name === 'mkube.io/servers')!.extension.servers].sort(), [...all].sort(), base);
  }
  // Only the first control plane's CCM may lead: the others are stopped (SIGSTOP), its own API server is killed.
  const ccm = (p: HostRecord) => readState(p.dataDir)!.components.find((c) => c.name === 'cloud-controller-manager')!;
  const others = planes().slice(1).map(ccm);
  const api = readState(first.dataDir)!.components.find((c) => c.name === 'apiserver')!;
  try {
    for (const c of others) process.kill(c.pid, 'SIGSTOP');
    process.kill(api.pid, 'SIGKILL');
    // kubectl through the second control plane's API server (kubectl does not fail over).
    const ctx = `--context=mkube-${planes()[1]!.name}`;
    writeFileSync(join(work, 'lb2.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: lb2, namespace: addons}\nspec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n');
    await waitUntil('lb2 created', 30_000, async () => ((await kubectl([ctx, 'apply', '-f', join(work, 'lb2.yaml')])).code === 0 ? true : undefined));
    const started = Date.now();
    const ip = await waitUntil('a LoadBalancer address for lb2', 90_000, async () => (await k([ctx, 'get', 'service', 'lb2', '-n', 'addons', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim() || undefined);
    t.regex(ip, /^10\.213\.244\.\d+$/);
    const holder = (await k([ctx, 'get', 'lease', 'cloud-controller-manager', '-n', 'kube-system', '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
    // Its identity (hostname_random) is the one the first control plane's CCM logged when it started.
    t.true(holder.length > 0 && readFileSync(ccm(first).log, 'utf8').includes(`"identity":"${holder}"`), `lease holder ${holder} is ${first.name}'s CCM`);
    t.log(`lb2 got ${ip} ${((Date.now() - started) / 1000).toFixed(1)} s after its creation, from ${first.name}'s CCM (its own API server dead)`);
  } finally {
    for (const c of others) process.kill(c.pid, 'SIGCONT');
  }
});
