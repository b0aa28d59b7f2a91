// LoadBalancer Services on real containers (issue 14): two lab workers (lab mklb, subnet 60: nodes
// 10.213.60.0/24, pods 10.213.61.0/24 and 10.213.62.0/24) with node agents running --lb-announce,
// the cloud controller manager handing out the test's own pool 10.213.63.0/24 (routed on the lab
// bridge as `mkube up` routes its pool), the endpoint controllers. From the host: a LoadBalancer
// Service answers on its pool address; sessionAffinity ClientIP pins the host to one endpoint;
// externalTrafficPolicy Local keeps the client address (nginx's access log) and only the node with
// an endpoint answers its node port, its health check node port answers upstream's JSON (200 there, 503
// elsewhere); the announcing node dies (agent SIGKILLed, link down) and the
// address answers from the other node within 2 s.
import test from 'ava';
import { execFile } from 'node:child_process';

import { pino } from 'pino';
import { Resources, type KubeObject } from '@mkube/client';
import { ControllerManager } from '@mkube/controllers';
import { CloudControllerManager, PoolProvider } from '@mkube/cloud-controller-manager';
import { kubectlFor, labDown, labUp, run, startLabAgents, waitFor, waitNodesReady, type LabAgents, type LabNode, type LabSummary } from '@mkube/testing';
import { startControlPlane, type ControlPlane } from './control_plane.js';
import { routePoolToLab } from '@mkube/cli';
import { electAnnouncer } from '@mkube/node-agent';

const LAB = 'mklb';
const SUBNET = 60;
const POOL = '10.213.63.0/24';
const silent = pino({ level: 'silent' });

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
let cm: ControllerManager | undefined;
let ccm: CloudControllerManager | undefined;
let routed = false;
let nodeAgents: LabAgents | undefined;
let workers: LabNode[] = [];

const { k, apply } = kubectlFor(() => cp!);

/** One HTTP GET from the host with curl: the body, or undefined on any failure within timeoutS. */
const curl = (url: string, timeoutS = 2) =>
  new Promise<string | undefined>((resolve) => execFile('curl', ['-sf', '--max-time', String(timeoutS), url], (err, out) => resolve(err ? undefined : out)));

test.before(async () => {
  lab = await labUp(['--workers', '2', '--name', LAB, '--subnet', String(SUBNET)], 120_000);
  workers = lab.workers!;
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  cm = new ControllerManager({ kubeconfig: cp.kubeconfigPath, leaderElect: false, controllers: ['endpoints', 'endpointslice', 'endpointslicemirroring', 'serviceaccount'], metricsPort: -1, logger: silent });
  await cm.start();
  routePoolToLab(POOL, lab.gateway!);
  routed = true;
  ccm = new CloudControllerManager({ client: cp.client, provider: new PoolProvider({ pool: POOL }), log: silent, leaderElect: false, metricsPort: -1 });
  await ccm.start();
  nodeAgents = await startLabAgents(cp, LAB, workers, () => ['--lb-announce']);
  await waitNodesReady(() => cp!.client.resource(Resources.nodes).list(), 2);
});

test.after.always(async () => {
  await nodeAgents?.kill();
  await ccm?.stop();
  await cm?.stop();
  await cp?.stop();
  if (routed) await run('ip', ['route', 'del', POOL], 10_000).catch(() => undefined);
  await labDown(LAB);
  nodeAgents?.remove();
});

const httpd = (name: string, node: string, labels: Record<string, string>) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: {${Object.entries(labels).map(([a, b]) => `${a}: ${b}`).join(', ')}}
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'exec httpd -f -p 8080 -h /']
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`;
const lbService = (name: string, selector: Record<string, string>, extra = '', targetPort = 8080) => `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  type: LoadBalancer
  selector: {${Object.entries(selector).map(([a, b]) => `${a}: ${b}`).join(', ')}}
  ports: [{name: http, port: 80, targetPort: ${targetPort}}]
${extra}`;

async function readyPod(name: string): Promise<string> {
  return waitFor(`${name} ready`, 120_000, async () => {
    const p = (await cp!.client.resource(Resources.pods).get('default', name).catch(() => undefined)) as KubeObject | undefined;
    const ready = p?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
    return ready ? (p!.status.podIP as string) : undefined;
  });
}

const lbIP = (name: string) =>
  waitFor(`${name} to get a load-balancer address`, 30_000, async () => {
    const s = (await cp!.client.resource(Resources.services).get('default', name)) as KubeObject;
    return s.status?.loadBalancer?.ingress?.[0]?.ip as string | undefined;
  });

/** The workers whose interface holds `ip` now. */
async function holders(ip: string): Promise<string[]> {
  const out: string[] = [];
  for (const w of workers) if ((await run('ip', ['-n', w.netns!, '-o', '-4', 'addr', 'show'], 10_000)).stdout.includes(` ${ip}/32 `)) out.push(w.name);
  return out;
}

test.serial('a LoadBalancer Service gets a pool address, one node announces it, and it answers from the host', async (t) => {
  t.timeout(240_000);
  await apply('pay', `${httpd('pay-1', workers[0]!.name, { app: 'pay' })}---
${httpd('pay-2', workers[1]!.name, { app: 'pay' })}---
${lbService('pay', { app: 'pay' })}`);
  await readyPod('pay-1');
  await readyPod('pay-2');
  const ip = await lbIP('pay');
  t.regex(ip, /^10\.213\.63\.\d+$/);
  const svc = await k(['get', 'service', 'pay']);
  t.log(svc.trim());
  t.regex(svc, new RegExp(`^pay\\s+LoadBalancer\\s+\\S+\\s+${ip.replace(/\./g, '\\.')}\\s+80:\\d+/TCP`, 'm'));
  const body = await waitFor(`http://${ip}/ to answer`, 20_000, () => curl(`http://${ip}/etc/hostname`, 1));
  t.regex(body.trim(), /^pay-[12]$/);
  t.deepEqual(await holders(ip), [electAnnouncer(ip, workers.map((w) => w.name))!]);
  // Without affinity both endpoints answer over a number of requests.
  const seen = new Set<string>();
  for (let i = 0; i < 40 && seen.size < 2; i++) seen.add(((await curl(`http://${ip}/etc/hostname`)) ?? '').trim());
  t.deepEqual([...seen].sort(), ['pay-1', 'pay-2']);
});

test.serial('sessionAffinity ClientIP pins the host to one endpoint', async (t) => {
  t.timeout(120_000);
  await apply('sticky', lbService('sticky', { app: 'pay' }, '  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n'));
  const ip = await lbIP('sticky');
  await waitFor(`http://${ip}/ to answer`, 20_000, () => curl(`http://${ip}/etc/hostname`, 1));
  const answers: string[] = [];
  for (let i = 0; i < 30; i++) answers.push(((await curl(`http://${ip}/etc/hostname`)) ?? 'failed').trim());
  t.log(`30 requests → ${[...new Set(answers)].join(', ')}`);
  t.is(new Set(answers).size, 1);
  t.regex(answers[0]!, /^pay-[12]$/);
});

test.serial('externalTrafficPolicy Local: the client address reaches nginx (access log); only the node with an endpoint answers its node port; health check node port', async (t) => {
  t.timeout(240_000);
  const w2 = workers[1]!;
  await apply('local', `apiVersion: v1
kind: Pod
metadata: {name: ng, labels: {app: ng}}
spec:
  nodeName: ${w2.name}
  terminationGracePeriodSeconds: 1
  containers:
  - name: nginx
    image: nginx
    imagePullPolicy: IfNotPresent
    readinessProbe: {tcpSocket: {port: 80}, periodSeconds: 1}
---
${lbService('local', { app: 'ng' }, '  externalTrafficPolicy: Local\n  healthCheckNodePort: 32111\n', 80)}`);
  await readyPod('ng');
  const ip = await lbIP('local');
  await waitFor(`http://${ip}/ to answer`, 20_000, () => curl(`http://${ip}/`, 1));
  t.deepEqual(await holders(ip), [w2.name], 'announced by the node with the endpoint');
  t.truthy(await curl(`http://${ip}/?source-ip-check`), 'the LB address answers');
  const nodePort = Number((await k(['get', 'service', 'local', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).trim());
  t.truthy(await curl(`http://${w2.nodeIP}:${nodePort}/?via-node-port`), 'the node with the endpoint answers its node port');
  t.is(await curl(`http://${workers[0]!.nodeIP}:${nodePort}/`, 2), undefined, 'the node without one does not');
  // ...but that node's own pods still reach every endpoint through it (kube-proxy's NodeCIDR local-traffic detection).
  const fromPod = await k(['exec', 'pay-1', '--', 'timeout', '10', 'wget', '-qO-', `http://${workers[0]!.nodeIP}:${nodePort}/?from-pod`]);
  t.regex(fromPod, /nginx/);
  // The health check node port (requested, so the test knows it; else the API server allocates one): 200 where the endpoint is, 503 elsewhere.
  const hc = (ip: string) => new Promise<string>((resolve) => execFile('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://${ip}:32111/`], (_e, out) => resolve(out)));
  t.is(await waitFor('health check port on w2', 10_000, async () => ((await hc(w2.nodeIP)) === '200' ? '200' : undefined)), '200');
  t.is(await hc(workers[0]!.nodeIP), '503');
  const hcBody = await curl(`http://${w2.nodeIP}:32111/`);
  t.deepEqual(JSON.parse(hcBody!), { service: { namespace: 'default', name: 'local' }, localEndpoints: 1, serviceProxyHealthy: true });
  const logs = await waitFor('the access log lines', 10_000, async () => {
    const l = await k(['logs', 'ng']);
    return l.includes('/?source-ip-check') && l.includes('/?via-node-port') ? l : undefined;
  });
  const line = logs.split('\n').find((l) => l.includes('/?source-ip-check'))!;
  t.log(line);
  // The host reaches the lab from the bridge address: that is the client nginx must see (not a node IP).
  t.true(line.startsWith(`${lab!.gateway} `), `client address kept: ${line}`);
  t.true(logs.split('\n').find((l) => l.includes('/?via-node-port'))!.startsWith(`${lab!.gateway} `));
});

test.serial('the announcing node dies (agent killed, link down): the address answers from the other node within 2 s', async (t) => {
  t.timeout(240_000);
  const [w1, w2] = workers as [LabNode, LabNode];
  // An address w1 wins while both live; the backend runs on w2 (the dead node's pods are out of reach).
  const first = Array.from({ length: 200 }, (_, i) => `10.213.63.${i + 20}`).find((ip) => electAnnouncer(ip, [w1.name, w2.name]) === w1.name)!;
  await apply('fo', `${httpd('fo-2', w2.name, { app: 'fo' })}---
${lbService('fo', { app: 'fo' }, `  loadBalancerIP: ${first}\n`)}`);
  await readyPod('fo-2');
  t.is(await lbIP('fo'), first);
  await waitFor(`http://${first}/ to answer`, 20_000, () => curl(`http://${first}/etc/hostname`, 1));
  t.deepEqual(await holders(first), [w1.name]);
  // The node dies: its agent is killed and its link goes down (a powered-off machine).
  const t0 = Date.now();
  await nodeAgents!.agents[0]!.kill('SIGKILL');
  await run('ip', ['-n', w1.netns!, 'link', 'set', 'eth0', 'down'], 10_000);
  await waitFor('the address to answer again', 10_000, () => curl(`http://${first}/etc/hostname`, 0.3), 20);
  const ms = Date.now() - t0;
  t.log(`announcing node killed → the address answers again after ${ms} ms`);
  t.true(ms < 2000, `${ms} ms`);
  t.true((await holders(first)).includes(w2.name));
  await run('ip', ['-n', w1.netns!, 'link', 'set', 'eth0', 'up'], 10_000);
});
