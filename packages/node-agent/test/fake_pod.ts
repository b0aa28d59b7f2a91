// Test helpers over the FakeRuntime: a pod's sandbox and container instances
// placed in the fake exactly as the agent labels them (the real sandbox and
// container config builders), a manual clock, and a pod builder.
import type { Clock, TimerHandle } from '../src/clock.js';
import { FakeRuntime } from '../src/cri/fake_runtime.js';
import type { Container, AgentPod, PodSpec } from '../src/api_types.js';
import { buildContainerConfig } from '../src/runtime/container_config.js';
import { buildSandboxConfig, type NodeContext } from '../src/runtime/sandbox_config.js';

export const NODE: NodeContext = {
  nodeName: 'fake-node',
  nodeIP: '10.213.0.11',
  podLogsDir: '/nonexistent/pods',
  cgroupRoot: '/fake-node',
  clusterDNS: [],
  clusterDomain: 'cluster.local',
  resolvConf: '/nonexistent',
};

/** A clock that moves only when told; timers fire on advance(). */
export class ManualClock implements Clock {
  private t = Date.parse('2026-12-01T10:00:00Z');
  private timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { at: this.t + Math.max(0, ms), fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((x) => !x.cancelled && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.t = next.at;
      next.cancelled = true;
      next.fn();
    }
    this.t = end;
    this.timers = this.timers.filter((x) => !x.cancelled);
  }
}

let uidSeq = 0;

export function fakePod(spec: Partial<PodSpec> = {}, name = 'p'): AgentPod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${++uidSeq}` },
    spec: { nodeName: NODE.nodeName, containers: [{ name: 'main', image: 'busybox' }], ...spec },
  };
}

export function ctr(name: string, extra: Partial<Container> = {}): Container {
  return { name, image: 'busybox', ...extra };
}

/** Runs a sandbox for the pod in the fake (attempt n); its id. */
export async function runSandbox(fake: FakeRuntime, pod: AgentPod, attempt = 0): Promise<string> {
  return fake.runPodSandbox(buildSandboxConfig(pod, NODE, attempt));
}

/** Creates (and unless created-only, starts) an instance of a container, labelled as the agent does; its id. */
export async function runContainer(
  fake: FakeRuntime,
  pod: AgentPod,
  sandboxId: string,
  name: string,
  opts: { kind?: 'init' | 'regular'; restartCount?: number; createdOnly?: boolean; exit?: number } = {},
): Promise<string> {
  const kind = opts.kind ?? 'regular';
  const spec = (kind === 'init' ? pod.spec.initContainers ?? [] : pod.spec.containers).find((c) => c.name === name);
  if (!spec) throw new Error(`no ${kind} container ${name} in the pod`);
  const cfg = buildContainerConfig(pod, spec, {
    kind,
    restartCount: opts.restartCount ?? 0,
    image: 'busybox',
    env: [],
    mounts: [],
    nodeName: NODE.nodeName,
    memoryCapacity: 1 << 30,
  });
  const id = await fake.createContainer(sandboxId, cfg, buildSandboxConfig(pod, NODE, 0));
  if (!opts.createdOnly) await fake.startContainer(id);
  if (opts.exit !== undefined) fake.exitContainer(id, opts.exit);
  return id;
}
