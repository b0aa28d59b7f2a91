/** One shared informer per resource, with a namespace index, started once for every controller that needs it. */
import { Informer, type KubeClient } from '@mkube/client';
import type { Stored } from '@mkube/api';
import type { Logger } from 'pino';
import type { KubeObject, ResourceRef } from '../types.js';

export const BY_NAMESPACE = 'namespace';

export class SharedInformers {
  /** Keyed by group/resource; the informer of a resource holds that resource's kind (ResourceRef<T>). */
  private readonly m = new Map<string, Informer<KubeObject>>();
  private started = false;

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly resyncMs = 0,
  ) {}

  for<T extends KubeObject>(ref: ResourceRef<T>): Informer<T> {
    const k = `${ref.group}/${ref.resource}`;
    let inf = this.m.get(k);
    if (!inf) {
      inf = new Informer<KubeObject>(this.client.resource<KubeObject>(ref), {
        resyncMs: this.resyncMs || undefined,
        onError: (err) => this.log.debug({ err: (err as Error).message, resource: ref.resource }, 'list/watch failed; retrying'),
      });
      if (ref.namespaced) inf.addIndexer(BY_NAMESPACE, (o) => [o.metadata.namespace ?? '']);
      this.m.set(k, inf);
      if (this.started) inf.start();
    }
    // The one place the kind is asserted: every informer in the map lists its resource's objects, which are Ts.
    return inf as Informer<T>;
  }

  start(): void {
    this.started = true;
    for (const inf of this.m.values()) inf.start();
  }

  async waitForSync(timeoutMs = 60_000): Promise<void> {
    await Promise.all([...this.m.values()].map((i) => i.waitForSync(timeoutMs)));
  }

  stop(): void {
    for (const inf of this.m.values()) inf.stop();
  }
}

/** The namespace's objects of an informer with the namespace index. */
export function inNamespace<T extends KubeObject>(inf: Informer<T>, ns: string): Stored<T>[] {
  return inf.byIndex(BY_NAMESPACE, ns);
}
