// Cluster DNS on real containers: two lab workers (network namespaces with their own containerd and
// node agent, --cluster-dns 10.213.200.10), mkube-dns on each node as `mkube up` runs it (the node IP,
// port 53, the kube-system/kube-dns Service and Endpoints of packages/cli/src/cluster_dns.ts), the
// EndpointSlice, mirroring and Endpoints controllers. From busybox pods: the resolv.conf kubelet
// writes, `nslookup web.default.svc.cluster.local` gives the cluster IP, `wget http://web` works
// through the search path, a headless service's pod resolves by hostname.subdomain, an SRV lookup,
// and a new Service resolves within 1 s of its creation.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { Resources, type KubeObject } from '@mkube/client';
import { ControllerManager } from '@mkube/controllers';
import { kubectlFor, labDown, labUp, REPO_ROOT, startLabAgents, waitFor, waitNodesReady, type LabAgents, type LabNode, type LabSummary } from '@mkube/testing';
import { startControlPlane, type ControlPlane } from './control_plane.js';
import { dnsArgs, ensureKubeDnsService, KUBE_DNS_IP } from '@mkube/cli';

const LAB = 'mkdns';
const SUBNET = 180; // nodes 10.213.180.0/24, pods 10.213.181.0/24 and 10.213.182.0/24
const DNS_BIN = join(REPO_ROOT, 'packages', 'dns', 'src', 'bin', 'mkube-dns.ts');

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
let cm: ControllerManager | undefined;
let nodeAgents: LabAgents | undefined;
const dnsProcs: ChildProcess[] = [];
let workers: LabNode[] = [];

const { k, apply } = kubectlFor(() => cp!);

test.before(async () => {
  lab = await labUp(['--workers', '2', '--name', LAB, '--subnet', String(SUBNET)], 120_000);
  workers = lab.workers;
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  cm = new ControllerManager({ kubeconfig: cp.kubeconfigPath, leaderElect: false, controllers: ['endpoints', 'endpointslice', 'endpointslicemirroring', 'serviceaccount'], metricsPort: -1, logger: pino({ level: 'silent' }) });
  await cm.start();
  nodeAgents = await startLabAgents(cp, LAB, workers, () => ['--cluster-dns', KUBE_DNS_IP]);
  for (const w of workers) {
    // mkube-dns as `mkube up` starts it: in the node's namespace, on its IP.
    dnsProcs.push(spawn('nsenter', [`--net=/run/netns/${w.netns}`, process.execPath, '--import', 'tsx', DNS_BIN, ...dnsArgs(cp.kubeconfigPath, w.nodeIP, undefined)], { cwd: REPO_ROOT, stdio: process.env.MKUBE_DEBUG ? 'inherit' : 'ignore' }));
  }
  const pki = join(cp.dir, 'api', 'pki');
  await ensureKubeDnsService({ server: `https://${lab.gateway}:${cp.port}`, ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')) }, workers.map((w) => w.nodeIP));
  for (const w of workers) {
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([w.nodeIP]);
    await waitFor(`mkube-dns on ${w.nodeIP}`, 60_000, async () => ((await r.resolve4('kubernetes.default.svc.cluster.local').catch(() => [])).length > 0 ? true : undefined));
  }
  await waitNodesReady(() => cp!.client.resource(Resources.nodes).list(), 2);
});

test.after.always(async () => {
  for (const p of dnsProcs) if (p.exitCode === null) p.kill('SIGKILL');
  await nodeAgents?.kill();
  await cm?.stop();
  await cp?.stop();
  await labDown(LAB);
  nodeAgents?.remove();
});

const pod = (name: string, node: string, labels: Record<string, string>, command: string, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: {${Object.entries(labels).map(([a, b]) => `${a}: ${b}`).join(', ')}}
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 1
${extra}  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, '${command}']
`;

async function readyPod(name: string): Promise<string> {
  return waitFor(`${name} ready`, 120_000, async () => {
    const p = (await cp!.client.resource(Resources.pods).get('default', name).catch(() => undefined)) as KubeObject | undefined;
    const ready = p?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
    return ready ? (p!.status.podIP as string) : undefined;
  });
}

const exec = (podName: string, cmd: string[]) => k(['exec', podName, '--', 'timeout', '10', ...cmd]);

test.serial('from a pod: resolv.conf as kubelet writes it, nslookup of a Service gives its cluster IP, wget through the search path, SRV', async (t) => {
  t.timeout(300_000);
  await apply('web', `${pod('web', workers[0]!.name, { app: 'web' }, 'exec httpd -f -p 8080 -h /')}---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
${pod('client', workers[1]!.name, { app: 'client' }, 'exec sleep 3600')}`);
  await readyPod('web');
  await readyPod('client');
  const resolv = await exec('client', ['cat', '/etc/resolv.conf']);
  t.log(resolv.trim());
  t.regex(resolv, new RegExp(`^nameserver ${KUBE_DNS_IP.replace(/\./g, '\\.')}$`, 'm'));
  t.regex(resolv, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/m);
  t.regex(resolv, /^options ndots:5$/m);
  const clusterIP = (await k(['get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  const ns = await waitFor('nslookup web', 30_000, async () => {
    const out = await exec('client', ['nslookup', 'web.default.svc.cluster.local']).catch(() => '');
    return out.includes(clusterIP) ? out : undefined;
  });
  t.log(ns.trim());
  t.regex(ns, new RegExp(`Address:\\s+${clusterIP.replace(/\./g, '\\.')}`));
  // The short name through the search path, the Service DNATed to the pod on the other node.
  t.is((await exec('client', ['wget', '-qO-', 'http://web/etc/hostname'])).trim(), 'web');
  const srv = await exec('client', ['nslookup', '-type=SRV', '_http._tcp.web.default.svc.cluster.local']);
  // kubectl's columns for the slices: the controller's for web, the mirrored one of kube-dns.
  const webSlices = await k(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web']);
  t.log(webSlices.trim());
  t.regex(webSlices, /^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE$/m);
  t.regex(webSlices, /^web-\S+\s+IPv4\s+8080\s+10\.213\.181\.\d+\s+/m);
  const dnsSlices = await k(['get', 'endpointslices', '-n', 'kube-system', '-l', 'endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io']);
  t.log(dnsSlices.trim());
  t.regex(dnsSlices, new RegExp(`^kube-dns-\\S+\\s+IPv4\\s+53,53\\s+${workers.map((w) => w.nodeIP.replace(/\./g, '\\.')).join(',')}\\s`, 'm'));
  t.log(srv.trim());
  t.regex(srv, /web\.default\.svc\.cluster\.local/);
  t.regex(srv, /\b80\b/);
});

test.serial('a headless service: its pod resolves as hostname.subdomain (the StatefulSet identity)', async (t) => {
  t.timeout(300_000);
  await apply('db', `apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
${pod('db-0', workers[0]!.name, { app: 'db' }, 'exec sleep 3600', '  hostname: db-0\n  subdomain: db\n')}`);
  const ip = await readyPod('db-0');
  const out = await waitFor('db-0.db resolving', 30_000, async () => {
    const o = await exec('client', ['nslookup', 'db-0.db.default.svc.cluster.local']).catch(() => '');
    return o.includes(ip) ? o : undefined;
  });
  t.log(out.trim());
  t.regex(out, new RegExp(`Address:\\s+${ip.replace(/\./g, '\\.')}`));
  // The pod's own FQDN hostname is that name too (hostname -f is not in busybox; its /etc/hostname is).
  t.is((await exec('db-0', ['cat', '/etc/hostname'])).trim(), 'db-0');
});

test.serial('a new Service resolves within 1 s of its creation (asked of the node DNS servers), then from a pod', async (t) => {
  const created = (await cp!.client.resource(Resources.services).create('default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'fresh' }, spec: { selector: { app: 'fresh' }, ports: [{ port: 80 }] } } as KubeObject)) as KubeObject;
  const t0 = Date.now();
  const ip = created.spec.clusterIP as string;
  const times: number[] = [];
  for (const w of workers) {
    const r = new Resolver({ timeout: 500, tries: 1 });
    r.setServers([w.nodeIP]);
    await waitFor(`fresh on ${w.nodeIP}`, 5_000, async () => ((await r.resolve4('fresh.default.svc.cluster.local').catch(() => [])).includes(ip) ? true : undefined));
    times.push(Date.now() - t0);
  }
  t.log(`Service created → resolvable on both nodes after ${times.join(' / ')} ms`);
  t.true(Math.max(...times) < 1000);
  t.regex(await exec('client', ['nslookup', 'fresh.default.svc.cluster.local']), new RegExp(ip.replace(/\./g, '\\.')));
});
