// Test harness for the pod lifecycle engine: a host-node lab (own containerd),
// an InMemoryApiPort (test double of the API server) and an engine over both.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryApiPort } from '../src/api_port.js';
import { CriClient } from '../src/cri/cri_client.js';
import type { Container, ContainerStatus, AgentPod, PodSpec, AgentPodStatus } from '../src/api_types.js';
import type { Logger } from '../src/logger.js';
import { PodLifecycleEngine, type PodLifecycleEngineOptions } from '../src/sync.js';
import { labDown, labUp, waitFor, type LabNode } from './lab_helper.js';

export interface Harness {
  node: LabNode;
  cri: CriClient;
  api: InMemoryApiPort;
  engine: PodLifecycleEngine;
  rootDir: string;
  newEngine(extra?: Partial<PodLifecycleEngineOptions>): PodLifecycleEngine;
  close(): Promise<void>;
}

export async function startHarness(lab: string, subnet: number, extra: Partial<PodLifecycleEngineOptions> = {}): Promise<Harness> {
  const summary = await labUp(['--host-node', '--name', lab, '--subnet', String(subnet)]);
  const node = summary.workers[0]!;
  const cri = await CriClient.connect(node.criAddress);
  await cri.waitReady(20_000);
  const api = new InMemoryApiPort();
  const rootDir = mkdtempSync(join(tmpdir(), `${lab}-agent-`));
  const engines: PodLifecycleEngine[] = [];
  const newEngine = (more: Partial<PodLifecycleEngineOptions> = {}): PodLifecycleEngine => {
    const e = new PodLifecycleEngine({
      nodeName: node.name,
      nodeIP: node.nodeIP,
      cri,
      api,
      rootDir,
      podLogsDir: node.logDir,
      cgroupRoot: node.cgroupParent,
      relistIntervalMs: 300,
      resyncIntervalMs: 2_000,
      crashBackoff: { baseMs: 1_000, capMs: 4_000, resetAfterMs: 60_000 },
      imagePullBackoff: { baseMs: 1_000, capMs: 4_000, resetAfterMs: 60_000 },
      ...(process.env.MKUBE_DEBUG ? { logger: debugLogger({}) } : {}),
      ...extra,
      ...more,
    });
    engines.push(e);
    return e;
  };
  const engine = newEngine();
  await engine.start();
  return {
    node,
    cri,
    api,
    engine,
    rootDir,
    newEngine,
    async close() {
      for (const e of engines) await e.stop().catch(() => undefined);
      cri.close();
      await labDown(lab);
      rmSync(rootDir, { recursive: true, force: true });
    },
  };
}

function debugLogger(bindings: object): Logger {
  const out = (level: string) => (obj: object, msg?: string) =>
    console.error(JSON.stringify({ t: Date.now() % 100_000, level, ...bindings, ...obj, msg }));
  return { debug: out('debug'), info: out('info'), warn: out('warn'), error: out('error'), child: (b) => debugLogger({ ...bindings, ...b }) };
}

export function bb(name: string, script: string, extra: Partial<Container> = {}): Container {
  return { name, image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script], ...extra };
}

/** A pod bound to the harness node, with a fresh uid. */
export function makePod(h: Harness, name: string, spec: Partial<PodSpec> & Pick<PodSpec, 'containers'>, meta: Partial<AgentPod['metadata']> = {}): AgentPod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: randomUUID(), labels: { app: name }, ...meta },
    spec: { nodeName: h.node.name, terminationGracePeriodSeconds: 5, ...spec },
    status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] },
  };
}

/** Waits until the latest status written for uid satisfies pred. */
export async function waitStatus(
  h: Harness,
  uid: string,
  what: string,
  pred: (s: AgentPodStatus) => boolean,
  timeoutMs = 20_000,
): Promise<AgentPodStatus> {
  return waitFor(`${what} (last: ${JSON.stringify(h.api.statusHistory(uid).at(-1) ?? null)})`, timeoutMs, () => {
    const s = h.api.statusHistory(uid).at(-1);
    return s && pred(s) ? s : undefined;
  });
}

export function cs(s: AgentPodStatus, name: string): ContainerStatus | undefined {
  return [...(s.containerStatuses ?? []), ...(s.initContainerStatuses ?? [])].find((c) => c.name === name);
}

export function running(name: string): (s: AgentPodStatus) => boolean {
  return (s) => cs(s, name)?.state?.running !== undefined;
}

/** The CRI id of a container from a status. */
export function cid(s: AgentPodStatus, name: string): string {
  return (cs(s, name)?.containerID ?? '').replace('containerd://', '');
}

export async function exec(h: Harness, id: string, cmd: string[]): Promise<string> {
  const r = await h.cri.execSync(id, cmd, 10);
  if (r.exit_code !== 0) throw new Error(`${cmd.join(' ')} exited ${r.exit_code}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}
