// Reads what the runtime runs for one pod (kubelet's GetPodStatus): its
// sandboxes (newest first, with the IP of the newest) and every container
// instance with its state, exit code and restart count. Read-only.
import { nsToMs } from '../clock.js';
import type { CriRuntime } from '../cri/cri_runtime.js';
import { CriError } from '../cri/cri_error.js';
import type { CriContainer } from '../cri/types.js';
import { CONTAINER_KIND, CONTAINER_NAME, POD_UID, RESTART_COUNT } from '../runtime/labels.js';
import type { ObservedContainer } from '../status.js';
import type { PodRuntimeStatus, RuntimeSandbox } from './pod_actions.js';

function mapState(s: string): ObservedContainer['state'] {
  switch (s) {
    case 'CONTAINER_RUNNING':
      return 'running';
    case 'CONTAINER_EXITED':
      return 'exited';
    case 'CONTAINER_CREATED':
      return 'created';
    default:
      return 'unknown';
  }
}

/**
 * What the runtime runs for a pod in one string (ids and CRI states of its
 * sandboxes and containers): equal prints mean nothing changed. The PLEG
 * relist (sync.ts) builds the same from its lists.
 */
export function runtimePrint(sandboxes: { id: string; state: string }[], containers: { id: string; state: string }[]): string {
  return [...sandboxes.map((s) => `s:${s.id}:${s.state}`), ...containers.map((c) => `c:${c.id}:${c.state}`)].sort().join(',');
}

export class RuntimeObserver {
  /** Sandbox IPs never change: asked once per sandbox. */
  private readonly ips = new Map<string, string>();
  /** runtimePrint of the last observation (the lists as CRI returned them). */
  lastPrint?: string;

  constructor(
    private readonly cri: CriRuntime,
    private readonly uid: string,
  ) {}

  /** The IP of a sandbox seen before (undefined: not known yet). */
  ipOf(sandboxId: string): string | undefined {
    return this.ips.get(sandboxId);
  }

  async observe(): Promise<PodRuntimeStatus> {
    const [sandboxes, containers] = await Promise.all([
      this.cri.listPodSandbox({ label_selector: { [POD_UID]: this.uid } }),
      this.cri.listContainers({ label_selector: { [POD_UID]: this.uid } }),
    ]);
    this.lastPrint = runtimePrint(sandboxes, containers);
    const sbs: RuntimeSandbox[] = sandboxes
      .map((s) => ({ id: s.id, ready: s.state === 'SANDBOX_READY', createdAt: nsToMs(s.created_at), attempt: s.metadata?.attempt ?? 0, ip: this.ips.get(s.id) ?? '' }))
      .sort((a, b) => b.createdAt - a.createdAt || b.attempt - a.attempt);
    const observed = (await Promise.all(containers.map((c) => this.observeContainer(c)))).filter((c): c is ObservedContainer => c !== undefined);
    const newest = sbs[0];
    if (newest) {
      // A listed state may lag: confirm a not-ready newest sandbox, and learn the IP of a ready one once.
      if (!newest.ready || !this.ips.has(newest.id)) {
        const st = await this.sandboxStatus(newest.id);
        if (st) {
          newest.ready = st.ready;
          if (st.ready) {
            newest.ip = st.ip;
            this.ips.set(newest.id, st.ip);
          }
        }
      }
    }
    return { sandboxes: sbs, containers: observed };
  }

  /** A sandbox's readiness and IP from its own status; undefined when it is gone. */
  async sandboxStatus(id: string): Promise<{ ready: boolean; ip: string; createdAt: number; attempt: number } | undefined> {
    try {
      const st = (await this.cri.podSandboxStatus(id)).status;
      if (!st) return undefined;
      return { ready: st.state === 'SANDBOX_READY', ip: st.network?.ip ?? '', createdAt: nsToMs(st.created_at), attempt: st.metadata?.attempt ?? 0 };
    } catch (err) {
      if (err instanceof CriError && err.isNotFound) return undefined;
      throw err;
    }
  }

  /** The observation of a pod whose only runtime object is the sandbox just created (one call instead of two lists and a status). */
  async observeNewSandbox(id: string): Promise<PodRuntimeStatus | undefined> {
    const st = await this.sandboxStatus(id);
    if (!st?.ready) return undefined;
    this.ips.set(id, st.ip);
    return { sandboxes: [{ id, ready: true, ip: st.ip, createdAt: st.createdAt, attempt: st.attempt }], containers: [] };
  }

  forget(sandboxId: string): void {
    this.lastPrint = undefined;
    this.ips.delete(sandboxId);
  }

  private async observeContainer(c: CriContainer): Promise<ObservedContainer | undefined> {
    let st;
    try {
      st = (await this.cri.containerStatus(c.id)).status;
    } catch (err) {
      if (err instanceof CriError && err.isNotFound) return undefined; // removed between the list and now
      throw err;
    }
    if (!st) return undefined;
    return {
      id: c.id,
      name: c.labels[CONTAINER_NAME] ?? c.metadata?.name ?? '',
      kind: c.annotations[CONTAINER_KIND] === 'init' ? 'init' : 'regular',
      restartCount: Number(c.annotations[RESTART_COUNT] ?? c.metadata?.attempt ?? 0),
      state: mapState(st.state),
      createdAt: nsToMs(st.created_at),
      startedAt: nsToMs(st.started_at),
      finishedAt: nsToMs(st.finished_at),
      exitCode: st.exit_code,
      reason: st.reason,
      message: st.message,
      image: st.image?.image ?? c.image?.image ?? '',
      imageRef: st.image_ref || c.image_ref,
    };
  }
}
