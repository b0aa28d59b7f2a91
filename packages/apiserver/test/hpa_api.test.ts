// autoscaling/v2 HorizontalPodAutoscalers at the API: upstream's defaults (minReplicas 1, 80% CPU
// when no metric, behavior completed with the default rules), validation with upstream's paths
// and messages, generation on spec changes, `kubectl autoscale` of kubectl 1.33 (which posts
// autoscaling/v2) and the printer columns under kubectl 1.27 and 1.33.
import { execFile } from 'node:child_process';
import test from 'ava';
import type { JsonObject } from '@mkube/api';
import { hpaTargets } from '../src/http/hpa_columns.js';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const BIN = '/usr/lib/google-cloud-sdk/bin';
const NS = 'hpa';
const HPAS = `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers`;
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

const target = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };

test.serial('defaults: minReplicas 1, 80% average CPU utilization, a partial behavior completed as upstream', async (t) => {
  const r = await api(fx.server, 'POST', HPAS, { metadata: { name: 'd1' }, spec: { scaleTargetRef: target, maxReplicas: 4, behavior: { scaleDown: { stabilizationWindowSeconds: 30 } } } });
  t.is(r.status, 201, JSON.stringify(r.body));
  t.is(r.body.spec.minReplicas, 1);
  t.deepEqual(r.body.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }]);
  t.deepEqual(r.body.spec.behavior, {
    scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] },
    scaleDown: { stabilizationWindowSeconds: 30, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
  });
  t.is(r.body.metadata.generation, 1);
  const u = await api(fx.server, 'PUT', `${HPAS}/d1`, { ...r.body, spec: { ...r.body.spec, maxReplicas: 5 } });
  t.is(u.status, 200);
  t.is(u.body.metadata.generation, 2, 'a spec change bumps the generation');
  // Upstream writes the required status scalar even when unset.
  t.is(u.body.status.desiredReplicas, 0);
});

test.serial('validation with upstream paths and messages', async (t) => {
  const bad = async (spec: Record<string, unknown>) => {
    const r = await api(fx.server, 'POST', HPAS, { metadata: { name: 'bad' }, spec: { scaleTargetRef: target, maxReplicas: 3, ...spec } });
    t.is(r.status, 422, JSON.stringify(r.body));
    return (r.body.details.causes as Array<{ field: string; message: string }>).map((c) => `${c.field}: ${c.message}`);
  };
  t.deepEqual(await bad({ maxReplicas: 0 }), ['spec.maxReplicas: Invalid value: 0: must be greater than 0']);
  t.deepEqual(await bad({ minReplicas: 5 }), ['spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`']);
  t.deepEqual(await bad({ scaleTargetRef: { kind: 'Deployment' } }), ['spec.scaleTargetRef.name: Required value']);
  t.deepEqual(await bad({ metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 0 } } }] }), ['spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0']);
  t.deepEqual(await bad({ behavior: { scaleUp: { policies: [{ type: 'Pods', value: 1, periodSeconds: 1801 }] } } }), ['spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 1801: must be less than or equal to 1800']);
  t.deepEqual(await bad({ behavior: { scaleDown: { selectPolicy: 'Most' } } }), ['spec.behavior.scaleDown.selectPolicy: Unsupported value: "Most": supported values: "Disabled", "Max", "Min"']);
});

test.serial('kubectl 1.33 autoscale creates an autoscaling/v2 HPA; kubectl 1.27 and 1.33 print upstream columns', async (t) => {
  const a = await kubectl('1.33', ['-n', NS, 'autoscale', 'deployment', 'web', '--max', '3', '--cpu-percent', '60']);
  t.is(a.code, 0, a.err);
  t.regex(a.out, /horizontalpodautoscaler\.autoscaling\/web autoscaled/);
  const h = await api(fx.server, 'GET', `${HPAS}/web`);
  t.like(h.body.spec, { minReplicas: 1, maxReplicas: 3, scaleTargetRef: target });
  for (const v of ['1.27', '1.33']) {
    const g = await kubectl(v, ['-n', NS, 'get', 'hpa', 'web']);
    t.is(g.code, 0, g.err);
    const [head, row] = g.out.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
    t.deepEqual(head, ['NAME', 'REFERENCE', 'TARGETS', 'MINPODS', 'MAXPODS', 'REPLICAS', 'AGE'], v);
    t.deepEqual(row!.slice(0, 6), ['web', 'Deployment/web', 'cpu: <unknown>/60%', '1', '3', '0'], v);
  }
});

test('the TARGETS cell as upstream formats it', (t) => {
  const spec = (metrics: JsonObject[]): JsonObject => ({ spec: { metrics } });
  const cpu: JsonObject = { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } };
  const mem: JsonObject = { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } } };
  t.is(hpaTargets({ ...spec([cpu]), status: { currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 183, averageValue: '183m' } } }] } }), 'cpu: 183%/50%');
  t.is(hpaTargets(spec([cpu, mem])), 'cpu: <unknown>/50%, memory: <unknown>/100Mi');
  t.is(hpaTargets(spec([cpu, mem, cpu])), 'cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more...');
  t.is(hpaTargets(spec([])), '<none>');
});
