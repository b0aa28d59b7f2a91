/**
 * The two kinds of replica set the replica set controller runs, as upstream's
 * ReplicaSetController is parameterized for ReplicationControllers: what the
 * objects are (resource, kind for owner references) and how their selector
 * reads (a LabelSelector, or a ReplicationController's equality map).
 */
import type { ReplicaSet, ReplicationController } from '@mkube/api';
import { R, type LabelSelector, type ResourceRef } from '../types.js';

/** The objects a flavor manages: both have replicas, minReadySeconds, a pod template and replica counts in status. */
export type ReplicaSetLike = ReplicaSet | ReplicationController;

export interface SetFlavor<S extends ReplicaSetLike = ReplicaSetLike> {
  /** Controller name (kube-controller-manager's --controllers entry) and log field. */
  readonly name: string;
  readonly ref: ResourceRef<S>;
  /** The set's pod selector; undefined selects nothing. */
  selector(set: S): LabelSelector | undefined;
}

export const REPLICA_SET: SetFlavor<ReplicaSet> = {
  name: 'replicaset',
  ref: R.replicasets,
  selector: (set) => set.spec?.selector ?? undefined,
};

/** spec.selector is a map of labels every pod must carry (labels.SelectorFromSet). */
export const REPLICATION_CONTROLLER: SetFlavor<ReplicationController> = {
  name: 'replicationcontroller',
  ref: R.replicationcontrollers,
  selector: (set) => {
    const map = set.spec?.selector;
    return map && typeof map === 'object' ? { matchLabels: { ...map } } : undefined;
  },
};
