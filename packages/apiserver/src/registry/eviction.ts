/**
 * The pods/eviction subresource (POST …/pods/NAME/eviction with a policy/v1
 * Eviction body), as upstream's EvictionREST: a pod already terminal,
 * pending or terminating is deleted at once; otherwise the one
 * PodDisruptionBudget selecting it must allow a disruption, which is taken
 * by decrementing status.disruptionsAllowed and recording the pod in
 * status.disruptedPods in a compare-and-swap update of the PDB's status
 * (re-evaluated on conflict); refused with 429 TooManyRequests and the
 * DisruptionBudget cause. The pod then gets the DisruptionTarget condition
 * and is deleted with the eviction's DeleteOptions.
 */
import {
  findResource,
  formatTime,
  isConditionTrue,
  labelSelectorAsSelector,
  selectorMatches,
  setCondition,
  type JsonObject,
  type LabelSelector,
  type PodCondition,
  type PodDisruptionBudget,
  type PodDisruptionBudgetStatus,
  type Condition,
} from '@mkube/api';
import { ApiError, errors } from '../errors.js';
import type { DeleteOptions, Registry } from './registry.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const PODS = findResource('', 'v1', 'pods')!;
const PDBS = findResource('policy', 'v1', 'poddisruptionbudgets')!;

/** Upstream's MaxDisruptedPodSize: more unconfirmed evictions than this are refused. */
export const MAX_DISRUPTED_POD_SIZE = 2000;
export const EVICTION_REFUSED_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget.";
/** policyv1.DisruptionBudgetCause. */
export const DISRUPTION_BUDGET_CAUSE = 'DisruptionBudget';

export interface EvictionOptions {
  /** dryRun from the request's query (CreateOptions), merged into the eviction's DeleteOptions. */
  dryRun?: boolean;
  now?: () => number;
}

function tooManyRequests(message: string, retryAfterSeconds: number): ApiError {
  return new ApiError(429, 'TooManyRequests', EVICTION_REFUSED_MESSAGE, { causes: [{ reason: DISRUPTION_BUDGET_CAUSE, message }], retryAfterSeconds });
}

/** Pods upstream evicts without consulting a budget: terminal, pending or already terminating (canIgnorePDB). */
function canIgnorePdb(pod: Obj): boolean {
  const phase = String((isObj(pod.status) ? pod.status.phase : undefined) ?? '');
  return phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || !!(isObj(pod.metadata) && pod.metadata.deletionTimestamp);
}

const isPodReady = (pod: Obj): boolean => isConditionTrue((isObj(pod.status) ? pod.status.conditions : undefined) as PodCondition[] | undefined, 'Ready');

/** Budgets of the pod's namespace whose selector selects it (policy/v1: nil selects nothing, empty every pod). */
async function budgetsFor(registry: Registry, ns: string, pod: Obj): Promise<PodDisruptionBudget[]> {
  const labels = ((isObj(pod.metadata) ? pod.metadata.labels : undefined) ?? {}) as Record<string, string>;
  const { items } = await registry.list(PDBS, ns, { selection: { labels: [], fields: [] } });
  return (items as PodDisruptionBudget[]).filter((pdb) => {
    try {
      const sel = labelSelectorAsSelector(pdb.spec?.selector as LabelSelector | undefined);
      return selectorMatches(sel, labels);
    } catch {
      return false;
    }
  });
}

/** The eviction's DeleteOptions as the registry takes them (dryRun from the body or the query). */
function deleteOptionsOf(eviction: Obj, opts: EvictionOptions): DeleteOptions & { rvSet: boolean } {
  const d = isObj(eviction.deleteOptions) ? eviction.deleteOptions : {};
  const pre = isObj(d.preconditions) ? d.preconditions : {};
  const dryRun = opts.dryRun === true || (Array.isArray(d.dryRun) && d.dryRun.length > 0);
  const rv = typeof pre.resourceVersion === 'string' && pre.resourceVersion !== '' ? pre.resourceVersion : undefined;
  return {
    gracePeriodSeconds: typeof d.gracePeriodSeconds === 'number' ? d.gracePeriodSeconds : undefined,
    preconditions: { uid: typeof pre.uid === 'string' && pre.uid !== '' ? pre.uid : undefined, resourceVersion: rv },
    propagationPolicy: typeof d.propagationPolicy === 'string' ? d.propagationPolicy : undefined,
    dryRun,
    rvSet: rv !== undefined,
  };
}

/**
 * checkAndDecrement against the PDB as it is in the store: refused while the
 * controller has not observed its generation (retry after 10 s), when no
 * disruption is allowed, or when too many evictions are unconfirmed.
 */
function takeDisruption(pdb: PodDisruptionBudget, podName: string, nowMs: number): PodDisruptionBudget {
  const name = pdb.metadata?.name ?? '';
  const status: PodDisruptionBudgetStatus = pdb.status ?? { currentHealthy: 0, desiredHealthy: 0, disruptionsAllowed: 0, expectedPods: 0 };
  if (Number(status.observedGeneration ?? 0) < Number(pdb.metadata?.generation ?? 0)) {
    throw tooManyRequests(`The disruption budget ${name} is still being processed by the server.`, 10);
  }
  const allowed = Number(status.disruptionsAllowed ?? 0);
  if (allowed < 0) throw errors.forbidden(`poddisruptionbudgets.policy "${name}" is forbidden: pdb disruptions allowed is negative`, { name, group: 'policy', kind: 'poddisruptionbudgets' });
  if (Object.keys(status.disruptedPods ?? {}).length > MAX_DISRUPTED_POD_SIZE) {
    throw errors.forbidden(`poddisruptionbudgets.policy "${name}" is forbidden: DisruptedPods map too big - too many evictions not confirmed by PDB controller`, { name, group: 'policy', kind: 'poddisruptionbudgets' });
  }
  if (allowed === 0) {
    throw tooManyRequests(`The disruption budget ${name} needs ${Number(status.desiredHealthy ?? 0)} healthy pods and has ${Number(status.currentHealthy ?? 0)} currently`, 0);
  }
  const next: PodDisruptionBudget = { ...pdb, status: { ...status, disruptionsAllowed: allowed - 1, disruptedPods: { ...(status.disruptedPods ?? {}), [podName]: formatTime(nowMs) } } };
  if (allowed - 1 === 0) {
    // pdbhelper.UpdateDisruptionAllowedCondition with no disruption left (an empty time becomes now when the status changes).
    const cond: Condition = { type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods', message: '', observedGeneration: status.observedGeneration ?? 0, lastTransitionTime: '' };
    next.status!.conditions = setCondition(status.conditions, cond, nowMs);
  }
  return next;
}

/** addConditionAndDeletePod: DisruptionTarget=True (EvictionByEvictionAPI) through the status, then the delete. */
async function addConditionAndDelete(registry: Registry, ns: string, name: string, del: DeleteOptions & { rvSet: boolean }, nowMs: number): Promise<void> {
  let options: DeleteOptions = del;
  if (!del.dryRun) {
    const pre = del.preconditions ?? {};
    const podRef = { group: '', resource: 'pods' };
    let written: Obj;
    try {
      ({ obj: written } = await registry.update(PODS, ns, name, (cur) => {
        const uid = String((isObj(cur.metadata) ? cur.metadata.uid : undefined) ?? '');
        if (pre.uid && pre.uid !== uid) {
          throw errors.conflict(podRef, name, `the UID in the precondition (${pre.uid}) does not match the UID in record (${uid}). The object might have been deleted and then recreated`);
        }
        const status = isObj(cur.status) ? cur.status : {};
        const cond: PodCondition = { type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI', message: 'Eviction API: evicting' };
        status.conditions = setCondition(status.conditions as unknown as PodCondition[] | undefined, cond, nowMs) as unknown as Obj[];
        cur.status = status;
        return cur;
      }, { subresource: 'status', preconditionRv: pre.resourceVersion ? Number(pre.resourceVersion) : undefined }));
    } catch (err) {
      if (err instanceof ApiError && err.code === 409 && pre.resourceVersion && !/UID in the precondition/.test(err.message)) {
        throw errors.conflict(podRef, name, `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record. The object might have been modified`);
      }
      throw err;
    }
    // Our own write moved the resourceVersion: a precondition on it follows.
    if (del.rvSet) options = { ...del, preconditions: { ...del.preconditions, resourceVersion: String((written.metadata as Obj).resourceVersion) } };
  }
  await registry.delete(PODS, ns, name, options);
}

/** POST pods/NAME/eviction: the Status to answer (201), or an ApiError (429 when a budget forbids it). */
export async function evictPod(registry: Registry, ns: string, name: string, eviction: unknown, opts: EvictionOptions = {}): Promise<Obj> {
  const now = opts.now ?? Date.now;
  if (!isObj(eviction)) throw errors.badRequest('the body of the request must be a JSON object');
  const evName = isObj(eviction.metadata) ? eviction.metadata.name : undefined;
  if (evName !== name) throw errors.badRequest('name in URL does not match name in Eviction object');
  const del = deleteOptionsOf(eviction, opts);
  const success: Obj = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };

  const pod = await registry.get(PODS, ns, name);
  if (canIgnorePdb(pod)) {
    // A terminal, pending or terminating pod: deleted directly, guarded by the resourceVersion read (unless the caller set one).
    const guarded = del.rvSet ? del : { ...del, rvSet: true, preconditions: { ...del.preconditions, resourceVersion: String((pod.metadata as Obj).resourceVersion) } };
    await addConditionAndDelete(registry, ns, name, guarded, now());
    return success;
  }

  const pdbs = await budgetsFor(registry, ns, pod);
  if (pdbs.length > 1) {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.', code: 500 };
  }
  let guard = del;
  if (pdbs.length === 1) {
    const pdb = pdbs[0]!;
    const pdbName = pdb.metadata?.name ?? '';
    const unhealthyAllowed =
      !isPodReady(pod) &&
      (pdb.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' || (Number(pdb.status?.currentHealthy ?? 0) >= Number(pdb.status?.desiredHealthy ?? 0) && Number(pdb.status?.desiredHealthy ?? 0) > 0));
    if (unhealthyAllowed) {
      // The pod must not have become ready (healthy) since it was read.
      guard = { ...del, rvSet: true, preconditions: { ...del.preconditions, resourceVersion: String((pod.metadata as Obj).resourceVersion) } };
    } else {
      // The registry's update is a compare-and-swap loop: a conflicting write re-runs the check on the newer budget.
      try {
        await registry.update(PDBS, ns, pdbName, (cur) => takeDisruption(cur as PodDisruptionBudget, name, now()) as Obj, { subresource: 'status', dryRun: del.dryRun });
      } catch (err) {
        if (err instanceof ApiError && err.code === 409) throw errors.timeout(`couldn't update PodDisruptionBudget "${pdbName}" due to conflicts`);
        throw err;
      }
    }
  }
  await addConditionAndDelete(registry, ns, name, guard, now());
  return success;
}
