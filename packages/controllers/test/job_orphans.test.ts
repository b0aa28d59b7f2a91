// Orphaned Job pods (src/job/orphans.ts): which pods keep the tracking finalizer and which lose it.
import test from 'ava';
import type { Job, Named, Pod } from '@mkube/api';
import { isOrphanTrackedPod, removeTrackingFinalizer } from '../src/job/orphans.js';

const FIN = 'batch.kubernetes.io/job-tracking';
const job = (uid: string, extra: Partial<Named<Job>> = {}): Named<Job> => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j', namespace: 'ns', uid }, spec: { template: {} }, ...extra }) as Named<Job>;
const pod = (owner?: { kind?: string; apiVersion?: string; uid: string }, finalizers = [FIN]): Named<Pod> => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'p',
    namespace: 'ns',
    uid: 'pod-uid',
    resourceVersion: '7',
    finalizers: [...finalizers, 'example.com/keep'],
    ...(owner ? { ownerReferences: [{ apiVersion: owner.apiVersion ?? 'batch/v1', kind: owner.kind ?? 'Job', name: 'j', uid: owner.uid, controller: true }] } : {}),
  },
});
const lookup = (j?: Named<Job>) => (ns: string, name: string) => (j && ns === 'ns' && name === 'j' ? j : undefined);

test('a pod of a running Job keeps its finalizer; pods without the finalizer are never orphans', (t) => {
  t.false(isOrphanTrackedPod(pod({ uid: 'u1' }), lookup(job('u1'))));
  t.false(isOrphanTrackedPod(pod({ uid: 'u1' }, []), lookup(undefined)));
});

test('the Job gone, replaced by another uid, or finished: an orphan', (t) => {
  t.true(isOrphanTrackedPod(pod({ uid: 'u1' }), lookup(undefined)));
  t.true(isOrphanTrackedPod(pod({ uid: 'u1' }), lookup(job('u2'))));
  const done = job('u1', { status: { conditions: [{ type: 'Complete', status: 'True' }] } });
  t.true(isOrphanTrackedPod(pod({ uid: 'u1' }), lookup(done)));
  t.true(isOrphanTrackedPod(pod(undefined), lookup(undefined)), 'no controller at all');
});

test('a pod controlled by something else, or by a Job another controller manages, is left alone', (t) => {
  t.false(isOrphanTrackedPod(pod({ uid: 'u1', kind: 'ReplicaSet', apiVersion: 'apps/v1' }), lookup(undefined)));
  const external = job('u1', { spec: { template: {}, managedBy: 'example.com/other' }, status: { conditions: [{ type: 'Failed', status: 'True' }] } });
  t.false(isOrphanTrackedPod(pod({ uid: 'u1' }), lookup(external)));
});

test('removal drops only the tracking finalizer, preconditioned on the resourceVersion read', (t) => {
  const a = removeTrackingFinalizer(pod({ uid: 'u1' })) as { verb: string; object: Named<Pod> };
  t.is(a.verb, 'update');
  t.deepEqual(a.object.metadata.finalizers, ['example.com/keep']);
  t.is(a.object.metadata.resourceVersion, '7');
});
