/**
 * What the controllers share about objects: the kinds they read and write
 * (the generated types of @mkube/api), typed handles into @mkube/api's one
 * resource table, and the actions a reconcile decides on.
 */
import type {
  ConfigMap,
  Deployment,
  Endpoints,
  EndpointSlice,
  KubeObject,
  Lease,
  Named,
  Namespace,
  Node,
  Pod,
  ReplicaSet,
  ReplicationController,
  ResourceInfo,
  Service,
  ServiceAccount,
} from '@mkube/api';
import { Resources } from '@mkube/client';

export type { KubeObject, Named, ObjectMeta, OwnerReference, LabelSelector, LabelSelectorRequirement, Taint, Toleration } from '@mkube/api';

/**
 * A resource of the table, typed by the kind of its objects (the type
 * parameter only informs the compiler: informers of R.pods hold Pods).
 */
export interface ResourceRef<T extends KubeObject = KubeObject> extends Pick<ResourceInfo, 'group' | 'version' | 'apiVersion' | 'resource' | 'kind' | 'namespaced'> {
  readonly __object?: T;
}

/** A handle for a resource of the table whose objects are of kind T. */
export const typedRef = <T extends KubeObject>(info: ResourceInfo): ResourceRef<T> => info;

/** The resources the controllers read and write. */
export const R = {
  pods: typedRef<Pod>(Resources.pods),
  services: typedRef<Service>(Resources.services),
  endpoints: typedRef<Endpoints>(Resources.endpoints),
  nodes: typedRef<Node>(Resources.nodes),
  namespaces: typedRef<Namespace>(Resources.namespaces),
  leases: typedRef<Lease>(Resources.leases),
  replicasets: typedRef<ReplicaSet>(Resources.replicasets),
  replicationcontrollers: typedRef<ReplicationController>(Resources.replicationcontrollers),
  deployments: typedRef<Deployment>(Resources.deployments),
  serviceaccounts: typedRef<ServiceAccount>(Resources.serviceaccounts),
  configmaps: typedRef<ConfigMap>(Resources.configmaps),
  endpointslices: typedRef<EndpointSlice>(Resources.endpointslices),
} as const;

/**
 * What a reconcile decided to do; an executor turns these into API calls.
 * `update` and `updateStatus` carry the full object with the resourceVersion
 * it was computed from, so a stale decision fails with a conflict.
 */
export type Action =
  | { verb: 'create'; ref: ResourceRef; namespace?: string; object: KubeObject }
  | { verb: 'update'; ref: ResourceRef; namespace?: string; object: Named }
  | { verb: 'updateStatus'; ref: ResourceRef; namespace?: string; object: Named }
  | {
      verb: 'delete';
      ref: ResourceRef;
      namespace?: string;
      name: string;
      /** Precondition: only delete this incarnation. */
      uid?: string;
      propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
      /** Why (for logs and tests). */
      reason?: string;
    };
