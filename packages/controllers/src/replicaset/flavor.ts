/**
 * The two kinds of replica set the replica set controller runs, as upstream's
 * ReplicaSetController is parameterized for ReplicationControllers: what the
 * objects are (resource, kind for owner references) and how their selector
 * reads (a LabelSelector, or a ReplicationController's equality map).
 */
import { R, type KObject, type LabelSelector, type ResourceRef } from '../types.js';

export interface SetFlavor {
  /** Controller name (kube-controller-manager's --controllers entry) and log field. */
  readonly name: string;
  readonly ref: ResourceRef;
  /** The set's pod selector; undefined selects nothing. */
  selector(set: KObject): LabelSelector | undefined;
}

export const REPLICA_SET: SetFlavor = {
  name: 'replicaset',
  ref: R.replicasets,
  selector: (set) => set.spec?.selector ?? undefined,
};

/** spec.selector is a map of labels every pod must carry (labels.SelectorFromSet). */
export const REPLICATION_CONTROLLER: SetFlavor = {
  name: 'replicationcontroller',
  ref: R.replicationcontrollers,
  selector: (set) => {
    const map = set.spec?.selector as Record<string, string> | undefined | null;
    return map && typeof map === 'object' ? { matchLabels: { ...map } } : undefined;
  },
};
