// An in-memory cluster for the pure reconcile tests: applies the actions the
// reconcilers return (creates get a uid, creationTimestamp and a name; updates
// bump resourceVersion and check it) so controllers can be run step by step.
import type { Action, KObject } from '../../src/types.js';

export class World {
  objects = new Map<string, KObject>();
  private seq = 0;
  constructor(public now = Date.UTC(2024, 0, 1)) {}

  key(resource: string, ns: string | undefined, name: string): string {
    return `${resource}/${ns ?? ''}/${name}`;
  }

  list(resource: string, ns?: string): KObject[] {
    return [...this.objects.entries()].filter(([k, o]) => k.startsWith(`${resource}/`) && (ns === undefined || o.metadata.namespace === ns)).map(([, o]) => o);
  }

  get(resource: string, ns: string | undefined, name: string): KObject | undefined {
    return this.objects.get(this.key(resource, ns, name));
  }

  add(resource: string, o: KObject): KObject {
    this.seq++;
    const obj = structuredClone(o);
    obj.metadata.name ??= `${obj.metadata.generateName ?? 'x-'}${String(this.seq).padStart(5, '0')}`;
    obj.metadata.uid ??= `uid-${this.seq}`;
    obj.metadata.resourceVersion = String(this.seq);
    obj.metadata.creationTimestamp ??= new Date(this.now + this.seq).toISOString();
    obj.metadata.generation ??= 1;
    const k = this.key(resource, obj.metadata.namespace, obj.metadata.name);
    if (this.objects.has(k)) throw Object.assign(new Error(`${k} exists`), { code: 'AlreadyExists' });
    this.objects.set(k, obj);
    return obj;
  }

  /** Applies one action; returns false on a conflict (stale resourceVersion). */
  apply(a: Action): boolean {
    return this.applyGet(a) !== false;
  }

  /** Applies one action; the written object (or true for creates/deletes), false on a conflict. */
  applyGet(a: Action): KObject | boolean {
    this.seq++;
    if (a.verb === 'create') {
      this.add(a.ref.resource, a.object);
      return true;
    }
    if (a.verb === 'delete') {
      const k = this.key(a.ref.resource, a.namespace, a.name);
      const cur = this.objects.get(k);
      if (!cur || (a.uid && cur.metadata.uid !== a.uid)) return false;
      this.objects.delete(k);
      return true;
    }
    const k = this.key(a.ref.resource, a.object.metadata.namespace, a.object.metadata.name!);
    const cur = this.objects.get(k);
    if (!cur || cur.metadata.resourceVersion !== a.object.metadata.resourceVersion) return false;
    const next = structuredClone(a.object);
    if (a.verb === 'updateStatus') {
      const merged = { ...structuredClone(cur), status: next.status };
      merged.metadata.resourceVersion = String(this.seq);
      this.objects.set(k, merged);
      return merged;
    } else {
      next.status = cur.status;
      if (JSON.stringify(next.spec) !== JSON.stringify(cur.spec)) next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
      next.metadata.resourceVersion = String(this.seq);
      this.objects.set(k, next);
      return next;
    }
  }
}

export function podTemplate(image: string, labels: Record<string, string> = { app: 'web' }) {
  return { metadata: { labels }, spec: { containers: [{ name: 'main', image, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] } };
}

export function deployment(name: string, replicas: number, image: string, strategy: Record<string, unknown> = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }, extra: Record<string, unknown> = {}): KObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: podTemplate(image), strategy, revisionHistoryLimit: 10, progressDeadlineSeconds: 600, ...extra },
  };
}

export function readyCondition(status: 'True' | 'False', at: number) {
  return { type: 'Ready', status, lastTransitionTime: new Date(Math.floor(at / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

/** The seeded PRNG the Raft core uses (mulberry32), for property tests that must replay exactly. */
export { seededRandom as rng } from '../../../store/src/raft/seeded_random.js';
