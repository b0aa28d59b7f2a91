/** Deployment helpers after Kubernetes' deployment/util: annotations, revisions, fenceposts, template hashing. */
import { parseTime, type Deployment, type KubeObject, type PodTemplateSpec, type ReplicaSet, type ReplicaSetSpec } from '@mkube/api';
import { podTemplateHash } from '../util/hash.js';
import { scaledValue } from '../util/intstr.js';
import { semanticEqual } from '../util/equal.js';

export const REVISION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const ROLLBACK_TO = 'deprecated.deployment.rollback.to';

/** Deployment annotations that are not copied to its ReplicaSets. */
export const ANNOTATIONS_TO_SKIP = new Set([LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO]);

/** Deployments and ReplicaSets: spec.replicas defaults to 1. */
export const replicasOf = (o: Deployment | ReplicaSet | undefined): number => (o ? Number(o.spec?.replicas ?? 1) : 0);
export const statusReplicas = (rs: ReplicaSet): number => Number(rs.status?.replicas ?? 0);
export const statusAvailable = (rs: ReplicaSet): number => Number(rs.status?.availableReplicas ?? 0);

/** The spec of a local copy of a set, to change in place (a stored ReplicaSet always has one: selector is required). */
export function specOf(rs: ReplicaSet): ReplicaSetSpec {
  return (rs.spec ??= { selector: {} });
}

export function revisionOf(rs: KubeObject): number {
  const v = rs.metadata?.annotations?.[REVISION];
  const n = v === undefined ? 0 : Number(v);
  return Number.isFinite(n) ? n : 0;
}

export function maxRevision(rss: KubeObject[]): number {
  return rss.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
}

function withoutHash(tpl: PodTemplateSpec | undefined): PodTemplateSpec {
  const t = structuredClone(tpl ?? {});
  if (t.metadata?.labels) delete t.metadata.labels[POD_TEMPLATE_HASH];
  return t;
}

/** Same pod template, ignoring the pod-template-hash label. */
export function equalIgnoreHash(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  return semanticEqual(withoutHash(a), withoutHash(b));
}

export function templateHash(d: Deployment): string {
  const c = d.status?.collisionCount;
  return podTemplateHash(withoutHash(d.spec?.template), c === undefined || c === null ? undefined : Number(c));
}

export const isRollingUpdate = (d: Deployment): boolean => (d.spec?.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';

/** maxSurge rounded up, maxUnavailable rounded down; both zero is not allowed, so unavailable becomes 1. */
export function resolveFenceposts(d: Deployment): { surge: number; unavailable: number } {
  if (!isRollingUpdate(d)) return { surge: 0, unavailable: 0 };
  const desired = replicasOf(d);
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  const surge = scaledValue(ru.maxSurge ?? '25%', desired, true);
  let unavailable = scaledValue(ru.maxUnavailable ?? '25%', desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

export function maxSurge(d: Deployment): number {
  return isRollingUpdate(d) ? resolveFenceposts(d).surge : 0;
}

export function maxUnavailable(d: Deployment): number {
  const r = replicasOf(d);
  if (!isRollingUpdate(d) || r === 0) return 0;
  return Math.min(resolveFenceposts(d).unavailable, r);
}

export const creationOf = (o: KubeObject): number => parseTime(o.metadata?.creationTimestamp) ?? 0;

/** Oldest first, ties by name (controller.ReplicaSetsByCreationTimestamp). */
export function byCreation(a: KubeObject, b: KubeObject): number {
  return creationOf(a) - creationOf(b) || String(a.metadata?.name).localeCompare(String(b.metadata?.name));
}

/** The oldest set whose template is the deployment's. */
export function findNewReplicaSet<S extends ReplicaSet>(d: Deployment, rss: S[]): S | undefined {
  return [...rss].sort(byCreation).find((rs) => equalIgnoreHash(rs.spec?.template, d.spec?.template));
}

/** Active sets (spec.replicas > 0). */
export const active = <S extends ReplicaSet>(rss: S[]): S[] => rss.filter((rs) => replicasOf(rs) > 0);

/**
 * How big the new set may be now: Recreate jumps to replicas; RollingUpdate
 * grows while the total (counting pods an old set still has, even if its
 * spec was already lowered) stays within replicas + maxSurge.
 */
export function newRSNewReplicas(d: Deployment, allRSs: ReplicaSet[], newRS: ReplicaSet): number {
  if (!isRollingUpdate(d)) return replicasOf(d);
  const surge = maxSurge(d);
  const current = allRSs.reduce((s, rs) => s + Math.max(replicasOf(rs), rs.metadata?.name === newRS.metadata?.name ? 0 : statusReplicas(rs)), 0);
  const maxTotal = replicasOf(d) + surge;
  if (current >= maxTotal) return replicasOf(newRS);
  const up = Math.min(maxTotal - current, replicasOf(d) - replicasOf(newRS));
  return replicasOf(newRS) + Math.max(up, 0);
}

/** Available pods of a set, never more than its (possibly just lowered) spec. */
export const effectiveAvailable = (rs: ReplicaSet): number => Math.min(statusAvailable(rs), replicasOf(rs));
