// The Pod Security Standards checks (admission/pod_security.ts), table
// driven: each pod against a level, with upstream's exact "reason (detail)"
// text; the namespace label parsing; the significant-update rule; and the
// plugin's namespace answers over in-memory lookups.
import test from 'ava';
import { checkIds, evaluatePod, forbiddenDetail, policyToEvaluate, type Level } from '../src/admission/pod_security.js';
import { isSignificantPodUpdate, PodSecurityAdmission } from '../src/admission/pod_security_admission.js';
import { parsePodSecurityConfiguration } from '../src/admission/pod_security_config.js';
import { findResource, type JsonObject } from '@mkube/api';
import { ApiError } from '../src/errors.js';

type Obj = JsonObject;
const c = (name: string, securityContext?: Obj, extra: Obj = {}): Obj => ({ name, image: 'busybox', ...(securityContext ? { securityContext } : {}), ...extra });
/** A container that passes restricted. */
const good = (name: string, extra: Obj = {}): Obj => c(name, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, extra);
/** A pod spec that passes restricted, with `over` merged in. */
const restrictedSpec = (over: Obj = {}): Obj => ({ securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }, containers: [good('c')], ...over });

interface Case {
  name: string;
  level: Level;
  spec: Obj;
  meta?: Obj;
  /** upstream's ForbiddenDetail, '' when allowed */
  want: string;
}

const CASES: Case[] = [
  // privileged allows everything
  { name: 'privileged allows a privileged hostNetwork pod', level: 'privileged', spec: { hostNetwork: true, containers: [c('c', { privileged: true })] }, want: '' },
  // baseline
  { name: 'baseline: plain pod', level: 'baseline', spec: { containers: [c('c')] }, want: '' },
  { name: 'baseline: privileged', level: 'baseline', spec: { containers: [c('a', { privileged: true }), c('b', { privileged: true })] }, want: 'privileged (containers "a", "b" must not set securityContext.privileged=true)' },
  { name: 'baseline: privileged=false is fine', level: 'baseline', spec: { containers: [c('a', { privileged: false })] }, want: '' },
  { name: 'baseline: host namespaces', level: 'baseline', spec: { hostNetwork: true, hostPID: true, hostIPC: true, containers: [c('c')] }, want: 'host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)' },
  { name: 'baseline: hostPath', level: 'baseline', spec: { volumes: [{ name: 'root', hostPath: { path: '/' } }, { name: 'e', emptyDir: {} }], containers: [c('c')] }, want: 'hostPath volumes (volume "root")' },
  { name: 'baseline: hostPorts', level: 'baseline', spec: { containers: [c('web', undefined, { ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 90, hostPort: 9090 }] })] }, want: 'hostPort (container "web" uses hostPorts 8080, 9090)' },
  { name: 'baseline: hostPort 0 is fine', level: 'baseline', spec: { containers: [c('web', undefined, { ports: [{ containerPort: 80, hostPort: 0 }] })] }, want: '' },
  { name: 'baseline: capabilities beyond the default set', level: 'baseline', spec: { containers: [c('c', { capabilities: { add: ['NET_ADMIN', 'CHOWN', 'NET_RAW'] } })] }, want: 'non-default capabilities (container "c" must not include "NET_ADMIN", "NET_RAW" in securityContext.capabilities.add)' },
  { name: 'baseline: default-set capabilities are fine', level: 'baseline', spec: { containers: [c('c', { capabilities: { add: ['CHOWN', 'NET_BIND_SERVICE', 'KILL'] } })] }, want: '' },
  { name: 'baseline: seccomp Unconfined', level: 'baseline', spec: { securityContext: { seccompProfile: { type: 'Unconfined' } }, containers: [c('c')] }, want: 'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")' },
  { name: 'baseline: seccomp unset is fine', level: 'baseline', spec: { containers: [c('c')] }, want: '' },
  { name: 'baseline: procMount Unmasked', level: 'baseline', spec: { containers: [c('c', { procMount: 'Unmasked' })] }, want: 'procMount (container "c" must not set securityContext.procMount to "Unmasked")' },
  { name: 'baseline: procMount relaxed for user-namespaced pods', level: 'baseline', spec: { hostUsers: false, containers: [c('c', { procMount: 'Unmasked' })] }, want: '' },
  { name: 'baseline: SELinux type and user', level: 'baseline', spec: { securityContext: { seLinuxOptions: { type: 'spc_t', user: 'root' } }, containers: [c('c')] }, want: 'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)' },
  { name: 'baseline: SELinux container_t is fine', level: 'baseline', spec: { containers: [c('c', { seLinuxOptions: { type: 'container_t', level: 's0:c1' } })] }, want: '' },
  { name: 'baseline: AppArmor unconfined field and annotation', level: 'baseline', meta: { annotations: { 'container.apparmor.security.beta.kubernetes.io/c': 'unconfined' } }, spec: { containers: [c('c', { appArmorProfile: { type: 'Unconfined' } })] }, want: 'forbidden AppArmor profiles (container "c" and annotation must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/c="unconfined"")' },
  { name: 'baseline: sysctls outside the safe set', level: 'baseline', spec: { securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '1' }, { name: 'net.ipv4.tcp_syncookies', value: '1' }] }, containers: [c('c')] }, want: 'forbidden sysctls (kernel.msgmax)' },
  { name: 'baseline: hostProcess', level: 'baseline', spec: { securityContext: { windowsOptions: { hostProcess: true } }, containers: [c('c')] }, want: 'hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)' },
  { name: 'baseline: probe host', level: 'baseline', spec: { containers: [c('c', undefined, { livenessProbe: { httpGet: { host: '169.254.169.254', port: 80 } } })] }, want: 'probe or lifecycle host (container "c" uses probe or lifecycle host "169.254.169.254")' },
  {
    name: 'baseline: several violations in upstream order',
    level: 'baseline',
    spec: { hostNetwork: true, hostPID: true, volumes: [{ name: 'proc', hostPath: { path: '/proc' } }, { name: 'sys', hostPath: { path: '/sys' } }], containers: [c('node-exporter', undefined, { ports: [{ containerPort: 9100, hostPort: 9100 }] })] },
    want: 'host namespaces (hostNetwork=true, hostPID=true), hostPath volumes (volumes "proc", "sys"), hostPort (container "node-exporter" uses hostPort 9100)',
  },
  { name: 'baseline: init and ephemeral containers are checked', level: 'baseline', spec: { initContainers: [c('init', { privileged: true })], containers: [c('c')], ephemeralContainers: [c('debug', { privileged: true })] }, want: 'privileged (containers "init", "debug" must not set securityContext.privileged=true)' },
  // restricted
  {
    name: 'restricted: plain pod (upstream example)',
    level: 'restricted',
    spec: { containers: [c('c')] },
    want: 'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
  },
  { name: 'restricted: compliant pod', level: 'restricted', spec: restrictedSpec(), want: '' },
  { name: 'restricted: compliant at container level', level: 'restricted', spec: { containers: [c('c', { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] }, runAsNonRoot: true, seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } })] }, want: '' },
  { name: 'restricted: runAsNonRoot=false', level: 'restricted', spec: restrictedSpec({ securityContext: { runAsNonRoot: false, seccompProfile: { type: 'RuntimeDefault' } } }), want: 'runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)' },
  { name: 'restricted: runAsUser 0', level: 'restricted', spec: restrictedSpec({ containers: [good('c', { securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsUser: 0 } })] }), want: 'runAsUser=0 (container "c" must not set runAsUser=0)' },
  { name: 'restricted: user-namespaced pods may run as root', level: 'restricted', spec: restrictedSpec({ hostUsers: false, securityContext: { runAsUser: 0, seccompProfile: { type: 'RuntimeDefault' } } }), want: '' },
  { name: 'restricted: adding capabilities', level: 'restricted', spec: restrictedSpec({ containers: [c('c', { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['SYS_TIME', 'NET_BIND_SERVICE'] } })] }), want: 'unrestricted capabilities (container "c" must not include "SYS_TIME" in securityContext.capabilities.add)' },
  { name: 'restricted: restricted volume types replace the hostPath check', level: 'restricted', spec: restrictedSpec({ volumes: [{ name: 'h', hostPath: { path: '/' } }, { name: 'n', nfs: { server: 'x', path: '/' } }, { name: 's', secret: { secretName: 's' } }] }), want: 'restricted volume types (volumes "h", "n" use restricted volume types "hostPath", "nfs")' },
  { name: 'restricted: allowed volume types', level: 'restricted', spec: restrictedSpec({ volumes: [{ name: 'a', configMap: { name: 'x' } }, { name: 'b', emptyDir: {} }, { name: 'c', projected: { sources: [] } }, { name: 'd', persistentVolumeClaim: { claimName: 'x' } }, { name: 'e', downwardAPI: {} }] }), want: '' },
  { name: 'restricted: windows pods skip the linux-only checks', level: 'restricted', spec: { os: { name: 'windows' }, securityContext: { runAsNonRoot: true }, containers: [c('c')] }, want: '' },
  {
    name: 'restricted: baseline violations first, then restricted ones',
    level: 'restricted',
    spec: { hostNetwork: true, containers: [c('c', { privileged: true })] },
    want: 'host namespaces (hostNetwork=true), privileged (container "c" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
  },
];

for (const k of CASES) {
  test(`policy: ${k.name}`, (t) => {
    t.is(forbiddenDetail(evaluatePod({ level: k.level, version: 'latest' }, k.meta ?? {}, k.spec)), k.want);
  });
}

test('policy: a pinned version applies the latest checks', (t) => {
  const spec = { containers: [c('c', undefined, { livenessProbe: { tcpSocket: { host: '10.0.0.1', port: 1 } } })] };
  t.is(forbiddenDetail(evaluatePod({ level: 'baseline', version: 'v1.25' }, {}, spec)), forbiddenDetail(evaluatePod({ level: 'baseline', version: 'latest' }, {}, spec)));
});

test('policy: restricted runs every baseline check except the ones it replaces', (t) => {
  const restricted = checkIds('restricted');
  for (const id of checkIds('baseline')) t.is(restricted.includes(id), !['capabilities_baseline', 'hostPathVolumes', 'procMount', 'seccompProfile_baseline'].includes(id), id);
  t.deepEqual(checkIds('privileged'), []);
});

test('policy: input that is not a pod spec is treated as empty, never thrown on', (t) => {
  t.is(forbiddenDetail(evaluatePod({ level: 'restricted', version: 'latest' }, 'x', { containers: 'nope', volumes: [null, 3], securityContext: [] })), '');
  const polluted = JSON.parse('{"containers":[{"name":"c","__proto__":{"privileged":true}}]}') as Obj;
  t.is(forbiddenDetail(evaluatePod({ level: 'baseline', version: 'latest' }, {}, polluted)), '');
});

test('labels: levels and versions, with upstream field errors and fallbacks', (t) => {
  const ok = policyToEvaluate({ 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/enforce-version': 'v1.30', 'pod-security.kubernetes.io/warn': 'restricted' });
  t.deepEqual(ok.errors, []);
  t.deepEqual(ok.policy, { enforce: { level: 'baseline', version: 'v1.30' }, audit: { level: 'privileged', version: 'latest' }, warn: { level: 'restricted', version: 'latest' } });
  const bad = policyToEvaluate({ 'pod-security.kubernetes.io/enforce': 'strict', 'pod-security.kubernetes.io/warn': 'nope', 'pod-security.kubernetes.io/audit-version': 'v2.0' });
  t.deepEqual(bad.policy.enforce, { level: 'restricted', version: 'latest' }, 'an invalid enforce level fails closed');
  t.is(bad.policy.warn.level, 'privileged', 'an invalid warn level fails open');
  t.deepEqual(bad.errors, [
    { type: 'FieldValueInvalid', field: 'metadata.labels[pod-security.kubernetes.io/enforce]', value: 'strict', detail: 'must be one of privileged, baseline, restricted' },
    { type: 'FieldValueInvalid', field: 'metadata.labels[pod-security.kubernetes.io/audit-version]', value: 'v2.0', detail: 'must be "latest" or "v1.x"' },
    { type: 'FieldValueInvalid', field: 'metadata.labels[pod-security.kubernetes.io/warn]', value: 'nope', detail: 'must be one of privileged, baseline, restricted' },
  ]);
  t.deepEqual(policyToEvaluate(undefined).policy.enforce, { level: 'privileged', version: 'latest' });
  // warn follows a stricter enforce label unless set itself
  t.deepEqual(policyToEvaluate({ 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'v1.29' }).policy.warn, { level: 'restricted', version: 'v1.29' });
  t.deepEqual(policyToEvaluate({ 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/warn': 'baseline' }).policy.warn, { level: 'baseline', version: 'latest' });
});

test('updates: only container count, images, seccomp annotations and new ephemeral containers are significant', (t) => {
  const pod = (over: Obj = {}): Obj => ({ metadata: { name: 'p', labels: { a: '1' } }, spec: { containers: [c('c')], ...over } });
  t.false(isSignificantPodUpdate({ ...pod(), metadata: { name: 'p', labels: { a: '2' } } }, pod()));
  t.false(isSignificantPodUpdate(pod({ nodeName: 'n1' }), pod()));
  t.true(isSignificantPodUpdate(pod({ containers: [{ name: 'c', image: 'other' }] }), pod()));
  t.true(isSignificantPodUpdate(pod({ containers: [c('c'), c('d')] }), pod()));
  t.true(isSignificantPodUpdate(pod({ ephemeralContainers: [c('debug', { privileged: true })] }), pod()));
  t.false(isSignificantPodUpdate(pod({ ephemeralContainers: [c('debug')] }), pod({ ephemeralContainers: [c('debug')] })));
});

const NS = findResource('', 'v1', 'namespaces')!;
const PODS = findResource('', 'v1', 'pods')!;

test('plugin: tightening a namespace lists the violating pods as upstream (grouped, counted, sorted)', async (t) => {
  const pods: Obj[] = [
    { metadata: { name: 'web-2' }, spec: { hostNetwork: true, containers: [c('c')] } },
    { metadata: { name: 'web-1' }, spec: { hostNetwork: true, containers: [c('c')] } },
    { metadata: { name: 'web-3' }, spec: { hostNetwork: true, containers: [c('c')] } },
    { metadata: { name: 'priv' }, spec: { containers: [c('c', { privileged: true })] } },
    { metadata: { name: 'fine' }, spec: { containers: [c('c')] } },
  ];
  const plugin = new PodSecurityAdmission({ namespace: async () => undefined, pods: () => pods });
  const ns = (labels: Record<string, string>): Obj => ({ metadata: { name: 'team', labels } });
  const r = await plugin.evaluate({ operation: 'UPDATE', info: NS, namespace: undefined, name: 'team', obj: ns({ 'pod-security.kubernetes.io/enforce': 'baseline' }), oldObj: ns({}), dryRun: false });
  t.is(r.error, undefined);
  t.deepEqual(r.warnings, [
    'existing pods in namespace "team" violate the new PodSecurity enforce level "baseline:latest"',
    'priv: privileged',
    'web-1 (and 2 other pods): host namespaces',
  ]);
  // relaxing, or an unchanged enforce label, checks nothing
  const relaxed = await plugin.evaluate({ operation: 'UPDATE', info: NS, namespace: undefined, name: 'team', obj: ns({ 'pod-security.kubernetes.io/enforce': 'baseline' }), oldObj: ns({ 'pod-security.kubernetes.io/enforce': 'restricted' }), dryRun: false });
  t.deepEqual(relaxed.warnings, []);
  // invalid labels: 422 on create, and on update only when they changed
  const invalid = await plugin.evaluate({ operation: 'CREATE', info: NS, namespace: undefined, name: 'team', obj: ns({ 'pod-security.kubernetes.io/enforce': 'strict' }), dryRun: false });
  t.true(invalid.error instanceof ApiError);
  t.is(invalid.error!.code, 422);
  t.is(invalid.error!.message, 'Namespace "team" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted');
  const unchangedBad = await plugin.evaluate({ operation: 'UPDATE', info: NS, namespace: undefined, name: 'team', obj: { metadata: { name: 'team', labels: { 'pod-security.kubernetes.io/enforce': 'strict' }, annotations: { a: 'b' } } }, oldObj: ns({ 'pod-security.kubernetes.io/enforce': 'strict' }), dryRun: false });
  t.is(unchangedBad.error, undefined);
});

test('plugin: exemptions and audit annotations', async (t) => {
  const config = parsePodSecurityConfiguration({
    apiVersion: 'pod-security.admission.config.k8s.io/v1',
    kind: 'PodSecurityConfiguration',
    defaults: { enforce: 'baseline', audit: 'restricted' },
    exemptions: { usernames: ['system:serviceaccount:kube-system:installer'], namespaces: ['kube-system'], runtimeClasses: ['kata'] },
  });
  const plugin = new PodSecurityAdmission({ namespace: async (name) => ({ metadata: { name } }), pods: () => [] }, config);
  const privileged: Obj = { metadata: { name: 'p' }, spec: { containers: [c('c', { privileged: true })] } };
  const create = (namespace: string, obj: Obj, user = 'alice') => plugin.evaluate({ operation: 'CREATE', info: PODS, namespace, name: 'p', obj, dryRun: false, context: { user: { name: user, groups: [] } } });
  const refused = await create('team', privileged);
  t.is(refused.error?.code, 403);
  t.is(refused.error?.message, 'pods "p" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)');
  t.is(refused.auditAnnotations['enforce-policy'], 'baseline:latest');
  t.regex(refused.auditAnnotations['audit-violations']!, /^would violate PodSecurity "restricted:latest": privileged \(container "c" must not set securityContext.privileged=true\), allowPrivilegeEscalation != false/);
  t.deepEqual((await create('kube-system', privileged)).auditAnnotations, { exempt: 'namespace' });
  t.deepEqual((await create('team', privileged, 'system:serviceaccount:kube-system:installer')).auditAnnotations, { exempt: 'user' });
  t.deepEqual((await create('team', { ...privileged, spec: { ...(privileged.spec as Obj), runtimeClassName: 'kata' } })).auditAnnotations, { exempt: 'runtimeClass' });
  t.throws(() => parsePodSecurityConfiguration({ apiVersion: 'pod-security.admission.config.k8s.io/v1', kind: 'PodSecurityConfiguration', defaults: { enforce: 'strict' } }), { message: /defaults\.enforce: Invalid value: "strict": must be one of privileged, baseline, restricted/ });
});
