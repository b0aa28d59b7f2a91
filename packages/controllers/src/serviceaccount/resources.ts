/** The resources the ServiceAccount and root-CA controllers read and write. */
import type { ResourceRef } from '../types.js';

export const R2 = {
  serviceaccounts: { group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  configmaps: { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true },
} as const satisfies Record<string, ResourceRef>;
