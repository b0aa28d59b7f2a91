/**
 * ControllerRevision history shared by the StatefulSet and DaemonSet
 * controllers, after upstream's pkg/controller/history: the revision of a
 * workload's template (data `{"spec":{"template":{…,"$patch":"replace"}}}`),
 * its hash and name (`<parent>-<hash>`, the hash over the data and the
 * collision count), equality, ordering, the next revision number, claiming
 * (adopt/release by the parent's selector) and truncation to
 * revisionHistoryLimit. Free of I/O.
 */
import {
  newControllerRef,
  resourceFor,
  type ControllerRevision,
  type LabelSelector,
  type PodTemplateSpec,
  type RawExtension,
} from '@mkube/api';
import { typedRef, type Action, type KubeObject, type Named, type ResourceRef } from '../types.js';
import { canonicalJson, fnv32a, safeEncode } from '../util/hash.js';
import { claimObjects } from './claim.js';

export const controllerRevisions: ResourceRef<ControllerRevision> = typedRef<ControllerRevision>(resourceFor('controllerrevisions', 'apps'));

/** apps.ControllerRevisionHashLabelKey: on pods, the revision they were made from. */
export const CONTROLLER_REVISION_HASH_LABEL = 'controller-revision-hash';
/** history.ControllerRevisionHashLabel: on revisions, the hash of their data. */
export const REVISION_HASH_LABEL = 'controller.kubernetes.io/hash';
/** The longest parent-name prefix of a revision name (ControllerRevisionName). */
const MAX_PREFIX = 223;

export type Revision = Named<ControllerRevision>;

/** A workload that keeps a ControllerRevision history. */
export interface HistoryParent extends KubeObject {
  metadata: Named['metadata'];
  spec?: { template?: PodTemplateSpec; selector?: LabelSelector; revisionHistoryLimit?: number };
}

/** getPatch of both controllers: the template only, replacing the whole template on apply. */
export function templatePatch(parent: HistoryParent): RawExtension {
  const template = structuredClone(parent.spec?.template ?? {}) as Record<string, unknown>;
  template.$patch = 'replace';
  return { spec: { template } };
}

/** The template stored in a revision's data (the patch's directive removed). */
export function templateOf(rev: ControllerRevision): PodTemplateSpec {
  const data = (rev.data ?? {}) as { spec?: { template?: Record<string, unknown> } };
  const t = structuredClone(data.spec?.template ?? {});
  delete t.$patch;
  return t as PodTemplateSpec;
}

/** HashControllerRevision: FNV-32a over the data (and the collision count as a probe), safe-encoded. */
export function hashRevisionData(data: RawExtension | undefined, collisionCount?: number): string {
  let text = canonicalJson(data ?? null);
  if (collisionCount !== undefined && collisionCount !== null) text += String(collisionCount);
  return safeEncode(String(fnv32a(text)));
}

/** ControllerRevisionName: the parent's name (at most 223 characters), a dash and the hash. */
export function revisionName(prefix: string, hash: string): string {
  return `${prefix.length > MAX_PREFIX ? prefix.slice(0, MAX_PREFIX) : prefix}-${hash}`;
}

/**
 * NewControllerRevision: template labels plus the hash label (and any the
 * controller adds for the hash), the parent's annotations (so
 * kubernetes.io/change-cause reaches `kubectl rollout history`), controlled
 * by the parent.
 */
export function newRevision(
  parent: HistoryParent,
  ref: { apiVersion: string; kind: string },
  revision: number,
  collisionCount: number,
  extraLabels: (hash: string) => Record<string, string> = () => ({}),
): Revision {
  const data = templatePatch(parent);
  const hash = hashRevisionData(data, collisionCount);
  const annotations = parent.metadata.annotations;
  return {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: revisionName(parent.metadata.name, hash),
      namespace: parent.metadata.namespace,
      labels: { ...(parent.spec?.template?.metadata?.labels ?? {}), ...extraLabels(hash), [REVISION_HASH_LABEL]: hash },
      ...(annotations && Object.keys(annotations).length ? { annotations: { ...annotations } } : {}),
      ownerReferences: [newControllerRef(parent, ref)],
    },
    data,
    revision,
  };
}

/** EqualRevision: same data (the hash label is a shortcut upstream; the data decides here). */
export function equalRevision(a: ControllerRevision, b: ControllerRevision): boolean {
  return canonicalJson(a.data ?? null) === canonicalJson(b.data ?? null);
}

/** SortControllerRevisions: by revision, then creation time, then name. */
export function sortRevisions<T extends ControllerRevision>(revs: readonly T[]): T[] {
  return [...revs].sort(
    (a, b) =>
      Number(a.revision ?? 0) - Number(b.revision ?? 0) ||
      String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')) ||
      String(a.metadata?.name ?? '').localeCompare(String(b.metadata?.name ?? '')),
  );
}

/** NextRevision: one more than the newest, 1 for an empty history. */
export function nextRevision(revs: readonly ControllerRevision[]): number {
  return revs.reduce((m, r) => Math.max(m, Number(r.revision ?? 0)), 0) + 1;
}

/** ClaimControllerRevisions: the parent's own revisions, adopting matching orphans. */
export function claimRevisions(parent: HistoryParent, ref: { apiVersion: string; kind: string }, revs: readonly Revision[]): { owned: Revision[]; actions: Action[] } {
  return claimObjects(parent, ref, parent.spec?.selector, revs, controllerRevisions);
}

export interface UpdateRevisionPlan {
  /** The revision the parent's template is at (existing, renumbered or to be created). */
  update: Revision;
  /** Writes: create the new revision, or bump an equal older one to the newest number. */
  actions: Action[];
  /** A revision of that name exists with other data: raise status.collisionCount and come back. */
  collision: boolean;
}

/**
 * The update revision of getStatefulSetRevisions / constructHistory: an
 * equal revision that is already the newest is reused; an equal older one
 * (a rollback) gets the next revision number; otherwise a new revision is
 * created, unless its name is taken by different data (a hash collision).
 */
export function updateRevision(
  parent: HistoryParent,
  ref: { apiVersion: string; kind: string },
  owned: readonly Revision[],
  allInNamespace: readonly Revision[],
  collisionCount: number,
  extraLabels: (hash: string) => Record<string, string> = () => ({}),
): UpdateRevisionPlan {
  const sorted = sortRevisions(owned);
  const next = nextRevision(sorted);
  const wanted = newRevision(parent, ref, next, collisionCount, extraLabels);
  const equal = sorted.filter((r) => equalRevision(r, wanted));
  const newest = sorted[sorted.length - 1];
  if (equal.length > 0) {
    const found = equal[equal.length - 1]!;
    if (newest && found.metadata.name === newest.metadata.name) return { update: found, actions: [], collision: false };
    const bumped = structuredClone(found);
    bumped.revision = next;
    return { update: bumped, actions: [{ verb: 'update', ref: controllerRevisions, namespace: found.metadata.namespace, object: bumped }], collision: false };
  }
  const taken = allInNamespace.find((r) => r.metadata.name === wanted.metadata.name);
  if (taken) return { update: wanted, actions: [], collision: true };
  return { update: wanted, actions: [{ verb: 'create', ref: controllerRevisions, namespace: wanted.metadata.namespace, object: wanted }], collision: false };
}

/**
 * truncateHistory: revisions other than the live ones (current, update and
 * any a pod still runs) beyond revisionHistoryLimit, oldest first, deleted.
 */
export function truncateHistory(owned: readonly Revision[], live: ReadonlySet<string>, limit: number): Action[] {
  const history = sortRevisions(owned).filter((r) => !live.has(r.metadata.name));
  const excess = history.length - Math.max(limit, 0);
  return history.slice(0, Math.max(excess, 0)).map((r) => ({
    verb: 'delete' as const,
    ref: controllerRevisions,
    namespace: r.metadata.namespace,
    name: r.metadata.name,
    uid: r.metadata.uid,
    reason: 'revision history limit',
  }));
}
