/**
 * The chaos suite's faults. Each one picks its target (the store leader's host, the first API
 * server, the controller-manager / scheduler lease holder, a worker), injects the fault, watches
 * for the cluster to notice (a new leader or holder) and for the first acknowledged write called
 * after it, holds the fault for a while, heals it, and waits for the cluster to be healthy again.
 */
import type { ChaosCluster, ComponentKind, FaultTime } from './cluster.js';
import type { ApiWorkload } from './api_workload.js';
import type { HttpProbe } from './http_probe.js';
import type { FaultOutcome } from './report.js';

export const FAULT_KINDS = ['store-leader', 'apiserver', 'controller-leader', 'scheduler-leader', 'partition', 'pause', 'worker'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export function parseFaults(list: string): FaultKind[] {
  const out: FaultKind[] = [];
  for (const f of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(FAULT_KINDS as readonly string[]).includes(f)) throw new Error(`--faults: unknown fault "${f}" (known: ${FAULT_KINDS.join(', ')})`);
    out.push(f as FaultKind);
  }
  if (out.length === 0) throw new Error('--faults: no fault given');
  return out;
}

export interface FaultContext {
  cluster: ChaosCluster;
  workload: ApiWorkload;
  probe: HttpProbe | undefined;
  now: () => number;
  /** How long a fault is held before it is healed. */
  holdMs: number;
  /** How long the cluster may take to notice a fault (a new leader or lease holder; lease expiry is 15 s). */
  detectTimeoutMs: number;
  /** How long the cluster may take to be healthy again after a heal. */
  healTimeoutMs: number;
  log: (line: string) => void;
}

const CONTROL_PLANE: ComponentKind[] = ['store', 'apiserver', 'scheduler', 'controller-manager', 'node-agent', 'other'];
const POLL_MS = 50;

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it gives a value or `timeoutMs` passes; returns the time it took or undefined. */
async function timeUntil(ctx: FaultContext, since: number, timeoutMs: number, probe: () => Promise<boolean>): Promise<number | undefined> {
  while (ctx.now() - since < timeoutMs) {
    if (await probe().catch(() => false)) return ctx.now() - since;
    await delay(POLL_MS);
  }
  return undefined;
}

/** Fault → the first acknowledged write called at or after it. */
async function recovery(ctx: FaultContext, at: number, timeoutMs: number): Promise<number | undefined> {
  const first = () => ctx.workload.acked.filter((w) => w.call >= at).reduce<number | undefined>((m, w) => (m === undefined || w.ret < m ? w.ret : m), undefined);
  const took = await timeUntil(ctx, at, timeoutMs, async () => first() !== undefined);
  if (took === undefined) return undefined;
  return first()! - at;
}

function mustHave<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`chaos: ${what}`);
  return v;
}

/**
 * Measures a fault injected at `at`: detection (until `detect` holds, for up to detectTimeoutMs)
 * and recovery (the next acknowledged write called after it); holds the fault for holdMs and
 * until detection, heals it, waits for the cluster to be healthy again.
 */
async function held(ctx: FaultContext, kind: FaultKind, target: string, t: FaultTime, detect: (() => Promise<boolean>) | undefined, heal: () => Promise<void>): Promise<FaultOutcome> {
  const at = t.at;
  const recovered = recovery(ctx, at, ctx.holdMs + ctx.detectTimeoutMs + ctx.healTimeoutMs);
  const detectionMs = detect ? await timeUntil(ctx, at, ctx.detectTimeoutMs, detect) : undefined;
  const remaining = ctx.holdMs - (ctx.now() - at);
  if (remaining > 0) await delay(remaining);
  const end = ctx.now();
  await heal();
  await ctx.cluster.waitHealthy(ctx.healTimeoutMs);
  const healthyMs = ctx.now() - at;
  const recoveryMs = await recovered;
  const served = ctx.probe ? ctx.probe.served(at, end) : { ok: 0, total: 0 };
  const when = `fault at +${Math.round(at - t.command.start)} ms of the injecting command (took ${Math.round(t.command.end - t.command.start)} ms)${t.uncertaintyMs > 0 ? ` ± ${t.uncertaintyMs.toFixed(1)} ms` : ''}`;
  ctx.log(`${kind} on ${target}: ${when}; detected ${detect === undefined ? '-' : detectionMs === undefined ? `NOT within ${ctx.detectTimeoutMs} ms` : `${Math.round(detectionMs)} ms`}, ` +
    `next acknowledged write ${recoveryMs === undefined ? 'NONE' : `${Math.round(recoveryMs)} ms`}, held ${Math.round(end - at)} ms, healthy after ${Math.round(healthyMs)} ms, served ${served.ok}/${served.total}`);
  const startedAt = new Date(Date.now() - (ctx.now() - at)).toISOString();
  const faultTime = { uncertaintyMs: t.uncertaintyMs, commandStartMs: t.command.start - at, commandEndMs: t.command.end - at, wallMs: performance.timeOrigin + at, ...(t.hostWallMs !== undefined ? { hostWallMs: t.hostWallMs } : {}) };
  return { kind, target, at, startedAt, faultTime, heldMs: end - at, healthyMs, detectionMs, recoveryMs, served, controlPlane: kind !== 'worker', writes: { acked: 0, unknown: 0, lost: 0 } };
}

/** The time a signal took effect (none running: the call's start, as nothing happened). */
async function signalled(ctx: FaultContext, host: string, kinds: ComponentKind[], signal: NodeJS.Signals): Promise<FaultTime> {
  const start = ctx.now();
  const r = await ctx.cluster.signal(host, kinds, signal);
  return r.at ?? { at: start, uncertaintyMs: 0, command: { start, end: ctx.now() } };
}

/** Injects one fault of this kind, holds it, heals it; resolves once the cluster is healthy again. */
export async function runFault(ctx: FaultContext, kind: FaultKind): Promise<FaultOutcome> {
  const c = ctx.cluster;
  switch (kind) {
    case 'store-leader': {
      const host = mustHave(await c.storeLeader(), 'no store leader to kill');
      const at = await signalled(ctx, host, CONTROL_PLANE, 'SIGKILL');
      return held(ctx, kind, host, at, async () => { const l = await c.storeLeader(); return l !== undefined && l !== host; }, () => c.restart(host, CONTROL_PLANE));
    }
    case 'apiserver': {
      // The API server most workload clients use now: they have to fail over.
      const preferred = new URL(ctx.workload.busiestServer()).hostname;
      const host = mustHave(c.hosts.find((h) => h.role === 'control-plane' && h.address === preferred)?.name ?? c.hosts.find((h) => h.role === 'control-plane')?.name, 'no control plane');
      const before = ctx.workload.failovers();
      const at = await signalled(ctx, host, ['apiserver'], 'SIGKILL');
      // Detected: a workload client moved to another API server.
      return held(ctx, kind, host, at, async () => ctx.workload.failovers() > before, () => c.restart(host, ['apiserver']));
    }
    case 'controller-leader':
    case 'scheduler-leader': {
      const lease = kind === 'controller-leader' ? 'kube-controller-manager' : 'kube-scheduler';
      const component: ComponentKind = kind === 'controller-leader' ? 'controller-manager' : 'scheduler';
      const host = mustHave(await c.leaseHolder(lease), `no holder of the ${lease} lease`);
      const at = await signalled(ctx, host, [component], 'SIGKILL');
      return held(ctx, kind, host, at, async () => { const h = await c.leaseHolder(lease); return h !== undefined && h !== host; }, () => c.restart(host, [component]));
    }
    case 'partition': {
      const host = mustHave(await c.storeLeader(), 'no store leader to isolate');
      const at = await c.isolate(host);
      return held(ctx, kind, host, at, async () => { const l = await c.storeLeader(); return l !== undefined && l !== host; }, () => c.rejoin(host));
    }
    case 'pause': {
      const host = mustHave(await c.storeLeader(), 'no store leader to pause');
      const at = await signalled(ctx, host, ['store'], 'SIGSTOP');
      return held(ctx, kind, host, at, async () => { const l = await c.storeLeader(); return l !== undefined && l !== host; }, async () => { await c.signal(host, ['store'], 'SIGCONT'); });
    }
    case 'worker': {
      const host = mustHave(c.hosts.find((h) => h.role === 'worker')?.name, 'no worker host');
      const at = await c.isolate(host);
      await c.signal(host, ['node-agent'], 'SIGKILL');
      // No detection: the node controller marks the Node NotReady only after its 40 s grace period.
      return held(ctx, kind, host, at, undefined, async () => {
        await c.rejoin(host);
        await c.restart(host, ['node-agent']);
      });
    }
  }
}
