/**
 * Pure decisions of the ServiceAccount and root-CA publisher controllers (as
 * kube-controller-manager's serviceaccount-controller and
 * root-ca-cert-publisher): in every namespace that is not terminating, the
 * `default` ServiceAccount exists and the `kube-root-ca.crt` ConfigMap holds
 * the cluster CA under `ca.crt` with upstream's description annotation.
 */
import type { ConfigMap, Namespace, ServiceAccount } from '@mkube/api';
import { R, type Action, type Named } from '../types.js';

export const DEFAULT_SERVICE_ACCOUNTS = ['default'];
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
export const DESCRIPTION_ANNOTATION = 'kubernetes.io/description';
export const ROOT_CA_DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

const active = (ns: Named<Namespace> | undefined): ns is Named<Namespace> => !!ns && !ns.metadata.deletionTimestamp && ns.status?.phase !== 'Terminating';

/** The ServiceAccounts missing in `ns` (given the cached ones by name). */
export function reconcileServiceAccounts(ns: Named<Namespace> | undefined, existing: (name: string) => ServiceAccount | undefined): Action[] {
  if (!active(ns)) return [];
  const namespace = ns.metadata.name;
  return DEFAULT_SERVICE_ACCOUNTS.filter((name) => !existing(name)).map((name) => {
    const object: ServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } };
    return { verb: 'create' as const, ref: R.serviceaccounts, namespace, object };
  });
}

/** Creates or corrects `kube-root-ca.crt` in `ns`. */
export function reconcileRootCa(ns: Named<Namespace> | undefined, cm: Named<ConfigMap> | undefined, caPem: string): Action[] {
  if (!active(ns)) return [];
  const namespace = ns.metadata.name;
  const data = { 'ca.crt': caPem };
  if (!cm) {
    const created: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CA_CONFIGMAP, namespace, annotations: { [DESCRIPTION_ANNOTATION]: ROOT_CA_DESCRIPTION } }, data };
    return [{ verb: 'create', ref: R.configmaps, namespace, object: created }];
  }
  const cur = cm.data ?? {};
  const same = Object.keys(cur).length === 1 && cur['ca.crt'] === caPem;
  if (same && cm.metadata.annotations?.[DESCRIPTION_ANNOTATION]) return [];
  const object: Named<ConfigMap> = { ...cm, metadata: { ...cm.metadata, annotations: { ...(cm.metadata.annotations ?? {}), [DESCRIPTION_ANNOTATION]: ROOT_CA_DESCRIPTION } }, data };
  delete object.binaryData;
  return [{ verb: 'update', ref: R.configmaps, namespace, object }];
}
