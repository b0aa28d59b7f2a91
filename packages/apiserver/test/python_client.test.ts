// The official Python client (Debian's python3-kubernetes through /usr/bin/python3, installed by
// scripts/ensure.mjs --test) runs its basic flows against a real API server over HTTPS with the admin
// kubeconfig: create/list/watch (watch.Watch().stream with timeout_seconds)/patch/delete of pods,
// deployments, daemonsets, services, configmaps and replicationcontrollers, the scale subresource, and
// utils.create_from_yaml. The script (python/basic_flows.py) prints what it saw as JSON. Exec through
// kubernetes.stream needs a node agent and is not in this file.
import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFixture, type Fixture } from './helpers/cluster.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./python/basic_flows.py', import.meta.url));

let fx: Fixture;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let result: Record<string, any>;
let stderr = '';

const MANIFEST = `apiVersion: v1
kind: ConfigMap
metadata:
  name: yaml-cm
data:
  greeting: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: yaml-deploy
spec:
  replicas: 2
  selector:
    matchLabels: {app: yaml}
  template:
    metadata:
      labels: {app: yaml}
    spec:
      containers:
      - name: c
        image: busybox
`;

test.before(async () => {
  fx = await startFixture();
  const manifest = join(fx.dir, 'manifest.yaml');
  await writeFile(manifest, MANIFEST);
  const { stdout, stderr: err } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile(PYTHON, [SCRIPT, fx.server.kubeconfigPath, 'py-flows', manifest], { timeout: 120_000, maxBuffer: 16 << 20 }, (e, stdout, stderr) => {
      if (e) reject(new Error(`${PYTHON} ${SCRIPT} failed: ${e.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
  stderr = err;
  result = JSON.parse(stdout);
});
test.after.always(async () => {
  await fx?.stop();
});

/** A step's result, failing the test with the Python error when it raised. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function step(t: { fail(m: string): void }, name: string): any {
  const r = result[name];
  if (r && typeof r === 'object' && 'error' in r) t.fail(`${name}: ${JSON.stringify(r, null, 1)}\n${stderr}`);
  return r;
}

test('namespace', (t) => {
  t.is(step(t, 'namespace'), 'py-flows');
});

test('pods: create, list by label, watch (watch=True), strategic merge patch, delete then 404', (t) => {
  const r = step(t, 'pods');
  t.is(r.created, 'py-pod');
  t.true(r.uid);
  t.deepEqual(r.listed, ['py-pod']);
  t.deepEqual(r.watch, [['ADDED', 'py-pod']]);
  t.deepEqual(r.patchedLabels, { app: 'py', patched: 'yes' });
  t.true(r.gone);
});

test('deployments: create (defaulted), list, watch, patch, scale subresource, delete', (t) => {
  const r = step(t, 'deployments');
  t.is(r.created, 'py-deploy');
  t.is(r.strategy, 'RollingUpdate');
  t.deepEqual(r.listed, ['py-deploy']);
  t.deepEqual(r.watch, [['ADDED', 'py-deploy']]);
  t.is(r.patchedReplicas, 3);
  t.is(r.scaleReplicas, 4);
  t.is(r.readReplicas, 4);
  t.true(r.gone);
});

test('daemonsets: the client deserializes status (zero counts written as upstream)', (t) => {
  const r = step(t, 'daemonsets');
  t.is(r.created, 'py-ds');
  t.is(r.currentNumberScheduled, 0);
  t.is(r.numberReady, 0);
  t.deepEqual(r.listed, ['py-ds']);
  t.deepEqual(r.watch, [['ADDED', 'py-ds']]);
  t.deepEqual(r.patchedAnnotations, { a: 'b' });
  t.true(r.gone);
});

test('services: cluster IP allocated, ports, watch, patch, delete', (t) => {
  const r = step(t, 'services');
  t.is(r.created, 'py-svc');
  t.true(r.clusterIP);
  t.is(r.port, 80);
  t.is(r.targetPort, 8080);
  t.deepEqual(r.listed, ['py-svc']);
  t.deepEqual(r.watch, [['ADDED', 'py-svc']]);
  t.deepEqual(r.patchedLabels, { tier: 'web' });
  t.true(r.gone);
});

test('configmaps: create, list by label, watch, patch, delete', (t) => {
  const r = step(t, 'configmaps');
  t.is(r.created, 'py-cm');
  t.deepEqual(r.listed, ['py-cm']);
  t.deepEqual(r.watch, [['ADDED', 'py-cm']]);
  t.deepEqual(r.patchedData, { a: '1', b: '2' });
  t.true(r.gone);
});

test('replicationcontrollers: selector and labels defaulted from the template, watch, patch, scale, delete', (t) => {
  const r = step(t, 'replicationcontrollers');
  t.is(r.created, 'py-rc');
  t.deepEqual(r.selector, { app: 'py' });
  t.deepEqual(r.labels, { app: 'py' });
  t.deepEqual(r.listed, ['py-rc']);
  t.deepEqual(r.watch, [['ADDED', 'py-rc']]);
  t.is(r.patchedReplicas, 2);
  t.is(r.scaleReplicas, 3);
  t.is(r.scaleSelector, 'app=py');
  t.true(r.gone);
});

test('utils.create_from_yaml creates every document of a manifest', (t) => {
  const r = step(t, 'createFromYaml');
  t.deepEqual(r.names, ['yaml-cm', 'yaml-deploy']);
  t.deepEqual(r.cmData, { greeting: 'hello' });
  t.is(r.deployReplicas, 2);
});
