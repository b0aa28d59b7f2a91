/**
 * Pure decisions of the ServiceAccount and root-CA publisher controllers (as
 * kube-controller-manager's serviceaccount-controller and
 * root-ca-cert-publisher): in every namespace that is not terminating, the
 * `default` ServiceAccount exists and the `kube-root-ca.crt` ConfigMap holds
 * the cluster CA under `ca.crt` with upstream's description annotation.
 */
import type { Action, KObject } from '../types.js';
import { R2 } from './resources.js';

export const DEFAULT_SERVICE_ACCOUNTS = ['default'];
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
export const DESCRIPTION_ANNOTATION = 'kubernetes.io/description';
export const ROOT_CA_DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

const active = (ns: KObject | undefined): ns is KObject => !!ns && !ns.metadata.deletionTimestamp && ns.status?.phase !== 'Terminating';

/** The ServiceAccounts missing in `ns` (given the cached ones by name). */
export function reconcileServiceAccounts(ns: KObject | undefined, existing: (name: string) => KObject | undefined): Action[] {
  if (!active(ns)) return [];
  const namespace = ns.metadata.name!;
  return DEFAULT_SERVICE_ACCOUNTS.filter((name) => !existing(name)).map((name) => ({
    verb: 'create' as const,
    ref: R2.serviceaccounts,
    namespace,
    object: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } },
  }));
}

/** Creates or corrects `kube-root-ca.crt` in `ns`. */
export function reconcileRootCa(ns: KObject | undefined, cm: KObject | undefined, caPem: string): Action[] {
  if (!active(ns)) return [];
  const namespace = ns.metadata.name!;
  const data = { 'ca.crt': caPem };
  if (!cm) {
    return [{
      verb: 'create',
      ref: R2.configmaps,
      namespace,
      object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CA_CONFIGMAP, namespace, annotations: { [DESCRIPTION_ANNOTATION]: ROOT_CA_DESCRIPTION } }, data },
    }];
  }
  const cur = (cm.data ?? {}) as Record<string, string>;
  const same = Object.keys(cur).length === 1 && cur['ca.crt'] === caPem;
  if (same && cm.metadata.annotations?.[DESCRIPTION_ANNOTATION]) return [];
  const object: KObject = { ...cm, metadata: { ...cm.metadata, annotations: { ...(cm.metadata.annotations ?? {}), [DESCRIPTION_ANNOTATION]: ROOT_CA_DESCRIPTION } }, data };
  delete object.binaryData;
  return [{ verb: 'update', ref: R2.configmaps, namespace, object }];
}
