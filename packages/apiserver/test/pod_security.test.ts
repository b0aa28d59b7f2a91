// PodSecurity admission through the real API: a real API server over HTTPS
// (and gRPC for create) on a real etcd 3.4, namespaces labelled
// pod-security.kubernetes.io/{enforce,warn,audit}, upstream's 403 messages
// and Warning headers, the real kubectl (1.27 and 1.33) printing the
// warnings, pod-template workloads warned but admitted, and an
// AdmissionConfiguration (--admission-control-config-file) exempting a namespace.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { jsonToBytes } from '@mkube/api';
import { ResourcesClient, type GrpcApiError } from '../src/grpc/client.js';
import { decodeGrpc, encodeGrpc } from '../src/grpc/proto.js';
import { api, startFixture, type Fixture } from './helpers/cluster.js';

const BIN = '/usr/lib/google-cloud-sdk/bin';
const KUBECTLS = [`${BIN}/kubectl.1.27`, `${BIN}/kubectl.1.33`];
const RESTRICTED_PLAIN =
  'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")';

let fx: Fixture;
let admin: ResourcesClient;

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-psa-config-'));
  const config = join(dir, 'admission.yaml');
  await writeFile(config, `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults: {enforce: privileged, audit: privileged, warn: privileged}
    exemptions: {namespaces: [exempt-ns], usernames: [], runtimeClasses: []}
`);
  try {
    fx = await startFixture({ admissionControlConfigFile: config });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const s = fx.server;
  admin = new ResourcesClient({ address: `127.0.0.1:${s.grpc!.port}`, caCert: s.pki.caCert, cert: s.pki.adminCert, key: s.pki.adminKey });
});
test.after.always(async () => {
  admin?.close();
  await fx?.stop();
});

const s = () => fx.server;
const container = (extra: Record<string, unknown> = {}) => ({ name: 'c', image: 'busybox', ...extra });
const pod = (name: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [container()], ...spec } });
const restrictedPod = (name: string) =>
  pod(name, {
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [container({ securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } })],
  });

async function namespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  const r = await api(s(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  if (r.status !== 201) throw new Error(`namespace ${name}: ${r.status} ${r.text}`);
}

/** The Warning header's texts (299 - "text", ...). */
function warnings(h: string | string[] | undefined): string[] {
  const raw = Array.isArray(h) ? h.join(', ') : (h ?? '');
  const out: string[] = [];
  const re = /299 - "((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(raw); m; m = re.exec(raw)) out.push(JSON.parse(`"${m[1]}"`) as string);
  return out;
}

function kubectl(bin: string, args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(bin, args, { env: { ...process.env, KUBECONFIG: s().kubeconfigPath, HOME: fx.dir }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout, err: stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

test('an unlabelled namespace is privileged: a privileged hostNetwork hostPath pod is admitted without warnings', async (t) => {
  await namespace('psa-open');
  const r = await api(s(), 'POST', '/api/v1/namespaces/psa-open/pods', pod('root', { hostNetwork: true, volumes: [{ name: 'h', hostPath: { path: '/' } }], containers: [container({ securityContext: { privileged: true } })] }));
  t.is(r.status, 201, r.text);
  t.deepEqual(warnings(r.headers.warning), []);
});

test('enforce=baseline refuses privileged, hostPath and hostNetwork pods with upstream messages (REST and gRPC), admits a plain pod', async (t) => {
  await namespace('psa-baseline', { 'pod-security.kubernetes.io/enforce': 'baseline' });
  const cases: [string, Record<string, unknown>, string][] = [
    ['priv', { containers: [container({ securityContext: { privileged: true } })] }, 'privileged (container "c" must not set securityContext.privileged=true)'],
    ['hostpath', { volumes: [{ name: 'root', hostPath: { path: '/' } }] }, 'hostPath volumes (volume "root")'],
    ['hostnet', { hostNetwork: true }, 'host namespaces (hostNetwork=true)'],
  ];
  for (const [name, spec, detail] of cases) {
    const r = await api(s(), 'POST', '/api/v1/namespaces/psa-baseline/pods', pod(name, spec));
    t.is(r.status, 403, r.text);
    t.is(r.body.kind, 'Status');
    t.is(r.body.reason, 'Forbidden');
    t.is(r.body.message, `pods "${name}" is forbidden: violates PodSecurity "baseline:latest": ${detail}`);
    t.deepEqual(r.body.details, { name, kind: 'pods' });
    t.is((await api(s(), 'GET', `/api/v1/namespaces/psa-baseline/pods/${name}`)).status, 404, 'nothing was stored');
  }
  // gRPC create meets the same admission
  const err = await admin.create({ resource: 'pods', namespace: 'psa-baseline' }, pod('grpc-priv', { containers: [container({ securityContext: { privileged: true } })] })).then(
    () => undefined,
    (e: GrpcApiError) => e,
  );
  t.truthy(err, 'the gRPC create was refused');
  t.is(err!.code, grpc.status.PERMISSION_DENIED);
  t.is(err!.status?.message, 'pods "grpc-priv" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)');
  // a plain pod passes baseline; warn follows enforce (baseline), so no warning
  const ok = await api(s(), 'POST', '/api/v1/namespaces/psa-baseline/pods', pod('plain'));
  t.is(ok.status, 201, ok.text);
  t.deepEqual(warnings(ok.headers.warning), []);
  // a metadata-only update is admitted
  const meta = await api(s(), 'PATCH', '/api/v1/namespaces/psa-baseline/pods/plain', { metadata: { labels: { x: 'y' } } }, { contentType: 'application/merge-patch+json' });
  t.is(meta.status, 200, meta.text);
});

test('enforce=restricted refuses a plain pod with the upstream message and admits a compliant one; dry run is refused the same', async (t) => {
  await namespace('psa-restricted', { 'pod-security.kubernetes.io/enforce': 'restricted' });
  const r = await api(s(), 'POST', '/api/v1/namespaces/psa-restricted/pods', pod('x'));
  t.is(r.status, 403);
  t.is(r.body.message, `pods "x" is forbidden: violates PodSecurity "restricted:latest": ${RESTRICTED_PLAIN}`);
  const dry = await api(s(), 'POST', '/api/v1/namespaces/psa-restricted/pods?dryRun=All', pod('x'));
  t.is(dry.status, 403, 'dry run meets admission too');
  const ok = await api(s(), 'POST', '/api/v1/namespaces/psa-restricted/pods', restrictedPod('good'));
  t.is(ok.status, 201, ok.text);
  t.deepEqual(warnings(ok.headers.warning), []);
  // gRPC: the compliant pod is admitted there too
  const created = await admin.create({ resource: 'pods', namespace: 'psa-restricted' }, restrictedPod('good-grpc'));
  t.is((created.metadata as { name: string }).name, 'good-grpc');
});

test('a pinned enforce-version is accepted and shown in the message (the latest checks apply)', async (t) => {
  await namespace('psa-pinned', { 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/enforce-version': 'v1.29' });
  const r = await api(s(), 'POST', '/api/v1/namespaces/psa-pinned/pods', pod('p', { hostPID: true }));
  t.is(r.status, 403);
  t.is(r.body.message, 'pods "p" is forbidden: violates PodSecurity "baseline:v1.29": host namespaces (hostPID=true)');
});

test('invalid pod-security labels on a namespace are a 422 as upstream', async (t) => {
  const r = await api(s(), 'POST', '/api/v1/namespaces', { metadata: { name: 'psa-bad', labels: { 'pod-security.kubernetes.io/enforce': 'strict' } } });
  t.is(r.status, 422);
  t.is(r.body.reason, 'Invalid');
  t.is(r.body.message, 'Namespace "psa-bad" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted');
  t.is((await api(s(), 'GET', '/api/v1/namespaces/psa-bad')).status, 404);
  await namespace('psa-relabel');
  const v = await api(s(), 'PATCH', '/api/v1/namespaces/psa-relabel', { metadata: { labels: { 'pod-security.kubernetes.io/warn-version': 'v2' } } }, { contentType: 'application/merge-patch+json' });
  t.is(v.status, 422);
  t.is(v.body.message, 'Namespace "psa-relabel" is invalid: metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "v2": must be "latest" or "v1.x"');
});

test('warn=restricted admits with the Warning header, and kubectl 1.27 and 1.33 print it', async (t) => {
  await namespace('psa-warn', { 'pod-security.kubernetes.io/warn': 'restricted' });
  const r = await api(s(), 'POST', '/api/v1/namespaces/psa-warn/pods', pod('w'));
  t.is(r.status, 201, r.text);
  t.deepEqual(warnings(r.headers.warning), [`would violate PodSecurity "restricted:latest": ${RESTRICTED_PLAIN}`]);
  // over gRPC the warnings come in ObjectResponse.warnings
  const object = Buffer.from(jsonToBytes('k8s.io.api.core.v1.Pod', pod('w-grpc'), { typeMeta: true }).bytes);
  const raw = await admin.callRaw('Create', encodeGrpc('mkube.api.v1.CreateRequest', { ref: { version: 'v1', resource: 'pods', namespace: 'psa-warn' }, object }));
  t.deepEqual(decodeGrpc('mkube.api.v1.ObjectResponse', raw).warnings, [`would violate PodSecurity "restricted:latest": ${RESTRICTED_PLAIN}`]);
  for (const bin of KUBECTLS) {
    const name = `k-${bin.split('.').slice(-1)[0]}`;
    const k = await kubectl(bin, ['-n', 'psa-warn', 'run', name, '--image=busybox', '--restart=Never']);
    t.is(k.code, 0, `${bin}: ${k.err}`);
    t.true(k.err.includes(`Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "${name}" must set securityContext.allowPrivilegeEscalation=false)`), `${bin} printed: ${k.err}`);
  }
});

test('a Deployment in an enforce=restricted namespace is admitted with a warning (templates are never enforced), its pods are refused', async (t) => {
  await namespace('psa-deploy', { 'pod-security.kubernetes.io/enforce': 'restricted' });
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container()] } } },
  };
  const r = await api(s(), 'POST', '/apis/apps/v1/namespaces/psa-deploy/deployments', deployment);
  t.is(r.status, 201, r.text);
  t.deepEqual(warnings(r.headers.warning), [`would violate PodSecurity "restricted:latest": ${RESTRICTED_PLAIN}`]);
  const cron = await api(s(), 'POST', '/apis/batch/v1/namespaces/psa-deploy/cronjobs', {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'tick' },
    spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', hostNetwork: true, containers: [container()] } } } } },
  });
  t.is(cron.status, 201, cron.text);
  t.true(warnings(cron.headers.warning)[0]?.startsWith('would violate PodSecurity "restricted:latest": host namespaces (hostNetwork=true), allowPrivilegeEscalation != false'));
  // the same template as a pod is refused
  const p = await api(s(), 'POST', '/api/v1/namespaces/psa-deploy/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-abcde' }, spec: deployment.spec.template.spec });
  t.is(p.status, 403);
});

test('labelling a namespace with violating pods warns about them, and enforces from then on', async (t) => {
  await namespace('psa-existing');
  for (const name of ['net-b', 'net-a']) {
    t.is((await api(s(), 'POST', '/api/v1/namespaces/psa-existing/pods', pod(name, { hostNetwork: true }))).status, 201);
  }
  t.is((await api(s(), 'POST', '/api/v1/namespaces/psa-existing/pods', pod('priv', { containers: [container({ securityContext: { privileged: true } })] }))).status, 201);
  t.is((await api(s(), 'POST', '/api/v1/namespaces/psa-existing/pods', pod('fine'))).status, 201);
  const r = await api(s(), 'PATCH', '/api/v1/namespaces/psa-existing', { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'baseline' } } }, { contentType: 'application/merge-patch+json' });
  t.is(r.status, 200, r.text);
  t.deepEqual(warnings(r.headers.warning), [
    'existing pods in namespace "psa-existing" violate the new PodSecurity enforce level "baseline:latest"',
    'net-a (and 1 other pod): host namespaces',
    'priv: privileged',
  ]);
  t.is((await api(s(), 'GET', '/api/v1/namespaces/psa-existing/pods/priv')).status, 200, 'existing pods stay');
  // kubectl label prints the same warnings
  const k = await kubectl(KUBECTLS[1]!, ['label', '--overwrite', 'ns', 'psa-existing', 'pod-security.kubernetes.io/enforce=restricted']);
  t.is(k.code, 0, k.err);
  t.true(k.err.includes('Warning: existing pods in namespace "psa-existing" violate the new PodSecurity enforce level "restricted:latest"'), k.err);
  const refused = await api(s(), 'POST', '/api/v1/namespaces/psa-existing/pods', pod('new'));
  t.is(refused.status, 403);
  // a metadata-only update of an existing violating pod is still allowed, as upstream
  const meta = await api(s(), 'PATCH', '/api/v1/namespaces/psa-existing/pods/priv', { metadata: { labels: { touched: 'yes' } } }, { contentType: 'application/merge-patch+json' });
  t.is(meta.status, 200, meta.text);
  // changing its image is a significant update and is refused
  const image = await api(s(), 'PATCH', '/api/v1/namespaces/psa-existing/pods/priv', { spec: { containers: [{ name: 'c', image: 'busybox:2' }] } }, { contentType: 'application/strategic-merge-patch+json' });
  t.is(image.status, 403, image.text);
  t.regex(image.body.message, /^pods "priv" is forbidden: violates PodSecurity "restricted:latest": privileged \(container "c" must not set securityContext.privileged=true\)/);
});

test('a namespace exempted by --admission-control-config-file admits anything and warns when labelled', async (t) => {
  const r = await api(s(), 'POST', '/api/v1/namespaces', { metadata: { name: 'exempt-ns', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
  t.is(r.status, 201, r.text);
  t.deepEqual(warnings(r.headers.warning), ['namespace "exempt-ns" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored']);
  const p = await api(s(), 'POST', '/api/v1/namespaces/exempt-ns/pods', pod('root', { hostPID: true, containers: [container({ securityContext: { privileged: true } })] }));
  t.is(p.status, 201, p.text);
});
