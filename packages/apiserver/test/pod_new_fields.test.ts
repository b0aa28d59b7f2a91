// Pod fields newer than mkube's first schema at the API: a native sidecar's restartPolicy and
// status.hostIPs are stored and read back (they were pruned before the protos had them), upstream's
// validation of container restart policies and of affinity matchLabelKeys/mismatchLabelKeys with its
// paths and messages, and the create-time merge of those keys into the term's labelSelector.
import { execFile } from 'node:child_process';
import test from 'ava';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const NS = 'newfields';
const PODS = `/api/v1/namespaces/${NS}/pods`;
let fx: Fixture;

test.before(async () => {
  fx = await startFixture();
  await api(fx.server, 'POST', '/api/v1/namespaces', { metadata: { name: NS } });
});
test.after.always(async () => {
  await fx?.stop();
});

const sidecarPod = (name: string) => ({
  metadata: { name, labels: { app: 'web', version: 'v2', tier: 'front' } },
  spec: {
    initContainers: [{ name: 'side', image: 'busybox', command: ['sleep', '3600'], restartPolicy: 'Always', readinessProbe: { exec: { command: ['true'] } } }],
    containers: [{ name: 'main', image: 'busybox' }],
    affinity: {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname', matchLabelKeys: ['version', 'absent'], mismatchLabelKeys: ['tier'] }],
      },
    },
  },
});

test.serial('a sidecar restartPolicy, matchLabelKeys/mismatchLabelKeys and status.hostIPs are stored; the keys are merged into the selector on create', async (t) => {
  const c = await api(fx.server, 'POST', PODS, sidecarPod('p1'));
  t.is(c.status, 201, JSON.stringify(c.body));
  const g = await api(fx.server, 'GET', `${PODS}/p1`);
  t.is(g.body.spec.initContainers[0].restartPolicy, 'Always');
  t.is(g.body.spec.containers[0].restartPolicy, undefined);
  const term = g.body.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0];
  t.deepEqual(term.matchLabelKeys, ['version', 'absent']);
  t.deepEqual(term.mismatchLabelKeys, ['tier']);
  // Upstream's PrepareForCreate: the pod's own values, for the keys its labels have.
  t.deepEqual(term.labelSelector, { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'version', operator: 'In', values: ['v2'] }, { key: 'tier', operator: 'NotIn', values: ['front'] }] });
  const status = { ...g.body.status, hostIP: '10.0.0.7', hostIPs: [{ ip: '10.0.0.7' }, { ip: 'fd00::7' }] };
  const s = await api(fx.server, 'PUT', `${PODS}/p1/status`, { ...g.body, status });
  t.is(s.status, 200, JSON.stringify(s.body));
  const g2 = await api(fx.server, 'GET', `${PODS}/p1`);
  t.deepEqual(g2.body.status.hostIPs, [{ ip: '10.0.0.7' }, { ip: 'fd00::7' }]);
  // An update keeps the merged selector valid (the keys are not merged twice).
  const u = await api(fx.server, 'PUT', `${PODS}/p1`, { ...g2.body, metadata: { ...g2.body.metadata, annotations: { a: 'b' } } });
  t.is(u.status, 200, JSON.stringify(u.body));
  t.is(u.body.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions.length, 2);
});

test.serial('kubectl 1.33 reads the sidecar field back', async (t) => {
  const out = await new Promise<string>((resolve, reject) => {
    execFile('/usr/lib/google-cloud-sdk/bin/kubectl.1.33', ['get', 'pod', 'p1', '-n', NS, '-o', 'jsonpath={.spec.initContainers[0].restartPolicy}'], { env: { ...process.env, KUBECONFIG: fx.server.kubeconfigPath, HOME: fx.dir }, timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)));
  });
  t.is(out, 'Always');
});

async function causes(body: unknown): Promise<string[]> {
  const r = await api(fx.server, 'POST', PODS, body);
  if (r.status !== 422) throw new Error(`expected 422, got ${r.status}: ${JSON.stringify(r.body)}`);
  return (r.body.details.causes as { field: string; message: string }[]).map((c) => `${c.field}: ${c.message}`);
}

test.serial('container restart policies are validated as upstream', async (t) => {
  const pod = (init: Record<string, unknown>, main: Record<string, unknown> = {}) => ({
    metadata: { name: 'bad' },
    spec: { initContainers: [{ name: 'i', image: 'busybox', ...init }], containers: [{ name: 'm', image: 'busybox', ...main }] },
  });
  t.deepEqual(await causes(pod({ restartPolicy: 'OnFailure' })), ['spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"']);
  t.deepEqual(await causes(pod({}, { restartPolicy: 'Always' })), ['spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers']);
  t.deepEqual(await causes(pod({ livenessProbe: { exec: { command: ['true'] } }, lifecycle: { preStop: { exec: { command: ['true'] } } } })), [
    'spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always',
    'spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always',
  ]);
  // In a workload's template too.
  const d = await api(fx.server, 'POST', `/apis/apps/v1/namespaces/${NS}/deployments`, {
    metadata: { name: 'd' },
    spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: pod({ restartPolicy: 'Never' }).spec } },
  });
  t.is(d.status, 422);
  t.deepEqual(d.body.details.causes.map((c: { field: string }) => c.field), ['spec.template.spec.initContainers[0].restartPolicy']);
});

test.serial('matchLabelKeys/mismatchLabelKeys are validated as upstream', async (t) => {
  const pod = (term: Record<string, unknown>) => ({
    metadata: { name: 'bad', labels: { app: 'web' } },
    spec: { containers: [{ name: 'm', image: 'busybox' }], affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, podAffinityTerm: { topologyKey: 'zone', ...term } }] } } },
  });
  const at = 'spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm';
  t.deepEqual(await causes(pod({ matchLabelKeys: ['app'] })), [`${at}.matchLabelKeys: Forbidden: must not be specified when labelSelector is not set`]);
  t.deepEqual(await causes(pod({ labelSelector: { matchLabels: { x: 'y' } }, matchLabelKeys: ['app'], mismatchLabelKeys: ['app'] })), [
    // Validation runs after the create-time merge, as upstream's: `app In (web)` and `app NotIn (web)` both land in the selector.
    `${at}[0]: Invalid value: "app": exists in both matchLabelKeys and labelSelector`,
    `${at}.matchLabelKeys[0]: Invalid value: "app": exists in both matchLabelKeys and mismatchLabelKeys`,
  ]);
  t.deepEqual(await causes(pod({ labelSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] }, matchLabelKeys: ['app'] })), [`${at}[0]: Invalid value: "app": exists in both matchLabelKeys and labelSelector`]);
  t.deepEqual(await causes(pod({ labelSelector: { matchLabels: { x: 'y' } }, mismatchLabelKeys: ['-bad'] })), [`${at}.mismatchLabelKeys[0]: Invalid value: "-bad": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`]);
});
