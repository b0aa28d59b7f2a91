/** Typed handles of the storage kinds the volume controllers read and write. */
import { resourceFor, type PersistentVolume, type PersistentVolumeClaim, type StorageClass } from '@mkube/api';
import { typedRef } from '../types.js';

export const PVS = typedRef<PersistentVolume>(resourceFor('persistentvolumes'));
export const PVCS = typedRef<PersistentVolumeClaim>(resourceFor('persistentvolumeclaims'));
export const STORAGE_CLASSES = typedRef<StorageClass>(resourceFor('storageclasses', 'storage.k8s.io'));
