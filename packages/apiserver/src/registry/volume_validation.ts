/**
 * Validation of a pod spec's file-producing volume sources and of volume
 * mounts' subPath, as upstream's ValidateVolumes/validateVolumeMounts: file
 * modes (secret, configMap, downwardAPI, projected: defaultMode and each
 * item's mode) in 0..0777, item paths relative with no `..` element and not
 * starting with `..`, subPath/subPathExpr relative with no `..`. Field paths
 * and messages are upstream's, including its quirks (downwardAPI items are
 * reported at the volume source's path, without an index).
 */
import type { JsonObject } from '@mkube/api';
import type { FieldError } from '../errors.js';

type Obj = JsonObject;
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]).filter(isObj) : []);
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Obj, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export const FILE_MODE_MSG = 'must be a number between 0 and 0777 (octal), both inclusive';

function validateMode(v: unknown, field: string, errs: FieldError[]): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0o777) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: FILE_MODE_MSG });
}

/** validateLocalDescendingPath: not absolute, no `..` element. */
function validateDescendingPath(path: string, field: string, errs: FieldError[]): void {
  if (path.startsWith('/')) errs.push({ type: 'FieldValueInvalid', field, value: path, detail: 'must be a relative path' });
  if (path.split('/').includes('..')) errs.push({ type: 'FieldValueInvalid', field, value: path, detail: "must not contain '..'" });
}

/** ValidateLocalNonReservedPath: a descending path that also does not start with `..`. */
function validateNonReservedPath(path: string, field: string, errs: FieldError[]): void {
  validateDescendingPath(path, field, errs);
  if (path.startsWith('..') && !path.startsWith('../')) errs.push({ type: 'FieldValueInvalid', field, value: path, detail: "must not start with '..'" });
}

function validateKeyToPath(kp: Obj, field: string, errs: FieldError[]): void {
  if (!str(own(kp, 'key'))) errs.push({ type: 'FieldValueRequired', field: `${field}.key` });
  const path = str(own(kp, 'path'));
  if (!path) errs.push({ type: 'FieldValueRequired', field: `${field}.path` });
  validateNonReservedPath(path, `${field}.path`, errs);
  validateMode(own(kp, 'mode'), `${field}.mode`, errs);
}

function validateDownwardAPIFile(file: Obj, field: string, errs: FieldError[]): void {
  const path = str(own(file, 'path'));
  if (!path) errs.push({ type: 'FieldValueRequired', field: `${field}.path` });
  validateNonReservedPath(path, `${field}.path`, errs);
  validateMode(own(file, 'mode'), `${field}.mode`, errs);
}

function validateSourceWithItems(src: Obj, nameField: 'secretName' | 'name', field: string, errs: FieldError[]): void {
  if (!str(own(src, nameField))) errs.push({ type: 'FieldValueRequired', field: `${field}.${nameField}` });
  validateMode(own(src, 'defaultMode'), `${field}.defaultMode`, errs);
  arr(own(src, 'items')).forEach((kp, i) => validateKeyToPath(kp, `${field}.items[${i}]`, errs));
}

function validateProjected(p: Obj, field: string, errs: FieldError[]): void {
  validateMode(own(p, 'defaultMode'), `${field}.defaultMode`, errs);
  const paths = new Set<string>();
  const claim = (path: string, value: unknown): void => {
    if (!path) return;
    if (paths.has(path)) errs.push({ type: 'FieldValueInvalid', field, value, detail: 'conflicting duplicate paths' });
    paths.add(path);
  };
  arr(own(p, 'sources')).forEach((source, i) => {
    const at = `${field}.sources[${i}]`;
    for (const kind of ['secret', 'configMap'] as const) {
      const src = own(source, kind);
      if (!isObj(src)) continue;
      if (!str(own(src, 'name'))) errs.push({ type: 'FieldValueRequired', field: `${at}.${kind}.name` });
      arr(own(src, 'items')).forEach((kp, j) => {
        validateKeyToPath(kp, `${at}.${kind}.items[${j}]`, errs);
        claim(str(own(kp, 'path')), own(src, 'name'));
      });
    }
    const dapi = own(source, 'downwardAPI');
    if (isObj(dapi)) {
      for (const file of arr(own(dapi, 'items'))) {
        validateDownwardAPIFile(file, `${at}.downwardAPI`, errs);
        claim(str(own(file, 'path')), own(file, 'path'));
      }
    }
    const sat = own(source, 'serviceAccountToken');
    if (isObj(sat)) {
      const path = str(own(sat, 'path'));
      if (!path) errs.push({ type: 'FieldValueRequired', field: `${field}.path` });
      else validateNonReservedPath(path, `${field}.path`, errs);
    }
  });
}

/** The volume sources of `spec.volumes` (field is the pod spec's path, e.g. `spec`). */
export function validateVolumeSources(volumes: unknown, field: string, errs: FieldError[]): void {
  arr(volumes).forEach((v, i) => {
    const at = `${field}.volumes[${i}]`;
    const secret = own(v, 'secret');
    if (isObj(secret)) validateSourceWithItems(secret, 'secretName', `${at}.secret`, errs);
    const cm = own(v, 'configMap');
    if (isObj(cm)) validateSourceWithItems(cm, 'name', `${at}.configMap`, errs);
    const dapi = own(v, 'downwardAPI');
    if (isObj(dapi)) {
      validateMode(own(dapi, 'defaultMode'), `${at}.downwardAPI.defaultMode`, errs);
      for (const file of arr(own(dapi, 'items'))) validateDownwardAPIFile(file, `${at}.downwardAPI`, errs);
    }
    const projected = own(v, 'projected');
    if (isObj(projected)) validateProjected(projected, `${at}.projected`, errs);
  });
}

/** subPath and subPathExpr of every container's volumeMounts (init, regular, ephemeral). */
export function validateSubPaths(spec: Obj, field: string, errs: FieldError[]): void {
  for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
    arr(own(spec, list)).forEach((c, i) => {
      arr(own(c, 'volumeMounts')).forEach((m, j) => {
        const at = `${field}.${list}[${i}].volumeMounts[${j}]`;
        const subPath = str(own(m, 'subPath'));
        const expr = str(own(m, 'subPathExpr'));
        if (subPath) validateDescendingPath(subPath, `${at}.subPath`, errs);
        if (expr) {
          if (subPath) errs.push({ type: 'FieldValueInvalid', field: `${at}.subPathExpr`, value: expr, detail: 'subPathExpr and subPath are mutually exclusive' });
          validateDescendingPath(expr, `${at}.subPathExpr`, errs);
        }
      });
    });
  }
}

/** Everything above for one pod spec. */
export function validatePodVolumeFiles(spec: Obj, field: string, errs: FieldError[]): void {
  validateVolumeSources(own(spec, 'volumes'), field, errs);
  validateSubPaths(spec, field, errs);
}
