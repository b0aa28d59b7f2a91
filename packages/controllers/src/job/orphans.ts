/**
 * Orphaned Job pods, free of I/O (upstream's orphan pod queue): a pod still
 * carrying the batch.kubernetes.io/job-tracking finalizer whose Job will never
 * remove it — no controller, or a Job controller that is gone (the name now
 * another uid included) or finished — gets the finalizer taken off, so a Job
 * deleted while its pods run (`kubectl delete job`, the TTL controller, a
 * CronJob's history limit or Replace) does not leave them Terminating forever.
 * Pods controlled by something other than a batch Job, and pods of Jobs
 * another controller manages (spec.managedBy), are left alone.
 */
import { controllerOf, type Job, type Pod } from '@mkube/api';
import type { Action, Named } from '../types.js';
import { R } from '../types.js';
import { JOB_TRACKING_FINALIZER } from './labels.js';
import { isJobFinished, isManagedHere } from './reconcile.js';

export const hasTrackingFinalizer = (p: Pod): boolean => (p.metadata?.finalizers ?? []).includes(JOB_TRACKING_FINALIZER);

/** Whether the pod's tracking finalizer is nobody's to remove but ours as orphan cleanup; `jobNamed` reads the Job cache. */
export function isOrphanTrackedPod(pod: Named<Pod>, jobNamed: (namespace: string, name: string) => Named<Job> | undefined): boolean {
  if (!hasTrackingFinalizer(pod)) return false;
  const ref = controllerOf(pod);
  if (!ref) return true;
  if (ref.kind !== 'Job' || ref.apiVersion !== 'batch/v1') return false;
  const job = jobNamed(pod.metadata.namespace ?? '', ref.name);
  if (!job || job.metadata.uid !== ref.uid) return true;
  if (!isManagedHere(job)) return false;
  return isJobFinished(job);
}

/** The update taking the tracking finalizer off the pod (preconditioned on the resourceVersion it was read at). */
export function removeTrackingFinalizer(pod: Named<Pod>): Action {
  const next = structuredClone(pod);
  next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f) => f !== JOB_TRACKING_FINALIZER);
  return { verb: 'update', ref: R.pods, namespace: pod.metadata.namespace, object: next };
}
