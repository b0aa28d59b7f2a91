// The Node object of this agent: machine facts (capacity, nodeInfo), the
// labels and taints of the flags, and the conditions. Probing the machine is
// separate from building the object so the builders stay pure.
import type { NodeCondition, Taint } from '@mkube/api';
import { FlagError } from '@mkube/component-base';
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { arch, cpus, hostname, release } from 'node:os';

export const KUBELET_VERSION = 'v1.31.0-mkube';
export const DEFAULT_MAX_PODS = 110;

/** The Node's taints are @mkube/api's Taint (effect NoSchedule, PreferNoSchedule or NoExecute). */
export type { Taint };

/** The Node's conditions are @mkube/api's NodeCondition. */
export type { NodeCondition };

export interface MachineFacts {
  cpuCores: number;
  memoryBytes: number;
  /** Size of the filesystem of the root dir. */
  ephemeralBytes: number;
  osImage: string;
  kernelVersion: string;
  architecture: string;
  hostname: string;
  machineID: string;
  bootID: string;
}

export interface PressureFacts {
  memAvailableBytes: number;
  diskAvailableBytes: number;
  diskTotalBytes: number;
  pids: number;
  pidMax: number;
}

export interface Reserved {
  cpuMilli: number;
  memoryBytes: number;
  ephemeralBytes: number;
}

/** A flag value that does not parse: @mkube/component-base's FlagError (code INVALID_FLAG). */
export { FlagError } from '@mkube/component-base';

/** "k=v,k2=v2" */
export function parseLabels(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (s ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new FlagError(`bad label "${part}" (want key=value)`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

/** "k=v:Effect,k:Effect" */
export function parseTaints(s: string | undefined): Taint[] {
  const out: Taint[] = [];
  for (const part of (s ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(part);
    if (!m) throw new FlagError(`bad taint "${part}" (want key[=value]:NoSchedule|PreferNoSchedule|NoExecute)`);
    out.push({ key: m[1]!, ...(m[2] !== undefined && m[2] !== '' ? { value: m[2] } : {}), effect: m[3]! });
  }
  return out;
}

/** "cpu=100m,memory=256Mi,ephemeral-storage=1Gi" */
export function parseReserved(s: string | undefined): Reserved {
  const r: Reserved = { cpuMilli: 0, memoryBytes: 0, ephemeralBytes: 0 };
  for (const [k, v] of Object.entries(parseLabels(s))) {
    if (k === 'cpu') r.cpuMilli = parseCpuMilli(v);
    else if (k === 'memory') r.memoryBytes = parseBytes(v);
    else if (k === 'ephemeral-storage') r.ephemeralBytes = parseBytes(v);
    else throw new FlagError(`unknown reserved resource "${k}"`);
  }
  return r;
}

export function parseCpuMilli(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(v);
  if (!m) throw new FlagError(`bad cpu quantity "${v}"`);
  return m[2] ? Math.round(Number(m[1])) : Math.round(Number(m[1]) * 1000);
}

const SUFFIX: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

export function parseBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(v);
  if (!m) throw new FlagError(`bad quantity "${v}"`);
  return Math.floor(Number(m[1]) * SUFFIX[m[2] ?? '']!);
}

function cpuQuantity(milli: number): string {
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

function kiQuantity(bytes: number): string {
  return `${Math.max(0, Math.floor(bytes / 1024))}Ki`;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function meminfo(): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of readOr('/proc/meminfo', '').split('\n')) {
    const x = /^(\w+):\s+(\d+)\s*kB/.exec(line);
    if (x) m.set(x[1]!, Number(x[2]) * 1024);
  }
  return m;
}

function goArch(a: string): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[a] ?? a;
}

export async function probeMachine(rootDir: string): Promise<MachineFacts> {
  const fs = await statfs(rootDir);
  const osRelease = readOr('/etc/os-release', '');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? 'Linux';
  return {
    cpuCores: cpus().length,
    memoryBytes: meminfo().get('MemTotal') ?? 0,
    ephemeralBytes: Number(fs.blocks) * Number(fs.bsize),
    osImage: pretty,
    kernelVersion: release(),
    architecture: goArch(arch()),
    hostname: hostname(),
    machineID: readOr('/etc/machine-id', '').trim(),
    bootID: readOr('/proc/sys/kernel/random/boot_id', '').trim(),
  };
}

export async function probePressure(rootDir: string): Promise<PressureFacts> {
  const fs = await statfs(rootDir);
  let pids = 0;
  try {
    const { readdirSync } = await import('node:fs');
    pids = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).length;
  } catch {
    /* ignore */
  }
  return {
    memAvailableBytes: meminfo().get('MemAvailable') ?? 0,
    diskAvailableBytes: Number(fs.bavail) * Number(fs.bsize),
    diskTotalBytes: Number(fs.blocks) * Number(fs.bsize),
    pids,
    pidMax: Number(readOr('/proc/sys/kernel/pid_max', '32768').trim()) || 32768,
  };
}

/** Eviction-style thresholds (kubelet's hard defaults: memory.available<100Mi, nodefs.available<10%). */
export const THRESHOLDS = { memoryAvailableBytes: 100 * 1024 * 1024, diskAvailableFraction: 0.1, pidAvailableFraction: 0.05 };

export interface ConditionInput {
  pressure: PressureFacts;
  runtimeReady: boolean;
  runtimeMessage?: string;
}

/** The four conditions, without times (see `mergeConditions`). */
export function computeConditions(i: ConditionInput): NodeCondition[] {
  const p = i.pressure;
  const mem = p.memAvailableBytes < THRESHOLDS.memoryAvailableBytes;
  const disk = p.diskTotalBytes > 0 && p.diskAvailableBytes / p.diskTotalBytes < THRESHOLDS.diskAvailableFraction;
  const pid = (p.pidMax - p.pids) / p.pidMax < THRESHOLDS.pidAvailableFraction;
  return [
    mem
      ? { type: 'MemoryPressure', status: 'True', reason: 'KubeletHasInsufficientMemory', message: 'kubelet has insufficient memory available' }
      : { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
    disk
      ? { type: 'DiskPressure', status: 'True', reason: 'KubeletHasDiskPressure', message: 'kubelet has disk pressure' }
      : { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
    pid
      ? { type: 'PIDPressure', status: 'True', reason: 'KubeletHasInsufficientPID', message: 'kubelet has insufficient PID available' }
      : { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
    i.runtimeReady
      ? { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }
      : { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: i.runtimeMessage ?? 'container runtime is not ready' },
  ];
}

/** Carries lastTransitionTime over from `prev` when the status did not change; stamps the heartbeat. */
export function mergeConditions(prev: NodeCondition[] | undefined, next: NodeCondition[], now: string): NodeCondition[] {
  return next.map((c) => {
    const old = prev?.find((p) => p.type === c.type);
    return { ...c, lastHeartbeatTime: now, lastTransitionTime: old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now };
  });
}

/** True when conditions differ in anything but the times. */
export function conditionsChanged(prev: NodeCondition[] | undefined, next: NodeCondition[]): boolean {
  const strip = (cs: NodeCondition[] | undefined) => JSON.stringify((cs ?? []).map((c) => [c.type, c.status, c.reason ?? '', c.message ?? '']).sort());
  return strip(prev) !== strip(next);
}

export interface NodeIdentity {
  nodeName: string;
  nodeIP: string;
  port: number;
  role?: string;
  labels: Record<string, string>;
  taints: Taint[];
  reserved: Reserved;
  maxPods?: number;
  runtimeVersion: string;
}

export function nodeLabels(id: NodeIdentity, facts: MachineFacts): Record<string, string> {
  return {
    'kubernetes.io/hostname': id.nodeName,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': facts.architecture,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': facts.architecture,
    ...(id.role ? { [`node-role.kubernetes.io/${id.role}`]: '' } : {}),
    ...id.labels,
  };
}

/** status fields the agent owns (all but conditions). */
export function nodeStatusFields(id: NodeIdentity, facts: MachineFacts): Record<string, unknown> {
  const capacity = {
    cpu: cpuQuantity(facts.cpuCores * 1000),
    memory: kiQuantity(facts.memoryBytes),
    pods: String(id.maxPods ?? DEFAULT_MAX_PODS),
    'ephemeral-storage': kiQuantity(facts.ephemeralBytes),
  };
  const allocatable = {
    cpu: cpuQuantity(Math.max(0, facts.cpuCores * 1000 - id.reserved.cpuMilli)),
    memory: kiQuantity(facts.memoryBytes - id.reserved.memoryBytes),
    pods: capacity.pods,
    'ephemeral-storage': kiQuantity(facts.ephemeralBytes - id.reserved.ephemeralBytes),
  };
  return {
    capacity,
    allocatable,
    addresses: [
      { type: 'InternalIP', address: id.nodeIP },
      { type: 'Hostname', address: id.nodeName },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: id.port } },
    nodeInfo: {
      machineID: facts.machineID,
      systemUUID: facts.machineID,
      bootID: facts.bootID,
      kernelVersion: facts.kernelVersion,
      osImage: facts.osImage,
      containerRuntimeVersion: id.runtimeVersion,
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: KUBELET_VERSION,
      operatingSystem: 'linux',
      architecture: facts.architecture,
    },
  };
}
