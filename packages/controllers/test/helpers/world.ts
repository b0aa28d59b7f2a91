// An in-memory cluster for the pure reconcile tests: applies the actions the
// reconcilers return (creates get a uid, creationTimestamp and a name; updates
// bump resourceVersion and check it) so controllers can be run step by step.
import type { ExecutableAction } from '../../src/runtime/executor.js';
import type { Action, Named } from '../../src/types.js';

/**
 * A fixture of any kind for the pure reconcile tests: a named object whose
 * spec and status the tests read and write freely (the reconcilers take the
 * generated kinds; a fixture is assignable to each of them).
 */
export type Obj = Named & { spec?: any; status?: any; [k: string]: unknown }; // eslint-disable-line @typescript-eslint/no-explicit-any -- fixtures of every kind in one in-memory cluster

/** The object an action writes, as a fixture (a test failure for deletes and missing actions). */
export function objectOf(a: ExecutableAction | undefined): Obj {
  if (!a || a.verb === 'delete') throw new Error(`expected an action with an object, got ${a?.verb ?? 'none'}`);
  return a.object as Obj;
}

export class World {
  objects = new Map<string, Obj>();
  private seq = 0;
  constructor(public now = Date.UTC(2024, 0, 1)) {}

  key(resource: string, ns: string | undefined, name: string): string {
    return `${resource}/${ns ?? ''}/${name}`;
  }

  list(resource: string, ns?: string): Obj[] {
    return [...this.objects.entries()].filter(([k, o]) => k.startsWith(`${resource}/`) && (ns === undefined || o.metadata.namespace === ns)).map(([, o]) => o);
  }

  get(resource: string, ns: string | undefined, name: string): Obj | undefined {
    return this.objects.get(this.key(resource, ns, name));
  }

  add(resource: string, o: Obj): Obj {
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
  applyGet(a: Action): Obj | boolean {
    this.seq++;
    if (a.verb === 'create') {
      this.add(a.ref.resource, a.object as Obj);
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
    const next = structuredClone(a.object as Obj);
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

export function deployment(name: string, replicas: number, image: string, strategy: Record<string, unknown> = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }, extra: Record<string, unknown> = {}): Obj {
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
export { seededRandom as rng } from '@mkube/testing';
