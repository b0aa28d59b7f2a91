/**
 * Job reconcile, free of I/O (upstream's syncJob): from the Job and the pods
 * of its namespace (caches) and an injected time, decide which pods to adopt,
 * which finished pods to record (status.uncountedTerminatedPods first, then
 * the batch.kubernetes.io/job-tracking finalizer removed, then counted), which
 * pods to create (parallelism, completions, Indexed completion indexes, the
 * failed-pod back-off) or delete (excess, suspend, a finishing Job), and the
 * status: counters, completed/failed indexes, and the conditions
 * Suspended, FailureTarget → Failed, SuccessCriteriaMet → Complete as 1.31+.
 */
import { controllerOf, formatTime, getCondition, labelSelectorMatches, newControllerRef, parseTime, setCondition, type Job, type JobCondition, type JobStatus, type Pod } from '@mkube/api';
import type { Action, Named } from '../types.js';
import { R } from '../types.js';
import { isPodReady } from '../util/pod.js';
import { podsToDelete } from '../replicaset/ranking.js';
import type { EventSpec } from '../runtime/events.js';
import { completionIndex, formatIndexes, JOB_COMPLETION_INDEX, parseIndexes } from './indexes.js';
import * as L from './labels.js';
import { matchPodFailurePolicy } from './pod_failure_policy.js';
import { JOBS } from './resource.js';

export interface JobInput {
  job: Named<Job>;
  /** Every pod in the Job's namespace. */
  pods: Named<Pod>[];
  now: number;
  /** False while the Job's own earlier creates/deletes have not come back through the watch. */
  expectationsSatisfied: boolean;
  /** UIDs of pods whose finalizer removal this controller issued and the cache does not show yet. */
  finalizersRemoving?: ReadonlySet<string>;
}

export interface JobPlan {
  /** Adopt / release (updates of pods). */
  claims: Action[];
  /** First status write: newly finished pods recorded in uncountedTerminatedPods. */
  recordUncounted?: Action;
  /** Pod updates removing the tracking finalizer (uids in finalizerUids). */
  removeFinalizers: Action[];
  finalizerUids: string[];
  creates: Action[];
  deletes: Array<Action & { verb: 'delete' }>;
  /** The final status (counters moved out of uncountedTerminatedPods, conditions). */
  status?: Action;
  events: EventSpec[];
  requeueAfterMs?: number;
}

const clone = <T>(v: T): T => structuredClone(v);
const TERMINAL = new Set(['Succeeded', 'Failed']);

export const isJobFinished = (job: Job): boolean =>
  (job.status?.conditions ?? []).some((c) => (c.type === L.COND_COMPLETE || c.type === L.COND_FAILED) && c.status === 'True');

/** Jobs with spec.managedBy other than the built-in controller's are left alone (as upstream). */
export const isManagedHere = (job: Job): boolean => !job.spec?.managedBy || job.spec.managedBy === L.JOB_CONTROLLER_NAME;

const hasFinalizer = (p: Pod): boolean => (p.metadata?.finalizers ?? []).includes(L.JOB_TRACKING_FINALIZER);

/** Pods whose replacement must wait until they are fully terminated (podReplacementPolicy Failed, implied by a podFailurePolicy). */
const onlyReplaceFailedPods = (job: Job): boolean => job.spec?.podReplacementPolicy === 'Failed' || !!job.spec?.podFailurePolicy;

/** isPodFailed: phase Failed, or (unless only failed pods are replaced) deleted before it succeeded. */
export function isPodFailed(p: Pod, job: Job): boolean {
  if (onlyReplaceFailedPods(job)) return p.status?.phase === 'Failed';
  if (p.status?.phase === 'Failed') return true;
  return !!p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded';
}

const isActive = (p: Pod): boolean => !TERMINAL.has(p.status?.phase ?? '') && !p.metadata?.deletionTimestamp;
const isTerminating = (p: Pod): boolean => !TERMINAL.has(p.status?.phase ?? '') && !!p.metadata?.deletionTimestamp;

/** When a pod finished: its latest container termination, else the Ready condition's last change, else its deletion. */
function finishTime(p: Pod, fallback: number): number {
  let t: number | undefined;
  for (const s of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
    const f = parseTime(s.state?.terminated?.finishedAt);
    if (f !== undefined && (t === undefined || f > t)) t = f;
  }
  t ??= parseTime(getCondition(p.status?.conditions, 'Ready')?.lastTransitionTime) ?? parseTime(p.metadata?.deletionTimestamp);
  return t ?? fallback;
}

/** Claim: pods controlled by this Job, plus matching orphans to adopt; release owned pods that no longer match. */
function claim(job: Named<Job>, pods: Named<Pod>[]): { owned: Named<Pod>[]; actions: Action[] } {
  const owned: Named<Pod>[] = [];
  const actions: Action[] = [];
  const deleting = !!job.metadata.deletionTimestamp;
  for (const pod of pods) {
    const ref = controllerOf(pod);
    const matches = labelSelectorMatches(job.spec?.selector, pod.metadata.labels);
    if (ref) {
      if (ref.uid !== job.metadata.uid) continue;
      if (matches || deleting || pod.metadata.deletionTimestamp) {
        owned.push(pod);
        continue;
      }
      const next = clone(pod);
      next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((r) => r.uid !== job.metadata.uid);
      actions.push({ verb: 'update', ref: R.pods, namespace: pod.metadata.namespace, object: next });
      continue;
    }
    // Orphans are adopted only while active (terminal ones have no outcome left to track).
    if (!matches || deleting || pod.metadata.deletionTimestamp || TERMINAL.has(pod.status?.phase ?? '') || !job.spec?.selector) continue;
    const next = clone(pod);
    next.metadata.ownerReferences = [...(next.metadata.ownerReferences ?? []), newControllerRef(job, JOBS)];
    actions.push({ verb: 'update', ref: R.pods, namespace: pod.metadata.namespace, object: next });
    owned.push(next);
  }
  return { owned, actions };
}

/** The pod the Job creates (for Indexed Jobs: for one index, with its failure count). */
export function podForJob(job: Named<Job>, index?: number, failureCount?: number): Pod {
  const tpl = clone(job.spec?.template ?? {});
  const meta = tpl.metadata ?? {};
  const spec = tpl.spec ?? { containers: [] };
  const labels: Record<string, string> = { ...(meta.labels ?? {}) };
  const annotations: Record<string, string> = { ...(meta.annotations ?? {}) };
  let generateName = `${job.metadata.name}-`;
  if (index !== undefined) {
    annotations[JOB_COMPLETION_INDEX] = String(index);
    labels[JOB_COMPLETION_INDEX] = String(index);
    generateName = `${job.metadata.name}-${index}-`;
    if (!spec.hostname) spec.hostname = `${job.metadata.name}-${index}`;
    const env = { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${JOB_COMPLETION_INDEX}']` } } };
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      if (!(c.env ?? []).some((e) => e.name === 'JOB_COMPLETION_INDEX')) c.env = [...(c.env ?? []), clone(env)];
    }
    if (job.spec?.backoffLimitPerIndex !== undefined && job.spec.backoffLimitPerIndex !== null) annotations[L.JOB_INDEX_FAILURE_COUNT] = String(failureCount ?? 0);
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName,
      namespace: job.metadata.namespace,
      labels,
      ...(Object.keys(annotations).length ? { annotations } : {}),
      finalizers: [L.JOB_TRACKING_FINALIZER],
      ownerReferences: [newControllerRef(job, JOBS)],
    },
    spec,
  };
}

/** Failed pods since the last success and when the latest failed (upstream's backoffRecord, rebuilt from the pods). */
function backoffFrom(pods: Named<Pod>[], job: Job, now: number): { failures: number; lastFailure: number } {
  const ends = pods
    // Failures a podFailurePolicy Ignore rule matches do not delay the replacement.
    .filter((p) => (TERMINAL.has(p.status?.phase ?? '') || isPodFailed(p, job)) && !(p.status?.phase === 'Failed' && matchPodFailurePolicy(job.spec, p)?.action === 'Ignore'))
    .map((p) => ({ failed: isPodFailed(p, job), at: finishTime(p, now) }))
    .sort((a, b) => a.at - b.at);
  let failures = 0;
  let lastFailure = 0;
  for (const e of ends) {
    if (e.failed) {
      failures++;
      lastFailure = e.at;
    } else failures = 0;
  }
  return { failures, lastFailure };
}

export function podFailureBackoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(L.POD_FAILURE_BACKOFF_MS * 2 ** Math.min(failures - 1, 30), L.MAX_POD_FAILURE_BACKOFF_MS);
}

const condition = (type: string, reason: string, message: string, now: number): JobCondition => ({
  type,
  status: 'True',
  reason,
  message,
  lastProbeTime: formatTime(now),
  lastTransitionTime: formatTime(now),
});

export function reconcileJob(input: JobInput): JobPlan {
  const { job, now } = input;
  const plan: JobPlan = { claims: [], removeFinalizers: [], finalizerUids: [], creates: [], deletes: [], events: [] };
  if (!isManagedHere(job)) return plan;
  const spec = job.spec;
  const ns = job.metadata.namespace;
  const removing = input.finalizersRemoving ?? new Set<string>();
  const { owned, actions } = claim(job, input.pods);
  plan.claims = actions;
  const finished = isJobFinished(job);
  const prev = job.status ?? {};
  const status: JobStatus = clone(prev);
  const indexed = spec?.completionMode === 'Indexed';
  const completions = spec?.completions ?? undefined;
  const parallelism = Number(spec?.parallelism ?? 1);
  const perIndexLimit = indexed && spec?.backoffLimitPerIndex !== undefined && spec?.backoffLimitPerIndex !== null ? spec.backoffLimitPerIndex : undefined;
  const limit = indexed ? Number(completions ?? 0) : 0;

  // --- Finished pods: record in uncountedTerminatedPods, remove the finalizer, count.
  const uncounted = { succeeded: new Set(prev.uncountedTerminatedPods?.succeeded ?? []), failed: new Set(prev.uncountedTerminatedPods?.failed ?? []) };
  const completed = parseIndexes(prev.completedIndexes, limit);
  const failedIdx = parseIndexes(prev.failedIndexes, limit);
  let succeeded = Number(prev.succeeded ?? 0);
  let failed = Number(prev.failed ?? 0);
  let newlyRecorded = false;
  let failJob: { reason: string; message: string } | undefined;
  const finalizerPods: Named<Pod>[] = [];
  for (const p of owned) {
    const uid = p.metadata.uid ?? '';
    if (!hasFinalizer(p) || removing.has(uid)) continue;
    // A finished Job only lets go of its pods.
    if (finished) {
      finalizerPods.push(p);
      continue;
    }
    const podSucceeded = p.status?.phase === 'Succeeded';
    const podFailed = !podSucceeded && isPodFailed(p, job);
    // Active pods keep their finalizer; so do terminating ones we wait for (replacement policy Failed).
    if (!podSucceeded && !podFailed) continue;
    finalizerPods.push(p);
    if (uncounted.succeeded.has(uid) || uncounted.failed.has(uid)) continue;
    if (podSucceeded) {
      const ix = indexed ? completionIndex(p) : undefined;
      // Indexed: only a pod with a valid index not yet completed counts.
      if (indexed && (ix === undefined || ix >= limit || completed.has(ix))) continue;
      uncounted.succeeded.add(uid);
      newlyRecorded = true;
      continue;
    }
    // A pod deleted while the Job is suspended is not a failure of the Job's work.
    if (spec?.suspend && p.metadata.deletionTimestamp) continue;
    const match = p.status?.phase === 'Failed' ? matchPodFailurePolicy(spec, p) : undefined;
    if (match?.action === 'Ignore') continue;
    if (match?.action === 'FailJob' && !failJob) failJob = { reason: L.REASON_POD_FAILURE_POLICY, message: match.message };
    uncounted.failed.add(uid);
    newlyRecorded = true;
    if (perIndexLimit !== undefined) {
      const ix = completionIndex(p);
      if (ix !== undefined && ix < limit) {
        const count = Number(p.metadata.annotations?.[L.JOB_INDEX_FAILURE_COUNT] ?? 0) + 1;
        if (match?.action === 'FailIndex' || count > perIndexLimit) failedIdx.add(ix);
      }
    }
  }
  // Every pod recorded as uncounted gets its finalizer removed; pods already gone just get counted.
  const byUid = new Map(owned.map((p) => [p.metadata.uid ?? '', p]));
  for (const p of finalizerPods) {
    const next = clone(p);
    next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f) => f !== L.JOB_TRACKING_FINALIZER);
    plan.removeFinalizers.push({ verb: 'update', ref: R.pods, namespace: ns, object: next });
    plan.finalizerUids.push(p.metadata.uid ?? '');
  }
  if (newlyRecorded) {
    const rec = clone(job);
    rec.status = { ...clone(prev), uncountedTerminatedPods: { succeeded: [...uncounted.succeeded], failed: [...uncounted.failed] } };
    plan.recordUncounted = { verb: 'updateStatus', ref: JOBS, namespace: ns, object: rec };
  }
  for (const uid of uncounted.succeeded) {
    const p = byUid.get(uid);
    const ix = p && indexed ? completionIndex(p) : undefined;
    if (indexed) {
      if (ix !== undefined && ix < limit) completed.add(ix);
    } else succeeded++;
  }
  failed += uncounted.failed.size;
  if (indexed) succeeded = completed.size;

  // --- Pods now.
  const live = owned.filter((p) => !TERMINAL.has(p.status?.phase ?? ''));
  const active = live.filter(isActive);
  const terminating = live.filter(isTerminating);

  // --- Is the Job done?
  const conds = prev.conditions ?? [];
  const target = getCondition(conds, L.COND_FAILURE_TARGET);
  const criteria = getCondition(conds, L.COND_SUCCESS_CRITERIA_MET);
  let failure: { reason: string; message: string } | undefined = target?.status === 'True' ? { reason: target.reason ?? '', message: target.message ?? '' } : undefined;
  let success: { reason: string; message: string } | undefined = criteria?.status === 'True' ? { reason: criteria.reason ?? '', message: criteria.message ?? '' } : undefined;
  const suspended = !!spec?.suspend;
  const startTime = parseTime(prev.startTime);
  if (!finished && !failure && !success) {
    failure = failJob;
    if (!failure && perIndexLimit === undefined) {
      let restarts = 0;
      if (spec?.template?.spec?.restartPolicy === 'OnFailure') {
        for (const p of active) for (const s of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) restarts += s.restartCount ?? 0;
      }
      const backoffLimit = Number(spec?.backoffLimit ?? 6);
      if (failed + restarts > backoffLimit && (failed > 0 || restarts > 0)) failure = { reason: L.REASON_BACKOFF_LIMIT_EXCEEDED, message: L.MSG_BACKOFF_LIMIT };
    }
    if (!failure && perIndexLimit !== undefined && spec?.maxFailedIndexes !== undefined && spec.maxFailedIndexes !== null && failedIdx.size > spec.maxFailedIndexes) {
      failure = { reason: L.REASON_MAX_FAILED_INDEXES_EXCEEDED, message: L.MSG_MAX_FAILED_INDEXES };
    }
    const ads = spec?.activeDeadlineSeconds;
    if (!failure && !suspended && ads !== undefined && ads !== null && startTime !== undefined && now - startTime >= ads * 1000) {
      failure = { reason: L.REASON_DEADLINE_EXCEEDED, message: L.MSG_DEADLINE };
    }
    if (!failure) {
      if (indexed) {
        const rule = (spec?.successPolicy?.rules ?? []).findIndex((r) => {
          const among = r.succeededIndexes !== undefined ? parseIndexes(r.succeededIndexes, limit) : undefined;
          const hits = among ? [...among].filter((i) => completed.has(i)).length : completed.size;
          if (among && r.succeededCount === undefined) return hits === among.size;
          return r.succeededCount !== undefined && hits >= r.succeededCount;
        });
        if (rule >= 0) success = { reason: L.REASON_SUCCESS_POLICY, message: `${L.MSG_SUCCESS_POLICY} ${rule}` };
        else if (completed.size + failedIdx.size >= limit) {
          if (failedIdx.size > 0) failure = { reason: L.REASON_FAILED_INDEXES, message: L.MSG_FAILED_INDEXES };
          else success = { reason: L.REASON_COMPLETIONS_REACHED, message: L.MSG_COMPLETIONS_REACHED };
        }
      } else if (completions !== undefined) {
        if (succeeded >= completions) success = { reason: L.REASON_COMPLETIONS_REACHED, message: L.MSG_COMPLETIONS_REACHED };
      } else if (succeeded > 0 && active.length === 0) success = { reason: L.REASON_COMPLETIONS_REACHED, message: L.MSG_COMPLETIONS_REACHED };
    }
  }

  let nextConds = conds;
  const setCond = (c: JobCondition) => (nextConds = setCondition(nextConds, c, now));
  if (!finished) {
    if (failure && target?.status !== 'True') {
      setCond(condition(L.COND_FAILURE_TARGET, failure.reason, failure.message, now));
    } else if (success && !failure && criteria?.status !== 'True') setCond(condition(L.COND_SUCCESS_CRITERIA_MET, success.reason, success.message, now));
  }

  // --- Pods to delete / create.
  const expect = input.expectationsSatisfied;
  const delPod = (p: Named<Pod>, reason: string) =>
    plan.deletes.push({ verb: 'delete', ref: R.pods, namespace: ns, name: p.metadata.name, uid: p.metadata.uid, reason });
  let requeue: number | undefined;
  const soon = (ms: number) => (requeue = requeue === undefined ? ms : Math.min(requeue, ms));
  if (finished || failure || success || suspended || job.metadata.deletionTimestamp) {
    if (expect && !finished && !job.metadata.deletionTimestamp) for (const p of active.slice(0, L.MAX_POD_CREATE_DELETE_PER_SYNC)) delPod(p, failure ? 'job failed' : success ? 'job succeeded' : 'job suspended');
  } else if (expect) {
    const back = backoffFrom(owned, job, now);
    const wait = back.failures > 0 ? back.lastFailure + podFailureBackoffMs(back.failures) - now : 0;
    const blockers = onlyReplaceFailedPods(job) ? terminating.length : 0;
    if (indexed) {
      const byIndex = new Map<number, Named<Pod>[]>();
      for (const p of active) {
        const ix = completionIndex(p);
        if (ix === undefined || ix >= limit || completed.has(ix) || failedIdx.has(ix)) {
          delPod(p, 'index not wanted');
          continue;
        }
        const list = byIndex.get(ix) ?? [];
        list.push(p);
        byIndex.set(ix, list);
      }
      for (const list of byIndex.values()) for (const p of podsToDelete(list, list.length - 1)) delPod(p, 'duplicate index');
      const busy = new Set(byIndex.keys());
      if (onlyReplaceFailedPods(job)) for (const p of terminating) if (completionIndex(p) !== undefined) busy.add(completionIndex(p)!);
      const room = Math.min(parallelism - byIndex.size - blockers, L.MAX_POD_CREATE_DELETE_PER_SYNC);
      const want: number[] = [];
      for (let i = 0; i < limit && want.length < room; i++) if (!completed.has(i) && !failedIdx.has(i) && !busy.has(i)) want.push(i);
      if (want.length > 0 && wait > 0) soon(wait);
      else
        for (const i of want) {
          let fc = 0;
          if (perIndexLimit !== undefined) {
            for (const p of owned) {
              if (completionIndex(p) !== i || p.status?.phase !== 'Failed') continue;
              fc = Math.max(fc, Number(p.metadata.annotations?.[L.JOB_INDEX_FAILURE_COUNT] ?? 0) + 1);
            }
          }
          plan.creates.push({ verb: 'create', ref: R.pods, namespace: ns, object: podForJob(job, i, fc) });
        }
    } else {
      const remaining = completions === undefined ? (succeeded > 0 ? 0 : parallelism) : Math.max(Math.min(completions - succeeded, parallelism), 0);
      const diff = active.length + blockers - remaining;
      if (diff > 0) for (const p of podsToDelete(active, Math.min(diff, active.length, L.MAX_POD_CREATE_DELETE_PER_SYNC))) delPod(p, 'too many active pods');
      else if (diff < 0) {
        if (wait > 0) soon(wait);
        else for (let i = 0; i < Math.min(-diff, L.MAX_POD_CREATE_DELETE_PER_SYNC); i++) plan.creates.push({ verb: 'create', ref: R.pods, namespace: ns, object: podForJob(job) });
      }
    }
  }

  // --- Status.
  const deleted = new Set(plan.deletes.map((d) => d.uid));
  const activeAfter = active.filter((p) => !deleted.has(p.metadata.uid)).length + plan.creates.length;
  const terminatingAfter = terminating.length + deleted.size;
  if (!finished) {
    if (suspended) {
      if (getCondition(nextConds, L.COND_SUSPENDED)?.status !== 'True') {
        setCond({ type: L.COND_SUSPENDED, status: 'True', reason: 'JobSuspended', message: 'Job suspended', lastProbeTime: formatTime(now) });
        plan.events.push({ type: 'Normal', reason: 'Suspended', message: 'Job suspended' });
      }
      delete status.startTime;
    } else {
      if (getCondition(nextConds, L.COND_SUSPENDED)?.status === 'True') {
        setCond({ type: L.COND_SUSPENDED, status: 'False', reason: 'JobResumed', message: 'Job resumed', lastProbeTime: formatTime(now) });
        plan.events.push({ type: 'Normal', reason: 'Resumed', message: 'Job resumed' });
        status.startTime = formatTime(now);
      }
      status.startTime ??= formatTime(now);
    }
    // The terminal condition once no pod of the Job is left running or terminating.
    const settled = activeAfter === 0 && terminatingAfter === 0;
    const ft = getCondition(nextConds, L.COND_FAILURE_TARGET);
    const sc = getCondition(nextConds, L.COND_SUCCESS_CRITERIA_MET);
    if (settled && ft?.status === 'True') {
      setCond(condition(L.COND_FAILED, ft.reason ?? '', ft.message ?? '', now));
      plan.events.push({ type: 'Warning', reason: ft.reason ?? 'Failed', message: ft.message ?? '' });
    } else if (settled && sc?.status === 'True') {
      setCond(condition(L.COND_COMPLETE, sc.reason ?? '', sc.message ?? '', now));
      status.completionTime = formatTime(now);
      plan.events.push({ type: 'Normal', reason: 'Completed', message: 'Job completed' });
    }
  }
  // Deadline: come back when it runs out.
  const ads = spec?.activeDeadlineSeconds;
  if (!finished && !failure && !suspended && ads !== undefined && ads !== null) soon(Math.max((startTime ?? now) + ads * 1000 - now, 0) + 10);

  status.conditions = nextConds.length ? nextConds : undefined;
  status.active = activeAfter;
  status.ready = active.filter((p) => !deleted.has(p.metadata.uid)).filter(isPodReady).length;
  status.terminating = terminatingAfter;
  status.succeeded = succeeded;
  status.failed = failed;
  status.uncountedTerminatedPods = {};
  if (indexed) status.completedIndexes = formatIndexes(completed);
  if (perIndexLimit !== undefined) status.failedIndexes = formatIndexes(failedIdx);
  if (JSON.stringify(normalize(status)) !== JSON.stringify(normalize(prev)) || newlyRecorded) {
    const next = clone(job);
    next.status = status;
    plan.status = { verb: 'updateStatus', ref: JOBS, namespace: ns, object: next };
  }
  if (requeue !== undefined) plan.requeueAfterMs = requeue;
  return plan;
}

/** Status without empty values, for change detection. */
function normalize(s: JobStatus): unknown {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s).sort(([a], [b]) => a.localeCompare(b))) {
    if (v === undefined || v === null || v === 0 || v === '') continue;
    if (k === 'uncountedTerminatedPods' && !(v as { succeeded?: string[] }).succeeded?.length && !(v as { failed?: string[] }).failed?.length) continue;
    o[k] = v;
  }
  return o;
}
