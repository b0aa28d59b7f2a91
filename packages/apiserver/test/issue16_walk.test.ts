// Issue 16's first-hour symptoms walked once more from the user's side against a real API server, with
// the clients nobody here wrote: the official Python client (Debian's python3-kubernetes) uses its
// AutoscalingV1Api (autoscaling/v1 HPAs: create, read, read status, list, delete — its models refuse a
// status without currentReplicas/desiredReplicas); kubectl 1.27 and 1.33 explain autoscaling/v1 HPAs with
// upstream's descriptions and answer `auth can-i`; an error body is byte for byte upstream's Status.
import { execFile } from 'node:child_process';
import { request } from 'node:https';
import test from 'ava';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const BIN = '/usr/lib/google-cloud-sdk/bin';
const PYTHON = '/usr/bin/python3';
const NS = 'walk16';
let fx: Fixture;

test.before(async () => {
  fx = await startFixture();
  await api(fx.server, 'POST', '/api/v1/namespaces', { metadata: { name: NS } });
});
test.after.always(async () => {
  await fx?.stop();
});

function run(file: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, KUBECONFIG: fx.server.kubeconfigPath, HOME: fx.dir }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

const PY_HPA_V1 = `
import json, sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
ns = sys.argv[2]
a = client.AutoscalingV1Api()
ref = client.V1CrossVersionObjectReference(kind='Deployment', name='web', api_version='apps/v1')
body = client.V1HorizontalPodAutoscaler(metadata=client.V1ObjectMeta(name='py'), spec=client.V1HorizontalPodAutoscalerSpec(scale_target_ref=ref, min_replicas=1, max_replicas=4, target_cpu_utilization_percentage=70))
created = a.create_namespaced_horizontal_pod_autoscaler(ns, body)
got = a.read_namespaced_horizontal_pod_autoscaler('py', ns)
status = a.read_namespaced_horizontal_pod_autoscaler_status('py', ns)
items = a.list_namespaced_horizontal_pod_autoscaler(ns).items
a.delete_namespaced_horizontal_pod_autoscaler('py', ns)
print(json.dumps({
  'created': created.api_version,
  'target': got.spec.target_cpu_utilization_percentage,
  'max': got.spec.max_replicas,
  'status': [status.status.current_replicas, status.status.desired_replicas],
  'listed': [i.metadata.name for i in items],
}))
`;

test.serial('Python client: AutoscalingV1Api creates, reads, lists and deletes an autoscaling/v1 HPA', async (t) => {
  const r = await run(PYTHON, ['-c', PY_HPA_V1, fx.server.kubeconfigPath, NS]);
  t.is(r.code, 0, r.err);
  t.deepEqual(JSON.parse(r.out), { created: 'autoscaling/v1', target: 70, max: 4, status: [0, 0], listed: ['py'] });
  t.is((await api(fx.server, 'GET', `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/py`)).status, 404);
});

for (const v of ['1.27', '1.33']) {
  test(`kubectl ${v} explain hpa --api-version=autoscaling/v1 shows upstream's descriptions`, async (t) => {
    const top = await run(`${BIN}/kubectl.${v}`, ['explain', 'hpa', '--api-version=autoscaling/v1']);
    t.is(top.code, 0, top.err);
    t.regex(top.out, /VERSION:\s+v1/);
    t.regex(top.out, /configuration of a horizontal pod autoscaler\./);
    const field = await run(`${BIN}/kubectl.${v}`, ['explain', 'hpa.spec.targetCPUUtilizationPercentage', '--api-version=autoscaling/v1']);
    t.is(field.code, 0, field.err);
    t.regex(field.out, /target average CPU utilization\s+\(represented as a percentage of requested CPU\)/);
  });

  test(`kubectl ${v} auth can-i answers (the identity APIs are served)`, async (t) => {
    const r = await run(`${BIN}/kubectl.${v}`, ['auth', 'can-i', 'create', 'horizontalpodautoscalers.autoscaling', '-n', NS]);
    t.is(r.code, 0, r.err);
    t.is(r.out.trim(), 'yes');
  });
}

test('a NotFound body is upstream Status JSON byte for byte (Go field order, no extra fields)', async (t) => {
  const body = await new Promise<string>((resolve, reject) => {
    const s = fx.server;
    const req = request(new URL(`/api/v1/namespaces/${NS}/pods/nope`, s.url), { ca: s.pki.caCert, cert: s.pki.adminCert, key: s.pki.adminKey, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
  t.is(body.trim(), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"nope\\" not found","reason":"NotFound","details":{"name":"nope","kind":"pods"},"code":404}');
});
