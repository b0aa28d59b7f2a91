// The resource metrics pipeline and the HorizontalPodAutoscaler on real containers: a lab worker
// (its own network namespace, containerd and node agent), the API server with its aggregation
// layer, mkube-metrics-server as `mkube up` runs it (as system:metrics-server, registered by the
// Service/Endpoints/APIService of packages/cli/src/metrics_server.ts), the scheduler and the
// deployment, replicaset and horizontalpodautoscaling controllers. A busy-looping busybox (CPU
// request 100m, limit 200m) shows non-zero usage in `kubectl top nodes` / `kubectl top pods` with
// kubectl 1.27 and 1.33; an HPA (50% CPU utilization target, 1..3 replicas, scale-down window
// shortened to 15 s through `behavior`) scales its Deployment to 3 under that load and back to 1
// once the loops stop.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Resources } from '@mkube/client';
import { resourceFor, type Event, type HorizontalPodAutoscaler, type Pod } from '@mkube/api';
import { issueCertificate, kubeconfig } from '@mkube/apiserver';
import { ControllerManager } from '@mkube/controllers';
import { freePort, killChild, KUBECTL, kubectlBin, kubectlFor, labDown, labUp, REPO_ROOT, startLabAgents, startScheduler, waitFor, waitNodesReady, type LabAgents, type LabNode, type LabSummary } from '@mkube/testing';
import { startControlPlane, type ControlPlane } from './control_plane.js';
import { ensureMetricsApi, metricsApiAvailable, metricsServerArgs } from '@mkube/cli';

const LAB = 'mkhpa';
const SUBNET = 196; // node 10.213.196.0/24, pods 10.213.197.0/24
const KUBECTLS = [kubectlBin('1.27'), KUBECTL];
const METRICS_BIN = join(REPO_ROOT, 'packages', 'metrics-server', 'src', 'bin', 'mkube-metrics-server.ts');

let lab: LabSummary | undefined;
let cp: ControlPlane | undefined;
let cm: ControllerManager | undefined;
let nodeAgents: LabAgents | undefined;
let scheduler: ChildProcess | undefined;
let metricsServer: ChildProcess | undefined;
let metricsLog = '';
let worker: LabNode;

const kube = kubectlFor(() => cp!);
const k = (args: string[], bin = KUBECTL, timeoutMs?: number) => kube.kWith(bin, args, timeoutMs);
const { apply } = kube;

test.before(async () => {
  lab = await labUp(['--workers', '1', '--name', LAB, '--subnet', String(SUBNET)], 120_000);
  worker = lab.workers[0]!;
  cp = await startControlPlane(LAB, { bindAddress: lab.gateway, advertiseAddress: lab.gateway });
  const pki = join(cp.dir, 'api', 'pki');
  cm = new ControllerManager({
    kubeconfig: cp.kubeconfigPath,
    leaderElect: false,
    controllers: ['deployment', 'replicaset', 'horizontalpodautoscaling', 'serviceaccount'],
    metricsPort: -1,
    logger: pino({ level: process.env.MKUBE_DEBUG ? 'debug' : 'silent' }),
  });
  await cm.start();
  scheduler = startScheduler(cp.kubeconfigPath);
  nodeAgents = await startLabAgents(cp, LAB, [worker], () => ['--node-status-update-frequency', '10']);

  // mkube-metrics-server as `mkube up` starts it: its own identity, on the host side of the lab.
  const server = `https://${lab.gateway}:${cp.port}`;
  issueCertificate(pki, 'metrics-server', '/CN=system:metrics-server', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  const kcDir = join(cp.dir, 'kubeconfigs');
  mkdirSync(kcDir, { recursive: true });
  const kc = join(kcDir, 'metrics-server.kubeconfig');
  writeFileSync(kc, kubeconfig(server, readFileSync(join(pki, 'ca.crt'), 'utf8'), 'system:metrics-server', { cert: readFileSync(join(pki, 'metrics-server.crt'), 'utf8'), key: readFileSync(join(pki, 'metrics-server.key'), 'utf8') }), { mode: 0o600 });
  const [securePort, metricsPort] = [await freePort(), await freePort()];
  metricsServer = spawn(process.execPath, ['--import', 'tsx', METRICS_BIN, ...metricsServerArgs({ kubeconfig: kc, ip: lab.gateway, securePort, metricsPort, apiPkiDir: pki, dataDir: cp.dir, resolution: '5s' })], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  metricsServer.stderr!.on('data', (d: Buffer) => {
    metricsLog = (metricsLog + d.toString()).slice(-20_000);
    if (process.env.MKUBE_DEBUG) process.stderr.write(d);
  });
  const creds = { server, ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')) };
  await waitFor('the metrics server healthy', 60_000, async () => ((await fetch(`http://127.0.0.1:${metricsPort}/healthz`).catch(() => undefined))?.ok ? true : undefined));
  await ensureMetricsApi(creds, lab.gateway, securePort);
  await waitFor('APIService v1beta1.metrics.k8s.io Available', 60_000, async () => ((await metricsApiAvailable(creds)) === true ? true : undefined));
  await waitNodesReady(() => cp!.client.resource(Resources.nodes).list(), 1);
});

test.after.always(async () => {
  await killChild(metricsServer);
  await killChild(scheduler);
  await nodeAgents?.kill();
  await cm?.stop();
  await cp?.stop();
  await labDown(LAB);
  nodeAgents?.remove();
});

const SPIN = `apiVersion: apps/v1
kind: Deployment
metadata: {name: spin}
spec:
  replicas: 1
  selector: {matchLabels: {app: spin}}
  template:
    metadata: {labels: {app: spin}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: spin
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'while [ ! -e /tmp/stop ]; do :; done; exec sleep 3600']
        resources:
          requests: {cpu: 100m}
          limits: {cpu: 200m}
`;

const HPA = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: spin}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: spin}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 15}
`;

const running = async () => (await cp!.client.resource<Pod>(Resources.pods).list('default', { labelSelector: 'app=spin' })).items.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running');

/** Parses `kubectl top` output into rows of columns (header dropped). */
const rows = (out: string) => out.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
const milli = (cpu: string) => (cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Number(cpu) * 1000);

test.serial('kubectl top nodes and pods (1.27 and 1.33) show the busy pod and the node with non-zero usage', async (t) => {
  t.timeout(240_000);
  await apply('spin', SPIN);
  const [p] = await waitFor('the busy pod running', 120_000, async () => ((await running()).length === 1 ? running() : undefined));
  const name = p!.metadata.name;
  for (const bin of KUBECTLS) {
    const pods = await waitFor(`${bin} top pods`, 60_000, async () => {
      const out = await k(['top', 'pods', '-l', 'app=spin'], bin).catch(() => '');
      const r = rows(out).find((c) => c[0] === name);
      return r && milli(r[1]!) > 50 ? out : undefined;
    });
    t.log(pods.trim());
    t.regex(pods, /^NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)/);
    const cpu = milli(rows(pods).find((c) => c[0] === name)![1]!);
    t.true(cpu > 100 && cpu <= 260, `the loop is held near its 200m limit, got ${cpu}m`);
    const nodes = await k(['top', 'nodes'], bin);
    t.log(nodes.trim());
    const [node] = rows(nodes);
    t.is(node![0], worker.name);
    t.true(milli(node![1]!) > 0, 'node CPU');
    t.regex(node![3]!, /^[1-9]\d*Mi$/, 'node memory');
    const all = await k(['top', 'pods', '-A', '--containers'], bin);
    t.regex(all, new RegExp(`\\ndefault\\s+${name}\\s+spin\\s+\\d+m\\s+\\d+Mi`), all);
  }
  // The agent's Summary API as the metrics server reads it, and nothing else for that identity.
  const pki = join(cp!.dir, 'api', 'pki');
  const node = (await cp!.client.resource(Resources.nodes).get(undefined, worker.name)) as { status: { daemonEndpoints: { kubeletEndpoint: { Port: number } } } };
  const agentGet = (path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest({ host: worker.nodeIP, port: node.status.daemonEndpoints.kubeletEndpoint.Port, path, ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'metrics-server.crt')), key: readFileSync(join(pki, 'metrics-server.key')), timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
  // status.images as kubelet reports them (the scheduler's ImageLocality reads them).
  const images = await waitFor('busybox in the node status images', 90_000, async () => {
    const n = (await cp!.client.resource(Resources.nodes).get(undefined, worker.name)) as { status: { images?: Array<{ names: string[]; sizeBytes: number }> } };
    return n.status.images?.some((i) => i.names.some((x) => x.includes('busybox'))) ? n.status.images : undefined;
  });
  t.true(images.every((i) => i.sizeBytes > 0 && i.names.length > 0 && i.names.length <= 5));
  t.deepEqual(images.map((i) => i.sizeBytes), [...images.map((i) => i.sizeBytes)].sort((a, b) => b - a), 'largest first');
  const summary = await agentGet('/stats/summary');
  t.is(summary.status, 200);
  const sj = JSON.parse(summary.body) as { node: { nodeName: string; cpu: { usageCoreNanoSeconds: number } }; pods: Array<{ podRef: { name: string }; containers: Array<{ name: string; cpu: { usageCoreNanoSeconds: number }; memory: { workingSetBytes: number } }> }> };
  t.is(sj.node.nodeName, worker.name);
  t.true(sj.node.cpu.usageCoreNanoSeconds > 0);
  const spinStats = sj.pods.find((x) => x.podRef.name === name)!;
  t.true(spinStats.containers[0]!.cpu.usageCoreNanoSeconds > 0 && spinStats.containers[0]!.memory.workingSetBytes > 0);
  t.regex((await agentGet('/metrics/resource')).body, new RegExp(`container_cpu_usage_seconds_total\\{container="spin",namespace="default",pod="${name}"\\} `));
  t.is((await agentGet(`/containerLogs/default/${name}/spin`)).status, 403, 'system:metrics-server may not read logs');

  // The raw API, as the HPA reads it.
  const pm = JSON.parse(await k(['get', '--raw', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dspin'])) as { kind: string; items: Array<{ window: string; containers: Array<{ name: string; usage: { cpu: string; memory: string } }> }> };
  t.is(pm.kind, 'PodMetricsList');
  t.regex(pm.items[0]!.window, /^\d+(\.\d+)?s$/);
  t.deepEqual(Object.keys(pm.items[0]!.containers[0]!.usage).sort(), ['cpu', 'memory']);
});

test.serial('an HPA scales the Deployment up under load and down after the (shortened) stabilization window', async (t) => {
  t.timeout(420_000);
  await apply('hpa', HPA);
  const t0 = Date.now();
  const hpas = cp!.client.resource<HorizontalPodAutoscaler>(resourceFor('horizontalpodautoscalers', 'autoscaling'));
  let last = '';
  const up = await waitFor('the HPA at 3 replicas with 3 pods running', 180_000, async () => {
    const h = await hpas.get('default', 'spin');
    const pods = await running();
    last = JSON.stringify({ status: h.status, running: pods.map((p) => p.metadata.name) });
    return h.status?.desiredReplicas === 3 && pods.length === 3 ? h : undefined;
  }).catch(async (err: unknown) => {
    const events = (await cp!.client.resource<Event>(Resources.events).list('default')).items.map((e) => `${e.involvedObject?.kind}/${e.involvedObject?.name} ${e.reason}: ${e.message}`);
    t.log(`last seen: ${last}\nevents:\n${events.join('\n')}`);
    throw err;
  });
  t.log(`scaled up to 3 in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const table = await k(['get', 'hpa', 'spin']);
  t.log(table.trim());
  t.regex(table, /^NAME\s+REFERENCE\s+TARGETS\s+MINPODS\s+MAXPODS\s+REPLICAS\s+AGE\n/);
  t.regex(table, /\nspin\s+Deployment\/spin\s+cpu: \d+%\/50%\s+1\s+3\s+\d/);
  t.like(up.status!.conditions!.find((c) => c.type === 'ScalingActive'), { status: 'True', reason: 'ValidMetricFound', message: 'the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)' });
  t.true((up.status!.currentMetrics?.[0]?.resource?.current?.averageUtilization ?? 0) > 50);
  const events = (await cp!.client.resource<Event>(Resources.events).list('default')).items.filter((e) => e.involvedObject?.kind === 'HorizontalPodAutoscaler' && e.reason === 'SuccessfulRescale');
  t.true(events.some((e) => /^New size: [23]; reason: cpu resource utilization \(percentage of request\) above target$/.test(e.message ?? '')), JSON.stringify(events.map((e) => e.message)));

  // Stop every loop: the pods go idle and the HPA comes back to minReplicas once the 15 s window passed.
  for (const p of await running()) await k(['exec', p.metadata.name, '--', 'touch', '/tmp/stop']);
  const t1 = Date.now();
  const down = await waitFor('the HPA back at 1 replica', 180_000, async () => {
    const h = await hpas.get('default', 'spin');
    return h.status?.desiredReplicas === 1 && h.status.currentReplicas === 1 ? h : undefined;
  });
  const tookS = (Date.now() - t1) / 1000;
  t.log(`scaled down to 1 in ${tookS.toFixed(1)} s after the load stopped`);
  t.true(tookS >= 15, 'not before the stabilization window');
  t.truthy(down.status!.lastScaleTime);
  const downEvents = (await cp!.client.resource<Event>(Resources.events).list('default')).items.filter((e) => e.reason === 'SuccessfulRescale' && e.message === 'New size: 1; reason: All metrics below target');
  t.is(downEvents.length, 1);
  await waitFor('one pod left', 60_000, async () => ((await cp!.client.resource<Pod>(Resources.pods).list('default', { labelSelector: 'app=spin' })).items.length === 1 ? true : undefined));
  if (metricsLog && process.env.MKUBE_DEBUG) t.log(metricsLog.slice(-2000));
});
