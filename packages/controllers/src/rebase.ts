/**
 * One plan may write the same object twice (a deployment's revision
 * annotation, then its status; a node's taints, then its conditions). The
 * second write was computed from the same read as the first, so it carries
 * the old resourceVersion; since the only change in between was our own, it
 * is rebased on the resourceVersion the first write returned.
 */
import type { Action } from './types.js';

export class OwnWrites {
  private readonly rv = new Map<string, string>();

  private key(a: Action): string | undefined {
    if (a.verb === 'delete' || a.verb === 'create') return undefined;
    return `${a.ref.group}/${a.ref.resource}/${a.object.metadata.namespace ?? ''}/${a.object.metadata.name}`;
  }

  rebase(a: Action): Action {
    const k = this.key(a);
    const rv = k && this.rv.get(k);
    if (!rv || a.verb === 'delete' || a.verb === 'create') return a;
    return { ...a, object: { ...a.object, metadata: { ...a.object.metadata, resourceVersion: rv } } };
  }

  record(a: Action, resourceVersion: string | undefined): void {
    const k = this.key(a);
    if (k && resourceVersion) this.rv.set(k, resourceVersion);
  }
}
