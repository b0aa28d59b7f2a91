// autoscaling/v1 HorizontalPodAutoscalers served from the stored autoscaling/v2 object, as upstream's
// conversion: targetCPUUtilizationPercentage <-> the CPU utilization metric, the other metrics, the
// metric statuses, the conditions and the behavior in the autoscaling.alpha.kubernetes.io/*
// annotations (which a v1 write turns back into fields and which are never stored); discovery keeps
// v2 preferred; `kubectl autoscale` of kubectl 1.27 (it posts autoscaling/v1), `kubectl get hpa` and
// `describe hpa` with 1.27 and 1.33, apply (client- and server-side); list, watch, protobuf and delete in v1.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import test from 'ava';
import { decodeObject, type JsonObject } from '@mkube/api';
import { api, startFixture, watchEvents, type Fixture } from './helpers/cluster.js';

const BIN = '/usr/lib/google-cloud-sdk/bin';
const NS = 'hpav1';
const V1 = `/apis/autoscaling/v1/namespaces/${NS}/horizontalpodautoscalers`;
const V2 = `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers`;
const METRICS = 'autoscaling.alpha.kubernetes.io/metrics';
const CURRENT = 'autoscaling.alpha.kubernetes.io/current-metrics';
const CONDITIONS = 'autoscaling.alpha.kubernetes.io/conditions';
const BEHAVIOR = 'autoscaling.alpha.kubernetes.io/behavior';
let fx: Fixture;

test.before(async () => {
  fx = await startFixture();
  await api(fx.server, 'POST', '/api/v1/namespaces', { metadata: { name: NS } });
  const dep = { metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } } };
  const r = await api(fx.server, 'POST', `/apis/apps/v1/namespaces/${NS}/deployments`, dep);
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
});
test.after.always(async () => {
  await fx?.stop();
});

function kubectl(version: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(`${BIN}/kubectl.${version}`, args, { env: { ...process.env, KUBECONFIG: fx.server.kubeconfigPath, HOME: fx.dir }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

function getProtobuf(path: string): Promise<{ status: number; contentType: string; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = fx.server;
    const req = request(new URL(path, s.url), { headers: { Accept: 'application/vnd.kubernetes.protobuf' }, ca: s.pki.caCert, cert: s.pki.adminCert, key: s.pki.adminKey, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), bytes: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const target = { kind: 'Deployment', name: 'web', apiVersion: 'apps/v1' };

test.serial('discovery: autoscaling serves v2 (preferred) and v1, both with horizontalpodautoscalers and their status', async (t) => {
  const g = await api(fx.server, 'GET', '/apis/autoscaling');
  t.deepEqual(g.body.versions.map((v: JsonObject) => v.version), ['v2', 'v1']);
  t.is(g.body.preferredVersion.version, 'v2');
  const v1 = await api(fx.server, 'GET', '/apis/autoscaling/v1');
  const names = v1.body.resources.map((r: JsonObject) => r.name);
  t.true(names.includes('horizontalpodautoscalers') && names.includes('horizontalpodautoscalers/status'), names.join(','));
  const hpa = v1.body.resources.find((r: JsonObject) => r.name === 'horizontalpodautoscalers');
  t.like(hpa, { kind: 'HorizontalPodAutoscaler', namespaced: true, shortNames: ['hpa'] });
});

test.serial('kubectl 1.27 autoscale posts autoscaling/v1; the stored v2 object carries the CPU target; get hpa with 1.27 and 1.33', async (t) => {
  const a = await kubectl('1.27', ['-n', NS, 'autoscale', 'deployment', 'web', '--min', '1', '--max', '3', '--cpu-percent', '50']);
  t.is(a.code, 0, a.err);
  t.regex(a.out, /horizontalpodautoscaler\.autoscaling\/web autoscaled/);
  const v2 = await api(fx.server, 'GET', `${V2}/web`);
  t.is(v2.status, 200);
  t.like(v2.body.spec, { minReplicas: 1, maxReplicas: 3, scaleTargetRef: target });
  t.deepEqual(v2.body.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }]);
  t.is(v2.body.metadata.annotations, undefined, 'no round-trip annotation is stored');
  const v1 = await api(fx.server, 'GET', `${V1}/web`);
  t.is(v1.body.apiVersion, 'autoscaling/v1');
  t.deepEqual(v1.body.spec, { scaleTargetRef: target, minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 50 });
  t.deepEqual(v1.body.status, { currentReplicas: 0, desiredReplicas: 0 });
  t.is(v1.body.metadata.annotations, undefined);
  for (const v of ['1.27', '1.33']) {
    for (const resource of ['hpa', 'horizontalpodautoscalers.v1.autoscaling']) {
      const g = await kubectl(v, ['-n', NS, 'get', resource, 'web']);
      t.is(g.code, 0, g.err);
      const [head, row] = g.out.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
      t.deepEqual(head, ['NAME', 'REFERENCE', 'TARGETS', 'MINPODS', 'MAXPODS', 'REPLICAS', 'AGE'], `${v} ${resource}`);
      t.deepEqual(row!.slice(0, 6), ['web', 'Deployment/web', 'cpu: <unknown>/50%', '1', '3', '0'], `${v} ${resource}`);
    }
  }
  for (const v of ['1.27', '1.33']) {
    const d = await kubectl(v, ['-n', NS, 'describe', 'hpa', 'web']);
    t.is(d.code, 0, d.err);
    t.regex(d.out, /Reference:\s+Deployment\/web/, v);
    t.regex(d.out, /resource cpu on pods\s+\(as a percentage of request\):\s+<unknown> \/ 50%/, v);
  }
  const j = await kubectl('1.27', ['-n', NS, 'get', 'horizontalpodautoscalers.v1.autoscaling', 'web', '-o', 'json']);
  t.is(j.code, 0, j.err);
  t.like(JSON.parse(j.out), { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', spec: { targetCPUUtilizationPercentage: 50 } });
});

test.serial('a v2 object with more metrics, behavior, metric statuses and conditions reads in v1 with upstream annotations; a v1 write keeps them', async (t) => {
  const spec = {
    scaleTargetRef: target,
    minReplicas: 2,
    maxReplicas: 6,
    metrics: [
      { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } },
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
      { type: 'Pods', pods: { metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '10' } } },
    ],
    behavior: { scaleDown: { stabilizationWindowSeconds: 60, policies: [{ type: 'Pods', value: 1, periodSeconds: 30 }] } },
  };
  const c = await api(fx.server, 'POST', V2, { metadata: { name: 'multi', annotations: { team: 'a' } }, spec });
  t.is(c.status, 201, JSON.stringify(c.body));
  const status = {
    currentReplicas: 2,
    desiredReplicas: 3,
    currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 90, averageValue: '450m' } } }],
    conditions: [{ type: 'AbleToScale', status: 'True', lastTransitionTime: '2026-01-02T03:04:05Z', reason: 'ReadyForNewScale', message: 'recommended size matches current size' }],
  };
  const s = await api(fx.server, 'PUT', `${V2}/multi/status`, { ...c.body, status });
  t.is(s.status, 200, JSON.stringify(s.body));

  const v1 = await api(fx.server, 'GET', `${V1}/multi`);
  t.deepEqual(v1.body.spec, { scaleTargetRef: target, minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 70 });
  t.deepEqual(v1.body.status, { currentReplicas: 2, desiredReplicas: 3, currentCPUUtilizationPercentage: 90 });
  const ann = v1.body.metadata.annotations as Record<string, string>;
  t.is(ann.team, 'a');
  // v1's MetricSpec JSON, as encoding/json writes upstream's v1 types (field order, required zeros).
  t.is(ann[METRICS], '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}},{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"10"}}]');
  t.is(ann[CURRENT], '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":90,"currentAverageValue":"450m"}}]');
  t.is(ann[CONDITIONS], '[{"type":"AbleToScale","status":"True","lastTransitionTime":"2026-01-02T03:04:05Z","reason":"ReadyForNewScale","message":"recommended size matches current size"}]');
  // The behavior as upstream's internal Go type marshals (no json tags), defaults filled on the v2 side.
  const behavior = JSON.parse(ann[BEHAVIOR]!);
  t.deepEqual(behavior.ScaleDown, { StabilizationWindowSeconds: 60, SelectPolicy: 'Max', Policies: [{ Type: 'Pods', Value: 1, PeriodSeconds: 30 }], Tolerance: null });
  t.is(behavior.ScaleUp.SelectPolicy, 'Max');

  // A v1 client changes maxReplicas and sends the object back: the other metrics and the behavior survive.
  const u = await api(fx.server, 'PUT', `${V1}/multi`, { ...v1.body, spec: { ...v1.body.spec, maxReplicas: 8 } });
  t.is(u.status, 200, JSON.stringify(u.body));
  t.is(u.body.apiVersion, 'autoscaling/v1');
  const after = await api(fx.server, 'GET', `${V2}/multi`);
  t.is(after.body.spec.maxReplicas, 8);
  t.deepEqual(after.body.spec.metrics, [spec.metrics[0], spec.metrics[2], spec.metrics[1]], 'the annotation metrics first, then the CPU target, as upstream');
  t.like(after.body.spec.behavior.scaleDown, { stabilizationWindowSeconds: 60 });
  t.deepEqual(after.body.metadata.annotations, { team: 'a' }, 'the round-trip annotations are not stored');
  t.is(after.body.status.currentMetrics.length, 1, 'status untouched by a main-resource write');
  // A merge patch through v1 works on the v1 view.
  const p = await api(fx.server, 'PATCH', `${V1}/multi`, { spec: { targetCPUUtilizationPercentage: 40 } }, { contentType: 'application/merge-patch+json' });
  t.is(p.status, 200, JSON.stringify(p.body));
  t.is(p.body.spec.targetCPUUtilizationPercentage, 40);
  const patched = await api(fx.server, 'GET', `${V2}/multi`);
  t.deepEqual(patched.body.spec.metrics.map((m: JsonObject) => (m.resource as JsonObject | undefined)?.target ?? m.type), [{ type: 'AverageValue', averageValue: '100Mi' }, 'Pods', { type: 'Utilization', averageUtilization: 40 }]);
});

test.serial('a v1 HPA without a CPU target gets the implicit 80% (conversion), and invalid values fail with upstream paths', async (t) => {
  const c = await api(fx.server, 'POST', V1, { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', metadata: { name: 'plain' }, spec: { scaleTargetRef: target, maxReplicas: 2 } });
  t.is(c.status, 201, JSON.stringify(c.body));
  t.deepEqual(c.body.spec, { scaleTargetRef: target, minReplicas: 1, maxReplicas: 2, targetCPUUtilizationPercentage: 80 });
  const bad = await api(fx.server, 'POST', V1, { metadata: { name: 'bad' }, spec: { scaleTargetRef: target, maxReplicas: 2, targetCPUUtilizationPercentage: 0 } });
  t.is(bad.status, 422);
  t.deepEqual(bad.body.details.causes.map((x: JsonObject) => x.field), ['spec.metrics[0].resource.target.averageUtilization']);
  const garbled = await api(fx.server, 'POST', V1, { metadata: { name: 'garbled', annotations: { [METRICS]: '[{' } }, spec: { scaleTargetRef: target, maxReplicas: 2 } });
  t.is(garbled.status, 400, JSON.stringify(garbled.body));
});

test.serial('kubectl 1.27 apply (client-side) and 1.33 apply --server-side of an autoscaling/v1 manifest, then a change', async (t) => {
  const manifest = (name: string, cpu: number) => `apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: ${name}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  targetCPUUtilizationPercentage: ${cpu}
`;
  const file = join(fx.dir, 'hpa.yaml');
  for (const [v, name, extra] of [['1.27', 'applied', []], ['1.33', 'ssa', ['--server-side']]] as const) {
    for (const cpu of [55, 65]) {
      await writeFile(file, manifest(name, cpu));
      const a = await kubectl(v, ['-n', NS, 'apply', '-f', file, ...extra]);
      t.is(a.code, 0, `${v} ${a.err}`);
      const v2 = await api(fx.server, 'GET', `${V2}/${name}`);
      t.deepEqual(v2.body.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: cpu } } }], `${v} ${cpu}`);
    }
  }
});

test.serial('list, watch and protobuf in v1; delete through v1 removes the object (404 in both versions)', async (t) => {
  const l = await api(fx.server, 'GET', V1);
  t.is(l.body.kind, 'HorizontalPodAutoscalerList');
  t.is(l.body.apiVersion, 'autoscaling/v1');
  t.deepEqual(l.body.items.map((x: JsonObject) => x.apiVersion), l.body.items.map(() => 'autoscaling/v1'));
  t.true(l.body.items.length >= 3);
  const events = await watchEvents(fx.server, `${V1}?watch=true&fieldSelector=metadata.name=plain`, (ev) => ev.length >= 1);
  t.is(events[0].type, 'ADDED');
  t.is(events[0].object.apiVersion, 'autoscaling/v1');
  t.is(events[0].object.spec.targetCPUUtilizationPercentage, 80);
  const pb = await getProtobuf(`${V1}/web`);
  t.is(pb.status, 200);
  t.regex(pb.contentType, /protobuf/);
  const decoded = decodeObject(pb.bytes);
  t.like(decoded, { apiVersion: 'autoscaling/v1', kind: 'HorizontalPodAutoscaler', spec: { targetCPUUtilizationPercentage: 50 } });
  const d = await api(fx.server, 'DELETE', `${V1}/plain`);
  t.is(d.status, 200, JSON.stringify(d.body));
  t.is((await api(fx.server, 'GET', `${V1}/plain`)).status, 404);
  t.is((await api(fx.server, 'GET', `${V2}/plain`)).status, 404);
});
