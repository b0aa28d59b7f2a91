/**
 * Deployment reconcile, free of I/O, after Kubernetes' deployment controller
 * (sync.go, rolling.go, recreate.go, progress.go). Input: the deployment, the
 * ReplicaSets and pods of its namespace (from caches) and the time. Output:
 * the writes of one step (ownership changes, RS creates/scales/annotation
 * updates, old RS cleanup, deployment annotation and status) and when to come
 * back. Each call does one step; the next event or requeue does the next.
 */
import { semanticEqual } from '../util/equal.js';
import {
  controllerOf,
  formatTime,
  isEmptySelector,
  labelSelectorMatches,
  newControllerRef,
  parseTime,
  type Deployment,
  type DeploymentCondition,
  type DeploymentStatus,
  type Pod,
  type ReplicaSet,
  type ReplicaSetSpec,
} from '@mkube/api';
import type { Action, Named } from '../types.js';
import { R } from '../types.js';
import {
  ANNOTATIONS_TO_SKIP,
  DESIRED_REPLICAS,
  MAX_REPLICAS,
  POD_TEMPLATE_HASH,
  REVISION,
  REVISION_HISTORY,
  active,
  byCreation,
  creationOf,
  effectiveAvailable,
  equalIgnoreHash,
  findNewReplicaSet,
  isRollingUpdate,
  maxRevision,
  maxSurge,
  maxUnavailable,
  newRSNewReplicas,
  replicasOf,
  revisionOf,
  specOf,
  statusAvailable,
  statusReplicas,
  templateHash,
} from './util.js';

type NamedRS = Named<ReplicaSet>;

export interface DeploymentInput {
  d: Named<Deployment>;
  /** Every ReplicaSet in the deployment's namespace. */
  replicaSets: NamedRS[];
  /** Every pod in the namespace (Recreate waits for old pods to stop). */
  pods: Named<Pod>[];
  now: number;
}

export interface DeploymentPlan {
  actions: Action[];
  requeueAfterMs?: number;
}

export const PROGRESSING = 'Progressing';
export const AVAILABLE = 'Available';
export const REASON = {
  NewRSCreated: 'NewReplicaSetCreated',
  FoundNewRS: 'FoundNewReplicaSet',
  RSUpdated: 'ReplicaSetUpdated',
  NewRSAvailable: 'NewReplicaSetAvailable',
  TimedOut: 'ProgressDeadlineExceeded',
  Paused: 'DeploymentPaused',
  Resumed: 'DeploymentResumed',
  MinimumReplicasAvailable: 'MinimumReplicasAvailable',
  MinimumReplicasUnavailable: 'MinimumReplicasUnavailable',
} as const;

const clone = <T>(v: T): T => structuredClone(v);
const MAX_INT32 = 2147483647;

/** One step's working state: local copies that the writes of this step have already changed. */
class Step {
  readonly actions: Action[] = [];
  d: Named<Deployment>;
  /** The deployment's status as this step leaves it (written once at the end when changed). */
  status: DeploymentStatus;
  requeueAfterMs?: number;
  private metaChanged = false;

  constructor(d: Named<Deployment>, readonly now: number) {
    this.d = clone(d);
    this.status = clone(d.status ?? {});
  }

  newCondition(type: string, status: string, reason: string, message: string): DeploymentCondition {
    const t = formatTime(this.now);
    return { type, status, lastUpdateTime: t, lastTransitionTime: t, reason, message };
  }

  getCondition(type: string): DeploymentCondition | undefined {
    return (this.status.conditions ?? []).find((c) => c.type === type);
  }

  /** SetDeploymentCondition: no change for the same status and reason; keeps lastTransitionTime while the status holds. */
  setCondition(c: DeploymentCondition): void {
    const cur = this.getCondition(c.type);
    if (cur && cur.status === c.status && cur.reason === c.reason) return;
    if (cur && cur.status === c.status) c.lastTransitionTime = cur.lastTransitionTime;
    this.status.conditions = [...(this.status.conditions ?? []).filter((x) => x.type !== c.type), c];
  }

  removeCondition(type: string): void {
    if (!this.status.conditions) return;
    this.status.conditions = this.status.conditions.filter((c) => c.type !== type);
  }

  setRevision(rev: number | string): void {
    const v = String(rev);
    const ann = (this.d.metadata.annotations ??= {});
    if (ann[REVISION] === v) return;
    if (ann[REVISION] !== undefined && Number(ann[REVISION]) > Number(v)) return;
    ann[REVISION] = v;
    this.metaChanged = true;
  }

  /** Records a write of a set; several changes to one set in a step become one update. */
  updateRS(rs: NamedRS): void {
    const i = this.actions.findIndex((a) => (a.verb === 'update' || a.verb === 'create') && a.ref === R.replicasets && a.object.metadata?.name === rs.metadata.name);
    if (i >= 0) {
      const prev = this.actions[i]!;
      this.actions[i] = { ...prev, object: rs } as Action;
    } else this.actions.push({ verb: 'update', ref: R.replicasets, namespace: rs.metadata.namespace, object: rs });
  }

  finish(orig: Named<Deployment>): DeploymentPlan {
    if (this.metaChanged) {
      const next: Named<Deployment> = { ...clone(orig), metadata: this.d.metadata };
      this.actions.push({ verb: 'update', ref: R.deployments, namespace: this.d.metadata.namespace, object: next });
    }
    if (!semanticEqual(this.status, orig.status ?? {})) {
      const next: Named<Deployment> = { ...clone(orig), metadata: this.d.metadata, status: this.status };
      this.actions.push({ verb: 'updateStatus', ref: R.deployments, namespace: this.d.metadata.namespace, object: next });
    }
    return { actions: this.actions, requeueAfterMs: this.requeueAfterMs };
  }
}


/** ClaimReplicaSets: the deployment's own sets; adopt matching orphans, release owned sets that no longer match. */
export function claimReplicaSets(d: Named<Deployment>, rss: NamedRS[]): { owned: NamedRS[]; actions: Action[] } {
  const owned: NamedRS[] = [];
  const actions: Action[] = [];
  const deleting = !!d.metadata.deletionTimestamp;
  for (const rs of rss) {
    const ref = controllerOf(rs);
    const matches = labelSelectorMatches(d.spec?.selector, rs.metadata.labels);
    if (ref) {
      if (ref.uid !== d.metadata.uid) continue;
      if (matches) owned.push(clone(rs));
      else if (!deleting && !rs.metadata.deletionTimestamp) {
        const next = clone(rs);
        next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((r) => r.uid !== d.metadata.uid);
        actions.push({ verb: 'update', ref: R.replicasets, namespace: rs.metadata.namespace, object: next });
      }
      continue;
    }
    if (!matches || deleting || rs.metadata.deletionTimestamp) continue;
    const next = clone(rs);
    next.metadata.ownerReferences = [...(next.metadata.ownerReferences ?? []), newControllerRef(d, R.deployments)];
    actions.push({ verb: 'update', ref: R.replicasets, namespace: rs.metadata.namespace, object: next });
    owned.push(clone(next));
  }
  return { owned, actions };
}

function setReplicasAnnotations(rs: NamedRS, desired: number, max: number): boolean {
  const ann = (rs.metadata.annotations ??= {});
  let changed = false;
  if (ann[DESIRED_REPLICAS] !== String(desired)) {
    ann[DESIRED_REPLICAS] = String(desired);
    changed = true;
  }
  if (ann[MAX_REPLICAS] !== String(max)) {
    ann[MAX_REPLICAS] = String(max);
    changed = true;
  }
  return changed;
}

/** SetNewReplicaSetAnnotations: copy the deployment's annotations, bump the revision (keeping a history), replica annotations on create. */
function setNewReplicaSetAnnotations(d: Named<Deployment>, rs: NamedRS, newRevision: number, exists: boolean): boolean {
  const ann = (rs.metadata.annotations ??= {});
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (ANNOTATIONS_TO_SKIP.has(k) || ann[k] === v) continue;
    ann[k] = v;
    changed = true;
  }
  const old = ann[REVISION];
  if (old === undefined || Number(old) < newRevision) {
    ann[REVISION] = String(newRevision);
    changed = true;
    if (old !== undefined) ann[REVISION_HISTORY] = ann[REVISION_HISTORY] ? `${ann[REVISION_HISTORY]},${old}` : old;
  }
  if (!exists && setReplicasAnnotations(rs, replicasOf(d), replicasOf(d) + maxSurge(d))) changed = true;
  return changed;
}

interface Sets {
  newRS?: NamedRS;
  oldRSs: NamedRS[];
}

/** getAllReplicaSetsAndSyncRevision: find (or create) the new set and keep its revision above every old one. */
function getAllReplicaSets(s: Step, owned: NamedRS[], allInNamespace: NamedRS[], create: boolean): Sets | 'collision' {
  const d = s.d;
  const existing = findNewReplicaSet(d, owned);
  const oldRSs = owned.filter((rs) => rs !== existing);
  const newRevision = maxRevision(oldRSs) + 1;
  const progressDeadline = hasProgressDeadline(d);
  if (existing) {
    const annotationsChanged = setNewReplicaSetAnnotations(d, existing, newRevision, true);
    const minReady = Number(d.spec?.minReadySeconds ?? 0);
    const minReadyChanged = Number(existing.spec?.minReadySeconds ?? 0) !== minReady;
    if (minReadyChanged) specOf(existing).minReadySeconds = minReady;
    if (annotationsChanged || minReadyChanged) s.updateRS(existing);
    // setNewReplicaSetAnnotations left a revision annotation on the set.
    s.setRevision(existing.metadata.annotations?.[REVISION] ?? newRevision);
    if (progressDeadline && !s.getCondition(PROGRESSING)) {
      s.setCondition(s.newCondition(PROGRESSING, 'True', REASON.FoundNewRS, `Found new replica set "${existing.metadata.name}"`));
    }
    return { newRS: existing, oldRSs };
  }
  if (!create) return { oldRSs };
  const hash = templateHash(d);
  const name = `${d.metadata.name}-${hash}`;
  const clash = allInNamespace.find((rs) => rs.metadata.name === name);
  if (clash) {
    // Our own set not in `owned` yet would have matched above; anything else under this name is a hash collision.
    s.status.collisionCount = Number(s.status.collisionCount ?? 0) + 1;
    return 'collision';
  }
  const template = clone(d.spec?.template ?? {});
  template.metadata ??= {};
  template.metadata.labels = { ...(template.metadata.labels ?? {}), [POD_TEMPLATE_HASH]: hash };
  const selector = clone(d.spec?.selector ?? {});
  selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash };
  const spec: ReplicaSetSpec = { replicas: 0, minReadySeconds: Number(d.spec?.minReadySeconds ?? 0), selector, template };
  const newRS: NamedRS = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name,
      namespace: d.metadata.namespace,
      labels: { ...template.metadata.labels },
      annotations: {},
      ownerReferences: [newControllerRef(d, R.deployments)],
    },
    spec,
  };
  spec.replicas = newRSNewReplicas(d, [...oldRSs, newRS], newRS);
  setNewReplicaSetAnnotations(d, newRS, newRevision, false);
  s.actions.push({ verb: 'create', ref: R.replicasets, namespace: d.metadata.namespace, object: newRS });
  s.setRevision(newRevision);
  if (progressDeadline) s.setCondition(s.newCondition(PROGRESSING, 'True', REASON.NewRSCreated, `Created new replica set "${name}"`));
  return { newRS, oldRSs };
}

function hasProgressDeadline(d: Deployment): boolean {
  const p = d.spec?.progressDeadlineSeconds;
  return p !== undefined && p !== null && Number(p) !== MAX_INT32;
}

/** Sets spec.replicas and the replica annotations of a set; records the write when something changed. */
function scaleReplicaSet(s: Step, rs: NamedRS, replicas: number): boolean {
  const sizeChanged = replicasOf(rs) !== replicas;
  const annChanged = setReplicasAnnotations(rs, replicasOf(s.d), replicasOf(s.d) + maxSurge(s.d));
  specOf(rs).replicas = replicas;
  if (sizeChanged || annChanged) s.updateRS(rs);
  return sizeChanged;
}

function isScalingEvent(d: Deployment, sets: Sets): boolean {
  for (const rs of active([...(sets.newRS ? [sets.newRS] : []), ...sets.oldRSs])) {
    const desired = rs.metadata.annotations?.[DESIRED_REPLICAS];
    if (desired === undefined) continue;
    if (Number(desired) !== replicasOf(d)) return true;
  }
  return false;
}

/** scale(): resize for a replicas change; RollingUpdate spreads the difference proportionally over active sets. */
function scale(s: Step, sets: Sets): void {
  const d = s.d;
  const all = [...(sets.newRS ? [sets.newRS] : []), ...sets.oldRSs];
  const activeSets = active(all);
  if (activeSets.length <= 1) {
    const target = activeSets[0] ?? sets.newRS ?? [...sets.oldRSs].sort(byCreation).pop();
    if (target && replicasOf(target) !== replicasOf(d)) scaleReplicaSet(s, target, replicasOf(d));
    return;
  }
  if (sets.newRS && isSaturated(d, sets.newRS)) {
    for (const old of active(sets.oldRSs)) scaleReplicaSet(s, old, 0);
    return;
  }
  if (!isRollingUpdate(d)) return;
  const allowed = replicasOf(d) > 0 ? replicasOf(d) + maxSurge(d) : 0;
  const current = activeSets.reduce((n, rs) => n + replicasOf(rs), 0);
  const toAdd = allowed - current;
  const sorted = [...activeSets].sort((a, b) => {
    const size = replicasOf(b) - replicasOf(a);
    if (size !== 0) return size;
    return toAdd > 0 ? creationOf(b) - creationOf(a) : creationOf(a) - creationOf(b);
  });
  const sizes = new Map<NamedRS, number>();
  let added = 0;
  for (const rs of sorted) {
    let p = 0;
    if (toAdd !== 0 && toAdd !== added && replicasOf(rs) > 0) {
      const fraction = replicaSetFraction(rs, d);
      const allowedLeft = toAdd - added;
      p = toAdd > 0 ? Math.min(fraction, allowedLeft) : Math.max(fraction, allowedLeft);
    }
    sizes.set(rs, replicasOf(rs) + p);
    added += p;
  }
  if (toAdd !== added && sorted.length > 0) {
    const first = sorted[0]!;
    sizes.set(first, Math.max(sizes.get(first)! + toAdd - added, 0));
  }
  for (const rs of sorted) scaleReplicaSet(s, rs, sizes.get(rs)!);
}

function replicaSetFraction(rs: NamedRS, d: Deployment): number {
  if (replicasOf(d) === 0) return -replicasOf(rs);
  const deploymentReplicas = replicasOf(d) + maxSurge(d);
  const ann = Number(rs.metadata.annotations?.[MAX_REPLICAS]);
  const annotated = Number.isFinite(ann) && ann > 0 ? ann : Number(d.status?.replicas ?? 0);
  if (!annotated) return 0;
  return Math.round((replicasOf(rs) * deploymentReplicas) / annotated) - replicasOf(rs);
}

function isSaturated(d: Deployment, rs: NamedRS): boolean {
  const desired = Number(rs.metadata.annotations?.[DESIRED_REPLICAS]);
  return replicasOf(rs) === replicasOf(d) && desired === replicasOf(d) && statusAvailable(rs) === replicasOf(d);
}

/** Deletes the oldest fully scaled-down sets beyond revisionHistoryLimit. */
function cleanup(s: Step, oldRSs: NamedRS[]): void {
  const limit = s.d.spec?.revisionHistoryLimit;
  if (limit === undefined || limit === null) return;
  const alive = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp);
  const diff = alive.length - Number(limit);
  if (diff <= 0) return;
  const sorted = [...alive].sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
  for (let i = 0; i < diff; i++) {
    const rs = sorted[i]!;
    if (statusReplicas(rs) !== 0 || replicasOf(rs) !== 0 || Number(rs.metadata.generation ?? 0) > Number(rs.status?.observedGeneration ?? 0)) continue;
    s.actions.push({ verb: 'delete', ref: R.replicasets, namespace: rs.metadata.namespace, name: rs.metadata.name, uid: rs.metadata.uid, reason: 'revision history limit' });
  }
}

/** calculateStatus: counts over all sets plus the Available condition. */
function calculateStatus(s: Step, all: NamedRS[], newRS: NamedRS | undefined): void {
  const d = s.d;
  const available = all.reduce((n, rs) => n + statusAvailable(rs), 0);
  const total = all.reduce((n, rs) => n + replicasOf(rs), 0);
  s.status.observedGeneration = Number(d.metadata.generation ?? 0);
  s.status.replicas = all.reduce((n, rs) => n + statusReplicas(rs), 0);
  s.status.updatedReplicas = newRS ? statusReplicas(newRS) : 0;
  s.status.readyReplicas = all.reduce((n, rs) => n + Number(rs.status?.readyReplicas ?? 0), 0);
  s.status.availableReplicas = available;
  s.status.unavailableReplicas = Math.max(total - available, 0);
  if (available >= replicasOf(d) - maxUnavailable(d)) {
    s.setCondition(s.newCondition(AVAILABLE, 'True', REASON.MinimumReplicasAvailable, 'Deployment has minimum availability.'));
  } else {
    s.setCondition(s.newCondition(AVAILABLE, 'False', REASON.MinimumReplicasUnavailable, 'Deployment does not have minimum availability.'));
  }
}

function deploymentComplete(d: Named<Deployment>, st: DeploymentStatus): boolean {
  const r = replicasOf(d);
  return st.updatedReplicas === r && st.replicas === r && st.availableReplicas === r && st.observedGeneration !== undefined && st.observedGeneration >= Number(d.metadata.generation ?? 0);
}

/** st is a status calculateStatus just filled in (every count set). */
function deploymentProgressing(d: Deployment, st: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = Number(old.replicas ?? 0) - Number(old.updatedReplicas ?? 0);
  const newOld = Number(st.replicas ?? 0) - Number(st.updatedReplicas ?? 0);
  return Number(st.updatedReplicas ?? 0) > Number(old.updatedReplicas ?? 0) || newOld < oldOld || Number(st.readyReplicas ?? 0) > Number(old.readyReplicas ?? 0) || Number(st.availableReplicas ?? 0) > Number(old.availableReplicas ?? 0);
}

/** syncRolloutStatus: status plus the Progressing condition and the progress deadline. */
function syncRolloutStatus(s: Step, all: NamedRS[], newRS: NamedRS | undefined, orig: Named<Deployment>): void {
  const d = s.d;
  calculateStatus(s, all, newRS);
  if (!hasProgressDeadline(d)) s.removeCondition(PROGRESSING);
  const cur = s.getCondition(PROGRESSING);
  const complete = s.status.replicas === s.status.updatedReplicas && cur?.reason === REASON.NewRSAvailable;
  if (hasProgressDeadline(d) && !complete) {
    const name = newRS?.metadata.name;
    if (deploymentComplete(d, s.status)) {
      s.setCondition(s.newCondition(PROGRESSING, 'True', REASON.NewRSAvailable, `ReplicaSet "${name}" has successfully progressed.`));
    } else if (deploymentProgressing(orig, s.status)) {
      const c = s.newCondition(PROGRESSING, 'True', REASON.RSUpdated, name ? `ReplicaSet "${name}" is progressing.` : 'Deployment is progressing.');
      if (cur?.status === 'True') c.lastTransitionTime = cur.lastTransitionTime;
      s.removeCondition(PROGRESSING);
      s.setCondition(c);
    } else if (timedOut(d, s)) {
      s.setCondition(s.newCondition(PROGRESSING, 'False', REASON.TimedOut, `ReplicaSet "${name}" has timed out progressing.`));
    }
  }
  // requeueStuckDeployment: come back when the deadline would pass.
  const c = s.getCondition(PROGRESSING);
  if (hasProgressDeadline(d) && c && c.reason !== REASON.TimedOut && !deploymentComplete(d, s.status)) {
    const from = parseTime(c.lastUpdateTime) ?? s.now;
    const after = from + Number(d.spec?.progressDeadlineSeconds) * 1000 - s.now;
    s.requeueAfterMs = Math.max(after, 0) + 1000;
  }
}

function timedOut(d: Deployment, s: Step): boolean {
  const c = s.getCondition(PROGRESSING);
  if (!c || c.reason === REASON.NewRSAvailable) return false;
  if (c.reason === REASON.TimedOut) return true;
  const from = parseTime(c.lastUpdateTime);
  if (from === undefined) return false;
  return from + Number(d.spec?.progressDeadlineSeconds) * 1000 < s.now;
}

function reconcileNewReplicaSet(s: Step, all: NamedRS[], newRS: NamedRS): boolean {
  const want = replicasOf(s.d);
  if (replicasOf(newRS) === want) return false;
  if (replicasOf(newRS) > want) return scaleReplicaSet(s, newRS, want);
  return scaleReplicaSet(s, newRS, newRSNewReplicas(s.d, all, newRS));
}

function reconcileOldReplicaSets(s: Step, all: NamedRS[], oldRSs: NamedRS[], newRS: NamedRS): boolean {
  const d = s.d;
  const oldPods = oldRSs.reduce((n, rs) => n + replicasOf(rs), 0);
  if (oldPods === 0) return false;
  let allPods = all.reduce((n, rs) => n + replicasOf(rs), 0);
  const minAvailable = replicasOf(d) - maxUnavailable(d);
  const newUnavailable = replicasOf(newRS) - statusAvailable(newRS);
  const maxScaledDown = allPods - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return false;
  // Unhealthy old replicas go first: they do not count toward availability anyway.
  let cleaned = 0;
  for (const rs of [...oldRSs].sort(byCreation)) {
    if (cleaned >= maxScaledDown) break;
    if (replicasOf(rs) === 0) continue;
    const unhealthy = replicasOf(rs) - effectiveAvailable(rs);
    if (unhealthy <= 0) continue;
    const down = Math.min(maxScaledDown - cleaned, unhealthy);
    scaleReplicaSet(s, rs, replicasOf(rs) - down);
    cleaned += down;
  }
  allPods -= cleaned;
  // Then healthy ones, as far as the available count stays at minAvailable.
  const availableCount = all.reduce((n, rs) => n + (rs === newRS ? statusAvailable(rs) : effectiveAvailable(rs)), 0);
  let scaled = 0;
  if (availableCount > minAvailable) {
    const total = availableCount - minAvailable;
    for (const rs of [...oldRSs].sort(byCreation)) {
      if (scaled >= total) break;
      if (replicasOf(rs) === 0) continue;
      const down = Math.min(replicasOf(rs), total - scaled);
      scaleReplicaSet(s, rs, replicasOf(rs) - down);
      scaled += down;
    }
  }
  return cleaned + scaled > 0;
}

function oldPodsRunning(newRS: NamedRS | undefined, oldRSs: NamedRS[], pods: Pod[]): boolean {
  if (oldRSs.reduce((n, rs) => n + statusReplicas(rs), 0) > 0) return true;
  const oldUids = new Set(oldRSs.map((rs) => rs.metadata.uid));
  for (const p of pods) {
    const ref = controllerOf(p);
    if (!ref || !oldUids.has(ref.uid) || ref.uid === newRS?.metadata.uid) continue;
    const phase = p.status?.phase;
    if (phase === 'Failed' || phase === 'Succeeded') continue;
    return true;
  }
  return false;
}

function checkPausedConditions(s: Step): void {
  if (!hasProgressDeadline(s.d)) return;
  const c = s.getCondition(PROGRESSING);
  if (c?.reason === REASON.TimedOut) return;
  const paused = !!s.d.spec?.paused;
  if (paused && c?.reason !== REASON.Paused) s.setCondition(s.newCondition(PROGRESSING, 'Unknown', REASON.Paused, 'Deployment is paused'));
  else if (!paused && c?.reason === REASON.Paused) s.setCondition(s.newCondition(PROGRESSING, 'Unknown', REASON.Resumed, 'Deployment is resumed'));
}

export function reconcileDeployment(input: DeploymentInput): DeploymentPlan {
  const orig = input.d;
  const s = new Step(orig, input.now);
  const d = s.d;
  if (d.metadata.deletionTimestamp) return { actions: [] };
  if (!d.spec?.selector || isEmptySelector(d.spec.selector)) {
    // Kubernetes refuses to act on an everything-selector; only observe the generation.
    s.status.observedGeneration = Number(d.metadata.generation ?? 0);
    return s.finish(orig);
  }
  const { owned, actions: claims } = claimReplicaSets(d, input.replicaSets);
  s.actions.push(...claims);
  checkPausedConditions(s);

  const syncOnly = (sets: Sets) => {
    scale(s, sets);
    if (d.spec?.paused) cleanup(s, sets.oldRSs);
    const all = [...(sets.newRS ? [sets.newRS] : []), ...sets.oldRSs];
    calculateStatus(s, all, sets.newRS);
    return s.finish(orig);
  };

  if (d.spec?.paused) {
    const sets = getAllReplicaSets(s, owned, input.replicaSets, false);
    if (sets === 'collision') return s.finish(orig);
    return syncOnly(sets);
  }
  const probe = getAllReplicaSets(new Step(orig, input.now), owned.map(clone), input.replicaSets, false);
  if (probe !== 'collision' && isScalingEvent(d, probe)) {
    const sets = getAllReplicaSets(s, owned, input.replicaSets, false);
    if (sets === 'collision') return s.finish(orig);
    return syncOnly(sets);
  }

  if (!isRollingUpdate(d)) {
    // Recreate: scale every old set to zero, wait until their pods are gone, then bring up the new set.
    const first = getAllReplicaSets(s, owned, input.replicaSets, false);
    if (first === 'collision') return s.finish(orig);
    let sets: Sets = first;
    const all = () => [...(sets.newRS ? [sets.newRS] : []), ...sets.oldRSs];
    let scaledDown = false;
    for (const rs of active(sets.oldRSs)) scaledDown = scaleReplicaSet(s, rs, 0) || scaledDown;
    if (scaledDown || oldPodsRunning(sets.newRS, sets.oldRSs, input.pods)) {
      syncRolloutStatus(s, all(), sets.newRS, orig);
      return s.finish(orig);
    }
    if (!sets.newRS) {
      const created = getAllReplicaSets(s, owned, input.replicaSets, true);
      if (created === 'collision') return s.finish(orig);
      sets = created;
    }
    if (sets.newRS && replicasOf(sets.newRS) !== replicasOf(d) && !s.actions.some((a) => a.verb === 'create')) scaleReplicaSet(s, sets.newRS, replicasOf(d));
    if (deploymentComplete(d, { ...calcPreview(all(), sets.newRS), observedGeneration: Number(d.metadata.generation ?? 0) })) cleanup(s, sets.oldRSs);
    syncRolloutStatus(s, all(), sets.newRS, orig);
    return s.finish(orig);
  }

  const sets = getAllReplicaSets(s, owned, input.replicaSets, true);
  if (sets === 'collision') return s.finish(orig);
  const newRS = sets.newRS!;
  const all = [newRS, ...sets.oldRSs];
  const justCreated = s.actions.some((a) => a.verb === 'create');
  if (!justCreated && reconcileNewReplicaSet(s, all, newRS)) {
    syncRolloutStatus(s, all, newRS, orig);
    return s.finish(orig);
  }
  if (reconcileOldReplicaSets(s, all, active(sets.oldRSs), newRS)) {
    syncRolloutStatus(s, all, newRS, orig);
    return s.finish(orig);
  }
  if (deploymentComplete(d, { ...calcPreview(all, newRS), observedGeneration: Number(d.metadata.generation ?? 0) })) cleanup(s, sets.oldRSs);
  syncRolloutStatus(s, all, newRS, orig);
  return s.finish(orig);
}

function calcPreview(all: NamedRS[], newRS: NamedRS | undefined): { replicas: number; updatedReplicas: number; availableReplicas: number } {
  return {
    replicas: all.reduce((n, rs) => n + statusReplicas(rs), 0),
    updatedReplicas: newRS ? statusReplicas(newRS) : 0,
    availableReplicas: all.reduce((n, rs) => n + statusAvailable(rs), 0),
  };
}

export { equalIgnoreHash };
