/** One shared informer per resource, with a namespace index, started once for every controller that needs it. */
import { Informer, type KubeClient, type KubeObject } from '@mkube/client';
import type { Logger } from 'pino';
import type { KObject, ResourceRef } from '../types.js';

export const BY_NAMESPACE = 'namespace';

export class SharedInformers {
  private readonly m = new Map<string, Informer<KubeObject>>();
  private started = false;

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly resyncMs = 0,
  ) {}

  for(ref: ResourceRef): Informer<KObject & KubeObject> {
    const k = `${ref.group}/${ref.resource}`;
    let inf = this.m.get(k);
    if (!inf) {
      inf = new Informer<KubeObject>(this.client.resource(ref), {
        resyncMs: this.resyncMs || undefined,
        onError: (err) => this.log.debug({ err: (err as Error).message, resource: ref.resource }, 'list/watch failed; retrying'),
      });
      if (ref.namespaced) inf.addIndexer(BY_NAMESPACE, (o) => [o.metadata.namespace ?? '']);
      this.m.set(k, inf);
      if (this.started) inf.start();
    }
    return inf as unknown as Informer<KObject & KubeObject>;
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
export function inNamespace<T extends KubeObject>(inf: Informer<T>, ns: string): T[] {
  return inf.byIndex(BY_NAMESPACE, ns);
}
