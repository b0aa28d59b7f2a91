// Pod status computation and the pure runtime builders, without containerd.
import test from 'ava';
import type { Clock } from '../src/clock.js';
import type { AgentPod } from '../src/api_types.js';
import { Backoff } from '../src/runtime/backoff.js';
import { buildContainerConfig, linuxResources } from '../src/runtime/container_config.js';
import { expand } from '../src/runtime/env.js';
import { podQosClass } from '../src/runtime/qos.js';
import { bytes, milliCpu } from '../src/runtime/quantity.js';
import { buildSandboxConfig, type NodeContext } from '../src/runtime/sandbox_config.js';
import { computePodStatus, type ObservedContainer, type StatusInput } from '../src/status.js';

const NOW = Date.parse('2026-11-02T10:00:00Z');
const node: NodeContext = {
  nodeName: 'n1',
  nodeIP: '10.213.0.11',
  podLogsDir: '/var/log/pods',
  cgroupRoot: '/n1',
  clusterDNS: ['10.213.200.10'],
  clusterDomain: 'cluster.local',
  resolvConf: '/nonexistent',
};

function pod(spec: Partial<AgentPod['spec']> = {}): AgentPod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'u1' },
    spec: { containers: [{ name: 'a', image: 'busybox' }], ...spec },
  };
}

function ctr(over: Partial<ObservedContainer>): ObservedContainer {
  return {
    id: 'c1',
    name: 'a',
    kind: 'regular',
    restartCount: 0,
    state: 'running',
    createdAt: NOW - 5000,
    startedAt: NOW - 4000,
    finishedAt: 0,
    exitCode: 0,
    reason: '',
    message: '',
    image: 'docker.io/library/busybox:latest',
    imageRef: 'sha256:abc',
    ...over,
  };
}

function input(p: AgentPod, over: Partial<StatusInput> = {}): StatusInput {
  return {
    pod: p,
    hostIP: '10.213.0.11',
    sandbox: { id: 's1', ready: true, ip: '10.213.1.5', createdAt: NOW - 6000 },
    containers: [],
    worker: { containers: {}, startTime: NOW - 7000 },
    now: NOW,
    ...over,
  };
}

const cond = (s: ReturnType<typeof computePodStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;

test('no container yet: Pending, ContainerCreating, not ready', (t) => {
  const s = computePodStatus(input(pod(), { sandbox: undefined }));
  t.is(s.phase, 'Pending');
  t.deepEqual(s.containerStatuses![0], {
    name: 'a',
    state: { waiting: { reason: 'ContainerCreating' } },
    lastState: {},
    ready: false,
    restartCount: 0,
    image: 'busybox',
    imageID: '',
    started: false,
  });
  t.is(cond(s, 'Ready').status, 'False');
  t.is(cond(s, 'Ready').reason, 'ContainersNotReady');
  t.is(cond(s, 'Ready').message, 'containers with unready status: [a]');
  t.is(cond(s, 'PodScheduled').status, 'True');
  t.is(s.podIP, undefined);
  t.is(s.startTime, '2026-11-02T09:59:53Z');
  t.is(s.qosClass, 'BestEffort');
});

test('running: Running, ready, containerID and times in Kubernetes format', (t) => {
  const s = computePodStatus(input(pod(), { containers: [ctr({})] }));
  t.is(s.phase, 'Running');
  t.is(s.podIP, '10.213.1.5');
  t.deepEqual(s.podIPs, [{ ip: '10.213.1.5' }]);
  t.deepEqual(s.hostIPs, [{ ip: '10.213.0.11' }]);
  const c = s.containerStatuses![0]!;
  t.deepEqual(c.state, { running: { startedAt: '2026-11-02T09:59:56Z' } });
  t.is(c.containerID, 'containerd://c1');
  t.true(c.ready);
  t.true(c.started);
  t.is(c.imageID, 'sha256:abc');
  for (const type of ['Ready', 'ContainersReady', 'Initialized', 'PodReadyToStartContainers']) t.is(cond(s, type).status, 'True', type);
  t.is(cond(s, 'Ready').lastTransitionTime, '2026-11-02T10:00:00Z');
});

test('lastTransitionTime is kept while a condition does not change', (t) => {
  const first = computePodStatus(input(pod(), { containers: [ctr({})] }));
  const later = computePodStatus(input(pod(), { containers: [ctr({})], previous: first, now: NOW + 60_000 }));
  t.is(cond(later, 'Ready').lastTransitionTime, '2026-11-02T10:00:00Z');
  const unready = computePodStatus(
    input(pod({ containers: [{ name: 'a', readinessProbe: { exec: { command: ['x'] } } }] }), {
      containers: [ctr({})],
      previous: first,
      now: NOW + 60_000,
      worker: { containers: { a: { ready: false } } },
    }),
  );
  t.is(cond(unready, 'Ready').status, 'False');
  t.is(cond(unready, 'Ready').lastTransitionTime, '2026-11-02T10:01:00Z');
});

test('CrashLoopBackOff: waiting with the last termination; phase Running', (t) => {
  const dead = ctr({ state: 'exited', exitCode: 1, reason: 'Error', finishedAt: NOW - 1000, restartCount: 3 });
  const older = ctr({ id: 'c0', state: 'exited', exitCode: 1, reason: 'Error', finishedAt: NOW - 9000, restartCount: 2 });
  const s = computePodStatus(
    input(pod(), {
      containers: [older, dead],
      worker: { containers: { a: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s restarting failed container=a pod=p_ns(u1)' } } } },
    }),
  );
  const c = s.containerStatuses![0]!;
  t.is(c.state?.waiting?.reason, 'CrashLoopBackOff');
  t.is(c.lastState?.terminated?.exitCode, 1);
  t.is(c.lastState?.terminated?.containerID, 'containerd://c1');
  t.is(c.restartCount, 3);
  t.is(s.phase, 'Running');
  t.false(c.ready);
});

test('restart policies decide the phase of exited containers; OOMKilled is reported', (t) => {
  const ok = ctr({ state: 'exited', exitCode: 0, finishedAt: NOW });
  const bad = ctr({ state: 'exited', exitCode: 137, reason: 'OOMKilled', finishedAt: NOW });
  t.is(computePodStatus(input(pod({ restartPolicy: 'Never' }), { containers: [ok] })).phase, 'Succeeded');
  t.is(computePodStatus(input(pod({ restartPolicy: 'OnFailure' }), { containers: [ok] })).phase, 'Succeeded');
  t.is(computePodStatus(input(pod({ restartPolicy: 'Always' }), { containers: [ok] })).phase, 'Running');
  const failed = computePodStatus(input(pod({ restartPolicy: 'Never' }), { containers: [bad] }));
  t.is(failed.phase, 'Failed');
  t.is(failed.containerStatuses![0]!.state?.terminated?.reason, 'OOMKilled');
  t.is(computePodStatus(input(pod({ restartPolicy: 'OnFailure' }), { containers: [bad] })).phase, 'Running');
  const done = computePodStatus(input(pod({ restartPolicy: 'Never' }), { containers: [ok] }));
  t.is(cond(done, 'Ready').reason, 'PodCompleted');
  t.is(cond(done, 'PodReadyToStartContainers').status, 'False');
  t.is(done.containerStatuses![0]!.state?.terminated?.reason, 'Completed');
  // A terminal phase sticks.
  t.is(computePodStatus(input(pod({ restartPolicy: 'Never' }), { containers: [], previous: failed })).phase, 'Failed');
  // Stopped on deletion: terminal by exit codes.
  t.is(computePodStatus(input(pod(), { containers: [bad], podIsTerminal: true })).phase, 'Failed');
});

test('init containers: PodInitializing, Initialized=False with the incomplete ones; a failed init with Never fails the pod', (t) => {
  const p = pod({ initContainers: [{ name: 'i1', image: 'busybox' }, { name: 'i2', image: 'busybox' }] });
  const s = computePodStatus(input(p, { containers: [ctr({ id: 'i', name: 'i1', kind: 'init' })] }));
  t.is(s.phase, 'Pending');
  t.deepEqual(s.initContainerStatuses!.map((c) => Object.keys(c.state ?? {})[0]), ['running', 'waiting']);
  t.is(s.initContainerStatuses![1]!.state?.waiting?.reason, 'PodInitializing');
  t.is(s.containerStatuses![0]!.state?.waiting?.reason, 'PodInitializing');
  t.is(cond(s, 'Initialized').message, 'containers with incomplete status: [i1 i2]');
  const failed = computePodStatus(
    input({ ...p, spec: { ...p.spec, restartPolicy: 'Never' } }, { containers: [ctr({ id: 'i', name: 'i1', kind: 'init', state: 'exited', exitCode: 2 })] }),
  );
  t.is(failed.phase, 'Failed');
});

test('waiting errors: CreateContainerConfigError, ErrImagePull keep the pod Pending', (t) => {
  for (const reason of ['CreateContainerConfigError', 'ErrImagePull', 'ImagePullBackOff']) {
    const s = computePodStatus(input(pod(), { worker: { containers: { a: { waiting: { reason, message: 'm' } } } } }));
    t.is(s.phase, 'Pending');
    t.deepEqual(s.containerStatuses![0]!.state, { waiting: { reason, message: 'm' } });
  }
});

test('hostNetwork: podIP is the host IP; sandbox without hostname, NODE network', (t) => {
  const p = pod({ hostNetwork: true });
  t.is(computePodStatus(input(p, { containers: [ctr({})] })).podIP, '10.213.0.11');
  const sb = buildSandboxConfig(p, node, 0);
  t.is(sb.hostname, '');
  t.is(sb.linux!.security_context!.namespace_options!.network, 'NODE');
  t.is(sb.linux!.cgroup_parent, '/n1/podu1');
  t.is(sb.log_directory, '/var/log/pods/ns_p_u1');
  t.is(sb.dns_config, null, 'ClusterFirst with hostNetwork falls back to the node');
  const normal = buildSandboxConfig(pod({ containers: [{ name: 'a', ports: [{ containerPort: 80, hostPort: 8080 }] }] }), node, 1);
  t.is(normal.hostname, 'p');
  t.deepEqual(normal.dns_config, { servers: ['10.213.200.10'], searches: ['ns.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], options: ['ndots:5'] });
  t.deepEqual(normal.port_mappings, [{ protocol: 'TCP', container_port: 80, host_port: 8080, host_ip: '' }]);
  t.is(normal.labels!['io.kubernetes.pod.uid'], 'u1');
});

test('QoS classes and resources', (t) => {
  t.is(podQosClass(pod()), 'BestEffort');
  const g = pod({ containers: [{ name: 'a', resources: { limits: { cpu: '1', memory: '1Gi' } } }] });
  t.is(podQosClass(g), 'Guaranteed');
  t.is(podQosClass(pod({ containers: [{ name: 'a', resources: { requests: { cpu: '100m' } } }] })), 'Burstable');
  t.is(milliCpu('0.1'), 100);
  t.is(milliCpu('250m'), 250);
  t.is(bytes('64Mi'), 67_108_864);
  t.is(bytes('1G'), 1e9);
  t.is(bytes('1e3'), 1000);
  const r = linuxResources(g, g.spec.containers[0]!, 8 * 2 ** 30);
  t.deepEqual(r, { cpu_shares: '1024', cpu_period: '100000', cpu_quota: '100000', memory_limit_in_bytes: String(2 ** 30), oom_score_adj: '-997' });
  const cfg = buildContainerConfig(pod(), { name: 'a', securityContext: { runAsUser: 1000, readOnlyRootFilesystem: true, capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] } } }, {
    kind: 'regular',
    restartCount: 2,
    image: 'sha256:x',
    env: [],
    mounts: [],
    nodeName: 'n1',
    memoryCapacity: 1,
  });
  t.is(cfg.log_path, 'a/2.log');
  t.is(cfg.metadata!.attempt, 2);
  t.is(cfg.linux!.security_context!.run_as_user!.value, '1000');
  t.true(cfg.linux!.security_context!.readonly_rootfs);
  t.deepEqual(cfg.linux!.security_context!.capabilities, { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['ALL'] });
  t.is(cfg.annotations!['io.kubernetes.container.restartCount'], '2');
});

test('$(VAR) expansion', (t) => {
  const vars = new Map([['A', 'x']]);
  t.is(expand('$(A)-$(B)-$$(A)-$', vars), 'x-$(B)-$(A)-$');
});

test('back-off: immediate first retry, doubling to the cap, reset after a long run', (t) => {
  let now = 0;
  const clock: Clock = { now: () => now, setTimeout: () => ({ cancel: () => undefined }) };
  const b = new Backoff(clock, { baseMs: 10_000, capMs: 40_000, resetAfterMs: 80_000 });
  t.is(b.backingOffUntil('k', 0), undefined);
  b.next('k', 0);
  now = 1_000;
  t.is(b.backingOffUntil('k', 1_000), 11_000);
  now = 11_000;
  t.is(b.backingOffUntil('k', 1_000), undefined);
  b.next('k', 1_000);
  t.is(b.delayMs('k'), 20_000);
  b.next('k', 2_000);
  b.next('k', 3_000);
  t.is(b.delayMs('k'), 40_000, 'capped');
  now = 200_000;
  t.is(b.backingOffUntil('k', 199_000), undefined, 'ran longer than resetAfter');
  b.next('k', 199_000);
  t.is(b.delayMs('k'), 10_000);
});
