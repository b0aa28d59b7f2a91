/**
 * The cluster's default StorageClass, created by `mkube up`: `local-path`
 * (provisioner mkube.io/local-path, run by every node agent for claims
 * selected to its node; WaitForFirstConsumer so the volume is made where the
 * pod is scheduled; Delete reclaim), marked
 * storageclass.kubernetes.io/is-default-class so claims without a class get
 * it. `mkube up` rather than the API server: the class is only honest where
 * node agents run the provisioner (as minikube's and kind's addons install
 * theirs), and an administrator may delete or replace it, which a class the
 * API server recreated at every start would undo.
 */
import type { AdminCreds } from './api_probe.js';
import { apiCall } from './cluster_dns.js';

export const DEFAULT_STORAGE_CLASS = 'local-path';
export const LOCAL_PATH_PROVISIONER = 'mkube.io/local-path';

/** Creates the class if it does not exist (an existing one, possibly changed by the administrator, is kept). */
export async function ensureDefaultStorageClass(c: AdminCreds): Promise<'created' | 'exists'> {
  const sc = {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: DEFAULT_STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    provisioner: LOCAL_PATH_PROVISIONER,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
  };
  const r = await apiCall(c, 'POST', '/apis/storage.k8s.io/v1/storageclasses', sc);
  if (r.status === 201) return 'created';
  if (r.status === 409) return 'exists';
  throw new Error(`creating StorageClass ${DEFAULT_STORAGE_CLASS}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
}
