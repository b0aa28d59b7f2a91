/**
 * NodeRestriction for PersistentVolumes (a validating admission plugin): the
 * writes a node identity (system:node:<name>) makes as the local-path
 * provisioner it runs, and nothing more.
 *  - CREATE: only a `local` or `hostPath` volume whose path is the
 *    provisioner's directory for the claim (<root>/local-path/pvc-<uid>_<ns>_<name>,
 *    absolute and normalized), pinned to the node itself by its node affinity
 *    (exactly one term: kubernetes.io/hostname In (<node>)), whose claimRef
 *    names (with its uid) an existing claim annotated
 *    volume.kubernetes.io/selected-node = <node> and
 *    volume.kubernetes.io/storage-provisioner = mkube.io/local-path that is
 *    not bound to another volume.
 *  - UPDATE: only a volume pinned to the node, and it stays pinned to it.
 * Deletes are judged by the Node authorizer (node_authorizer.ts) from the
 * stored volume. The root dir of each node agent is its own flag, unknown to
 * the API server: the path check pins the provisioner's layout below it.
 */
import { posix } from 'node:path';
import {
  ANN_BETA_STORAGE_PROVISIONER,
  ANN_SELECTED_NODE,
  ANN_STORAGE_PROVISIONER,
  LOCAL_PATH_DIR,
  LOCAL_PATH_PROVISIONER,
  findResource,
  localPathVolumeDirName,
  volumePinnedNode,
  type JsonObject,
  type PersistentVolume,
  type PersistentVolumeClaim,
} from '@mkube/api';
import type { AdmissionAttributes, ValidatingAdmission } from '../admission/admission.js';
import { ApiError } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import { nodeNameOf } from './node_authorizer.js';
import { forbidden } from './node_restriction.js';

const isObj = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: unknown, key: string): unknown => (isObj(o) && Object.hasOwn(o, key) ? o[key] : undefined);
const ownString = (o: unknown, key: string): string | undefined => {
  const v = own(o, key);
  return typeof v === 'string' ? v : undefined;
};

/** The path of a local or hostPath volume source, or undefined for any other source. */
function hostDirectory(spec: unknown): string | undefined {
  return ownString(own(spec, 'local'), 'path') ?? ownString(own(spec, 'hostPath'), 'path');
}

export class NodeVolumeRestriction implements ValidatingAdmission {
  readonly name = 'NodeRestriction';
  private readonly pvs = findResource('', 'v1', 'persistentvolumes')!;
  private readonly pvcs = findResource('', 'v1', 'persistentvolumeclaims')!;

  constructor(private readonly registry: Registry) {}

  async validate(a: AdmissionAttributes): Promise<void> {
    if (a.info.group !== '' || a.info.resource !== 'persistentvolumes') return;
    const node = a.context?.user ? nodeNameOf(a.context.user) : undefined;
    if (node === undefined) return;
    if (a.operation === 'UPDATE') return this.admitUpdate(node, a);
    return this.admitCreate(node, a);
  }

  private admitUpdate(node: string, a: AdmissionAttributes): void {
    const old = (a.oldObj ?? {}) as PersistentVolume;
    if (volumePinnedNode(old) !== node) throw forbidden(this.pvs, a.name, `node "${node}" can only modify persistentvolumes with node affinity to itself`);
    if (volumePinnedNode(a.obj as PersistentVolume) !== node) throw forbidden(this.pvs, a.name, `node "${node}" is not allowed to change the node affinity of persistentvolume "${a.name}"`);
  }

  private async admitCreate(node: string, a: AdmissionAttributes): Promise<void> {
    const deny = (why: string) => forbidden(this.pvs, a.name, `node "${node}" ${why}`);
    const spec = own(a.obj, 'spec');
    const path = hostDirectory(spec);
    if (path === undefined) throw deny('can only create local or hostPath persistentvolumes');
    if (volumePinnedNode(a.obj as PersistentVolume) !== node) {
      throw deny(`can only create persistentvolumes whose node affinity requires kubernetes.io/hostname in (${node}) and nothing else`);
    }
    const ref = own(spec, 'claimRef');
    const ns = ownString(ref, 'namespace');
    const claimName = ownString(ref, 'name');
    const uid = ownString(ref, 'uid');
    const forClaim = `can only create persistentvolumes for claims with ${ANN_SELECTED_NODE}=${node} and ${ANN_STORAGE_PROVISIONER}=${LOCAL_PATH_PROVISIONER}`;
    if (!ns || !claimName || !uid) throw deny(`${forClaim}: spec.claimRef must name the claim with its namespace and uid`);
    let claim: PersistentVolumeClaim;
    try {
      claim = (await this.registry.get(this.pvcs, ns, claimName)) as PersistentVolumeClaim;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) throw deny(`${forClaim}: persistentvolumeclaim "${ns}/${claimName}" not found`);
      throw err;
    }
    const ann = own(own(claim, 'metadata'), 'annotations');
    const provisioner = ownString(ann, ANN_STORAGE_PROVISIONER) ?? ownString(ann, ANN_BETA_STORAGE_PROVISIONER);
    if (claim.metadata?.uid !== uid || ownString(ann, ANN_SELECTED_NODE) !== node || provisioner !== LOCAL_PATH_PROVISIONER) {
      throw deny(`${forClaim}: persistentvolumeclaim "${ns}/${claimName}" (uid ${uid}) is not one`);
    }
    const bound = claim.spec?.volumeName;
    if (bound && bound !== a.name) throw deny(`cannot create a persistentvolume for claim "${ns}/${claimName}": it is bound to persistentvolume "${bound}"`);
    const dir = localPathVolumeDirName(claim);
    const parent = posix.dirname(path);
    if (!posix.isAbsolute(path) || posix.normalize(path) !== path || posix.basename(path) !== dir || posix.basename(parent) !== LOCAL_PATH_DIR) {
      throw deny(`can only create persistentvolumes at the local-path provisioner's directory for the claim (<root>/${LOCAL_PATH_DIR}/${dir}), not at "${path}"`);
    }
  }
}
