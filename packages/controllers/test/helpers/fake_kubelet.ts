// FakeKubelet: a test stand-in for the node agent in controller tests and the
// Job benchmark. It watches pods through an informer and plays a kubelet that
// runs every container to an exit code the test chooses: Running first, then
// Succeeded (exit 0) or Failed (exit code != 0) with terminated container
// statuses; a pod that gets a deletionTimestamp is finished (Failed, 137 unless
// already terminal) and deleted with grace 0, as a kubelet does. No containers run.
import { Informer, Resources, type KubeClient } from '@mkube/client';
import type { Pod, Stored } from '@mkube/api';

export interface FakeKubeletOptions {
  /** The exit code of a pod's containers (0 → Succeeded); undefined keeps the pod Running. */
  exitCode(pod: Stored<Pod>): number | undefined;
  /** Called with each pod when it is first seen (tests assert on what is running). */
  onPod?(pod: Stored<Pod>): void;
}

export class FakeKubelet {
  private readonly informer: Informer<Pod>;
  private readonly done = new Set<string>();
  private readonly deleting = new Set<string>();
  private stopped = false;
  readonly errors: unknown[] = [];

  constructor(
    private readonly client: KubeClient,
    private readonly o: FakeKubeletOptions,
    namespace?: string,
  ) {
    this.informer = new Informer<Pod>(client.resource<Pod>(Resources.pods), namespace ? { namespace } : {});
    const handle = (pod: Stored<Pod>) => void this.sync(pod).catch((err: unknown) => this.errors.push(err));
    this.informer.addEventHandler({ add: handle, update: (_o, p) => handle(p) });
  }

  start(): void {
    this.informer.start();
  }

  stop(): void {
    this.stopped = true;
    this.informer.stop();
  }

  private async sync(pod: Stored<Pod>): Promise<void> {
    if (this.stopped) return;
    const uid = pod.metadata.uid;
    const pods = this.client.resource<Pod>(Resources.pods);
    const terminal = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
    if (pod.metadata.deletionTimestamp) {
      if (this.deleting.has(uid)) return;
      this.deleting.add(uid);
      if (!terminal) await this.finish(pod, 137);
      await pods.delete(pod.metadata.namespace, pod.metadata.name, { gracePeriodSeconds: 0 }).catch(() => undefined);
      return;
    }
    if (terminal || this.done.has(uid)) return;
    this.done.add(uid);
    this.o.onPod?.(pod);
    const code = this.o.exitCode(pod);
    if (code === undefined) return;
    await this.finish(pod, code);
  }

  private async finish(pod: Stored<Pod>, code: number): Promise<void> {
    const pods = this.client.resource<Pod>(Resources.pods);
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    for (let attempt = 0; attempt < 5; attempt++) {
      let cur: Stored<Pod>;
      try {
        cur = await pods.get(pod.metadata.namespace, pod.metadata.name);
      } catch {
        return;
      }
      cur.status = {
        ...(cur.status ?? {}),
        phase: code === 0 ? 'Succeeded' : 'Failed',
        conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: now, reason: 'PodCompleted' }],
        containerStatuses: (cur.spec?.containers ?? []).map((c) => ({
          name: c.name,
          image: c.image ?? '',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', startedAt: now, finishedAt: now } },
        })),
      };
      try {
        await pods.updateStatus(cur);
        return;
      } catch {
        // a conflict with the controller's own update: read again
      }
    }
  }
}
