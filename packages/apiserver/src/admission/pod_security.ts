/**
 * The Pod Security Standards as upstream's k8s.io/pod-security-admission
 * policy package evaluates them: the baseline and restricted checks over a
 * pod's metadata and spec (plain JSON, own properties only), with upstream's
 * forbidden reasons and details, their order (baseline check IDs sorted, then
 * restricted check IDs sorted; a restricted check replaces the baseline check
 * it overrides), the aggregate "reason (detail), ..." text, and the namespace
 * label parsing (levels, versions, field errors).
 *
 * Versions: `-version` labels are accepted and validated as upstream
 * (`latest` or `v1.N`) and appear in messages ("restricted:v1.30"), but the
 * checks applied are always the latest ones (upstream's v1.35 policy), also
 * for a namespace pinned to an older version.
 *
 * Pure functions: no I/O.
 */
import type { JsonObject } from '@mkube/api';
import type { FieldError } from '../errors.js';

type Obj = JsonObject;

export type Level = 'privileged' | 'baseline' | 'restricted';
export const LEVELS: readonly Level[] = ['privileged', 'baseline', 'restricted'];

/** A level with the policy version it is pinned to ("latest" or "v1.N"). */
export interface LevelVersion {
  level: Level;
  version: string;
}

export interface Policy {
  enforce: LevelVersion;
  audit: LevelVersion;
  warn: LevelVersion;
}

/** One failed check: upstream's ForbiddenReason and (optional) ForbiddenDetail. */
export interface Violation {
  reason: string;
  detail: string;
}

export const LABEL_PREFIX = 'pod-security.kubernetes.io/';
export const ENFORCE_LEVEL_LABEL = `${LABEL_PREFIX}enforce`;
export const ENFORCE_VERSION_LABEL = `${LABEL_PREFIX}enforce-version`;
export const AUDIT_LEVEL_LABEL = `${LABEL_PREFIX}audit`;
export const AUDIT_VERSION_LABEL = `${LABEL_PREFIX}audit-version`;
export const WARN_LEVEL_LABEL = `${LABEL_PREFIX}warn`;
export const WARN_VERSION_LABEL = `${LABEL_PREFIX}warn-version`;

export const PRIVILEGED_LATEST: LevelVersion = { level: 'privileged', version: 'latest' };
export const DEFAULT_POLICY: Policy = { enforce: PRIVILEGED_LATEST, audit: PRIVILEGED_LATEST, warn: PRIVILEGED_LATEST };

export function levelVersionString(lv: LevelVersion): string {
  return `${lv.level}:${lv.version}`;
}

export function sameLevelVersion(a: LevelVersion, b: LevelVersion): boolean {
  return a.level === b.level && a.version === b.version;
}

/** -1 when a is less strict than b, 0 when equal, 1 when stricter. */
export function compareLevels(a: Level, b: Level): number {
  return Math.sign(LEVELS.indexOf(a) - LEVELS.indexOf(b));
}

// ---------------------------------------------------------------- labels

function parseLevel(value: string): { level: Level; error?: string } {
  if ((LEVELS as readonly string[]).includes(value)) return { level: value as Level };
  return { level: 'restricted', error: `must be one of ${LEVELS.join(', ')}` };
}

function parseVersion(value: string): { version: string; error?: string } {
  if (value === 'latest' || /^v1\.([0-9]|[1-9][0-9]*)$/.test(value)) return { version: value };
  return { version: 'latest', error: 'must be "latest" or "v1.x"' };
}

/**
 * The policy a namespace's labels ask for, over `defaults` for labels not
 * set, with a field error per unparsable label (as upstream's
 * PolicyToEvaluate: an invalid enforce level means restricted, an invalid
 * audit or warn level means privileged, an invalid version means latest).
 */
export function policyToEvaluate(labels: unknown, defaults: Policy = DEFAULT_POLICY): { policy: Policy; errors: FieldError[] } {
  const p: Policy = { enforce: { ...defaults.enforce }, audit: { ...defaults.audit }, warn: { ...defaults.warn } };
  const errors: FieldError[] = [];
  if (!isObj(labels)) return { policy: p, errors };
  const label = (key: string): string | undefined => (Object.hasOwn(labels, key) && typeof labels[key] === 'string' ? (labels[key] as string) : undefined);
  const fail = (key: string, value: string, detail: string) => errors.push({ type: 'FieldValueInvalid', field: `metadata.labels[${key}]`, value, detail });
  const modes: [keyof Policy, string, string][] = [
    ['enforce', ENFORCE_LEVEL_LABEL, ENFORCE_VERSION_LABEL],
    ['audit', AUDIT_LEVEL_LABEL, AUDIT_VERSION_LABEL],
    ['warn', WARN_LEVEL_LABEL, WARN_VERSION_LABEL],
  ];
  for (const [mode, levelKey, versionKey] of modes) {
    const lv = label(levelKey);
    if (lv !== undefined) {
      const r = parseLevel(lv);
      p[mode].level = r.error && mode !== 'enforce' ? 'privileged' : r.level; // audit and warn fail open
      if (r.error) fail(levelKey, lv, r.error);
    }
    const vv = label(versionKey);
    if (vv !== undefined) {
      const r = parseVersion(vv);
      p[mode].version = r.version;
      if (r.error) fail(versionKey, vv, r.error);
    }
  }
  // As upstream: without a warn label, warn defaults to an explicitly set, stricter enforce level (and its version).
  if (label(ENFORCE_LEVEL_LABEL) !== undefined && label(WARN_LEVEL_LABEL) === undefined && compareLevels(p.enforce.level, p.warn.level) > 0) {
    p.warn.level = p.enforce.level;
    if (label(WARN_VERSION_LABEL) === undefined) p.warn.version = p.enforce.version;
  }
  return { policy: p, errors };
}

// ---------------------------------------------------------------- reading pod JSON

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: unknown, k: string): unknown => (isObj(o) && Object.hasOwn(o, k) ? o[k] : undefined);
const objAt = (o: unknown, k: string): Obj | undefined => {
  const v = own(o, k);
  return isObj(v) ? v : undefined;
};
const listAt = (o: unknown, k: string): Obj[] => {
  const v = own(o, k);
  return Array.isArray(v) ? v.filter(isObj) : [];
};
const strAt = (o: unknown, k: string): string => {
  const v = own(o, k);
  return typeof v === 'string' ? v : '';
};
const stringsAt = (o: unknown, k: string): string[] => {
  const v = own(o, k);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
};

/** Init containers, containers, then ephemeral containers (upstream's visitor order). */
function containers(spec: Obj): Obj[] {
  return [...listAt(spec, 'initContainers'), ...listAt(spec, 'containers'), ...listAt(spec, 'ephemeralContainers')];
}

const name = (c: Obj) => strAt(c, 'name');
const sc = (c: Obj) => objAt(c, 'securityContext');
const podSc = (spec: Obj) => objAt(spec, 'securityContext');
const joinQuote = (items: string[]) => (items.length === 0 ? '' : `"${items.join('", "')}"`);
const pluralize = (singular: string, plural: string, n: number) => (n === 1 ? singular : plural);
const sorted = (s: Iterable<string>) => [...new Set(s)].sort();
const containersPhrase = (names: string[]) => `${pluralize('container', 'containers', names.length)} ${joinQuote(names)}`;
/** Pods with spec.os.name=windows are exempt from some restricted checks (policy 1.25+). */
const isWindows = (spec: Obj) => strAt(objAt(spec, 'os'), 'name') === 'windows';
/** User-namespaced pods (hostUsers: false) relax some checks (policy 1.35+). */
const userNamespaced = (spec: Obj) => own(spec, 'hostUsers') === false;

type CheckFn = (meta: Obj, spec: Obj) => Violation | undefined;

// ---------------------------------------------------------------- baseline checks

const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

const appArmorProfile: CheckFn = (meta, spec) => {
  const allowedType = (t: unknown) => t === 'RuntimeDefault' || t === 'Localhost';
  const setters: string[] = [];
  const badValues: string[] = [];
  const pod = objAt(podSc(spec), 'appArmorProfile');
  if (pod && !allowedType(own(pod, 'type'))) {
    setters.push('pod');
    badValues.push(strAt(pod, 'type'));
  }
  const bad: string[] = [];
  for (const c of containers(spec)) {
    const p = objAt(sc(c), 'appArmorProfile');
    if (p && !allowedType(own(p, 'type'))) {
      bad.push(name(c));
      badValues.push(strAt(p, 'type'));
    }
  }
  if (bad.length) setters.push(containersPhrase(bad));
  const annotations = objAt(meta, 'annotations') ?? {};
  const forbiddenAnnotations: string[] = [];
  for (const [k, v] of Object.entries(annotations)) {
    if (!k.startsWith(APPARMOR_ANNOTATION_PREFIX) || typeof v !== 'string') continue;
    if (v === '' || v === 'runtime/default' || v.startsWith('localhost/')) continue;
    forbiddenAnnotations.push(`${k}=${JSON.stringify(v)}`);
  }
  const values = sorted(badValues);
  if (forbiddenAnnotations.length) {
    values.push(...forbiddenAnnotations.sort());
    setters.push(pluralize('annotation', 'annotations', forbiddenAnnotations.length));
  }
  if (!setters.length) return undefined;
  return {
    reason: pluralize('forbidden AppArmor profile', 'forbidden AppArmor profiles', values.length),
    detail: `${setters.join(' and ')} must not set AppArmor profile type to ${joinQuote(values)}`,
  };
};

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);

const capabilitiesBaseline: CheckFn = (_meta, spec) => {
  const bad: string[] = [];
  const caps: string[] = [];
  for (const c of containers(spec)) {
    const added = stringsAt(objAt(sc(c), 'capabilities'), 'add').filter((cap) => !BASELINE_CAPABILITIES.has(cap));
    if (added.length) {
      bad.push(name(c));
      caps.push(...added);
    }
  }
  if (!bad.length) return undefined;
  return { reason: 'non-default capabilities', detail: `${containersPhrase(bad)} must not include ${joinQuote(sorted(caps))} in securityContext.capabilities.add` };
};

const hostNamespaces: CheckFn = (_meta, spec) => {
  const set = (['hostNetwork', 'hostPID', 'hostIPC'] as const).filter((k) => own(spec, k) === true).map((k) => `${k}=true`);
  return set.length ? { reason: 'host namespaces', detail: set.join(', ') } : undefined;
};

const hostPathVolumes: CheckFn = (_meta, spec) => {
  const vols = listAt(spec, 'volumes').filter((v) => objAt(v, 'hostPath')).map(name);
  return vols.length ? { reason: 'hostPath volumes', detail: `${pluralize('volume', 'volumes', vols.length)} ${joinQuote(vols)}` } : undefined;
};

const hostPorts: CheckFn = (_meta, spec) => {
  const bad: string[] = [];
  const ports: string[] = [];
  for (const c of containers(spec)) {
    const used = listAt(c, 'ports').map((p) => own(p, 'hostPort')).filter((hp) => typeof hp === 'number' && hp !== 0);
    if (used.length) {
      bad.push(name(c));
      ports.push(...used.map(String));
    }
  }
  if (!bad.length) return undefined;
  const list = sorted(ports);
  return {
    reason: 'hostPort',
    detail: `${containersPhrase(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('hostPort', 'hostPorts', list.length)} ${list.join(', ')}`,
  };
};

const hostProbesAndHostLifecycle: CheckFn = (_meta, spec) => {
  const bad = new Set<string>();
  const hosts: string[] = [];
  const handlerHosts = (h: Obj | undefined) => (h ? [strAt(objAt(h, 'httpGet'), 'host'), strAt(objAt(h, 'tcpSocket'), 'host')].filter(Boolean) : []);
  for (const c of containers(spec)) {
    const lifecycle = objAt(c, 'lifecycle');
    const found = [
      ...handlerHosts(objAt(c, 'livenessProbe')),
      ...handlerHosts(objAt(c, 'readinessProbe')),
      ...handlerHosts(objAt(c, 'startupProbe')),
      ...handlerHosts(objAt(lifecycle, 'postStart')),
      ...handlerHosts(objAt(lifecycle, 'preStop')),
    ];
    if (found.length) {
      bad.add(name(c));
      hosts.push(...found);
    }
  }
  if (!bad.size) return undefined;
  const names = sorted(bad);
  const list = sorted(hosts);
  return {
    reason: 'probe or lifecycle host',
    detail: `${containersPhrase(names)} ${pluralize('uses', 'use', names.length)} ${pluralize('probe or lifecycle host', 'probe or lifecycle hosts', list.length)} ${joinQuote(list)}`,
  };
};

const privileged: CheckFn = (_meta, spec) => {
  const bad = containers(spec).filter((c) => own(sc(c), 'privileged') === true).map(name);
  return bad.length ? { reason: 'privileged', detail: `${containersPhrase(bad)} must not set securityContext.privileged=true` } : undefined;
};

function procMountViolation(spec: Obj): Violation | undefined {
  const bad: string[] = [];
  const types: string[] = [];
  for (const c of containers(spec)) {
    const pm = own(sc(c), 'procMount');
    if (typeof pm === 'string' && pm !== 'Default') {
      bad.push(name(c));
      types.push(pm);
    }
  }
  return bad.length ? { reason: 'procMount', detail: `${containersPhrase(bad)} must not set securityContext.procMount to ${joinQuote(sorted(types))}` } : undefined;
}

const procMountBaseline: CheckFn = (_meta, spec) => (userNamespaced(spec) ? undefined : procMountViolation(spec));

const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

const seLinuxOptions: CheckFn = (_meta, spec) => {
  const setters: string[] = [];
  const badTypes: string[] = [];
  let setUser = false;
  let setRole = false;
  const valid = (o: Obj) => {
    let ok = true;
    const type = strAt(o, 'type');
    if (!SELINUX_TYPES.has(type)) {
      ok = false;
      badTypes.push(type);
    }
    if (strAt(o, 'user')) {
      ok = false;
      setUser = true;
    }
    if (strAt(o, 'role')) {
      ok = false;
      setRole = true;
    }
    return ok;
  };
  const pod = objAt(podSc(spec), 'seLinuxOptions');
  if (pod && !valid(pod)) setters.push('pod');
  const bad = containers(spec).filter((c) => {
    const o = objAt(sc(c), 'seLinuxOptions');
    return o !== undefined && !valid(o);
  });
  if (bad.length) setters.push(containersPhrase(bad.map(name)));
  if (!setters.length) return undefined;
  const data: string[] = [];
  const types = sorted(badTypes);
  // As upstream: the user and role notes are only listed along with a forbidden type.
  if (types.length) {
    data.push(`${pluralize('type', 'types', types.length)} ${joinQuote(types)}`);
    if (setUser) data.push('user may not be set');
    if (setRole) data.push('role may not be set');
  }
  return { reason: 'seLinuxOptions', detail: `${setters.join(' and ')} set forbidden securityContext.seLinuxOptions: ${data.join('; ')}` };
};

const validSeccomp = (t: unknown) => t === 'RuntimeDefault' || t === 'Localhost';

/** Pod- and container-level seccomp profiles; `required` makes an unset one a violation (restricted). */
function seccompViolation(spec: Obj, required: boolean): Violation | undefined {
  const setters: string[] = [];
  const badValues: string[] = [];
  let podSet = false;
  const pod = objAt(podSc(spec), 'seccompProfile');
  if (pod) {
    if (!validSeccomp(own(pod, 'type'))) {
      setters.push('pod');
      badValues.push(strAt(pod, 'type'));
    } else podSet = true;
  }
  const explicit: string[] = [];
  const implicit: string[] = [];
  for (const c of containers(spec)) {
    const p = objAt(sc(c), 'seccompProfile');
    if (p) {
      if (!validSeccomp(own(p, 'type'))) {
        explicit.push(name(c));
        badValues.push(strAt(p, 'type'));
      }
    } else if (!podSet) implicit.push(name(c));
  }
  if (explicit.length) setters.push(containersPhrase(explicit));
  if (setters.length) return { reason: 'seccompProfile', detail: `${setters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(sorted(badValues))}` };
  if (required && implicit.length) {
    return { reason: 'seccompProfile', detail: `pod or ${containersPhrase(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"` };
  }
  return undefined;
}

const seccompProfileBaseline: CheckFn = (_meta, spec) => seccompViolation(spec, false);

const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
]);

const sysctls: CheckFn = (_meta, spec) => {
  const bad = listAt(podSc(spec), 'sysctls').map((s) => strAt(s, 'name')).filter((n) => !SAFE_SYSCTLS.has(n));
  return bad.length ? { reason: 'forbidden sysctls', detail: bad.join(', ') } : undefined;
};

const windowsHostProcess: CheckFn = (_meta, spec) => {
  const setters: string[] = [];
  if (own(objAt(podSc(spec), 'windowsOptions'), 'hostProcess') === true) setters.push('pod');
  const bad = containers(spec).filter((c) => own(objAt(sc(c), 'windowsOptions'), 'hostProcess') === true).map(name);
  if (bad.length) setters.push(containersPhrase(bad));
  return setters.length ? { reason: 'hostProcess', detail: `${setters.join(' and ')} must not set securityContext.windowsOptions.hostProcess=true` } : undefined;
};

// ---------------------------------------------------------------- restricted checks

const allowPrivilegeEscalation: CheckFn = (_meta, spec) => {
  if (isWindows(spec)) return undefined;
  const bad = containers(spec).filter((c) => own(sc(c), 'allowPrivilegeEscalation') !== false).map(name);
  return bad.length ? { reason: 'allowPrivilegeEscalation != false', detail: `${containersPhrase(bad)} must set securityContext.allowPrivilegeEscalation=false` } : undefined;
};

const capabilitiesRestricted: CheckFn = (_meta, spec) => {
  if (isWindows(spec)) return undefined;
  const missingDropAll: string[] = [];
  const adding: string[] = [];
  const caps: string[] = [];
  for (const c of containers(spec)) {
    const capabilities = objAt(sc(c), 'capabilities');
    if (!capabilities) {
      missingDropAll.push(name(c));
      continue;
    }
    if (!stringsAt(capabilities, 'drop').includes('ALL')) missingDropAll.push(name(c));
    const forbidden = stringsAt(capabilities, 'add').filter((cap) => cap !== 'NET_BIND_SERVICE');
    if (forbidden.length) {
      adding.push(name(c));
      caps.push(...forbidden);
    }
  }
  const details: string[] = [];
  if (missingDropAll.length) details.push(`${containersPhrase(missingDropAll)} must set securityContext.capabilities.drop=["ALL"]`);
  if (adding.length) details.push(`${containersPhrase(adding)} must not include ${joinQuote(sorted(caps))} in securityContext.capabilities.add`);
  return details.length ? { reason: 'unrestricted capabilities', detail: details.join('; ') } : undefined;
};

const procMountRestricted: CheckFn = (_meta, spec) => procMountViolation(spec);

/** Volume sources restricted pods may use, and the rest in upstream's order of reporting. */
const ALLOWED_VOLUME_SOURCES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'image', 'persistentVolumeClaim', 'projected', 'secret'];
const RESTRICTED_VOLUME_SOURCES = [
  'hostPath', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'nfs', 'iscsi', 'glusterfs', 'rbd', 'flexVolume', 'cinder', 'cephfs',
  'flocker', 'fc', 'azureFile', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'portworxVolume', 'scaleIO', 'storageos',
];

const restrictedVolumes: CheckFn = (_meta, spec) => {
  const bad: string[] = [];
  const types: string[] = [];
  for (const v of listAt(spec, 'volumes')) {
    if (ALLOWED_VOLUME_SOURCES.some((k) => objAt(v, k))) continue;
    bad.push(name(v));
    types.push(RESTRICTED_VOLUME_SOURCES.find((k) => objAt(v, k)) ?? 'unknown');
  }
  if (!bad.length) return undefined;
  const list = sorted(types);
  return {
    reason: 'restricted volume types',
    detail: `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('restricted volume type', 'restricted volume types', list.length)} ${joinQuote(list)}`,
  };
};

const runAsNonRoot: CheckFn = (_meta, spec) => {
  if (userNamespaced(spec)) return undefined;
  const setters: string[] = [];
  let podNonRoot = false;
  const podValue = own(podSc(spec), 'runAsNonRoot');
  if (podValue === false) setters.push('pod');
  else if (podValue === true) podNonRoot = true;
  const explicit: string[] = [];
  const implicit: string[] = [];
  for (const c of containers(spec)) {
    const v = own(sc(c), 'runAsNonRoot');
    if (typeof v === 'boolean') {
      if (!v) explicit.push(name(c));
    } else if (!podNonRoot) implicit.push(name(c));
  }
  if (explicit.length) setters.push(containersPhrase(explicit));
  if (setters.length) return { reason: 'runAsNonRoot != true', detail: `${setters.join(' and ')} must not set securityContext.runAsNonRoot=false` };
  if (implicit.length) return { reason: 'runAsNonRoot != true', detail: `pod or ${containersPhrase(implicit)} must set securityContext.runAsNonRoot=true` };
  return undefined;
};

const runAsUser: CheckFn = (_meta, spec) => {
  if (userNamespaced(spec)) return undefined;
  const setters: string[] = [];
  if (own(podSc(spec), 'runAsUser') === 0) setters.push('pod');
  const bad = containers(spec).filter((c) => own(sc(c), 'runAsUser') === 0).map(name);
  if (bad.length) setters.push(containersPhrase(bad));
  return setters.length ? { reason: 'runAsUser=0', detail: `${setters.join(' and ')} must not set runAsUser=0` } : undefined;
};

const seccompProfileRestricted: CheckFn = (_meta, spec) => (isWindows(spec) ? undefined : seccompViolation(spec, true));

// ---------------------------------------------------------------- registry

interface Check {
  id: string;
  level: 'baseline' | 'restricted';
  /** Baseline checks a restricted check replaces at the restricted level. */
  overrides?: string[];
  fn: CheckFn;
}

const CHECKS: Check[] = [
  { id: 'appArmorProfile', level: 'baseline', fn: appArmorProfile },
  { id: 'capabilities_baseline', level: 'baseline', fn: capabilitiesBaseline },
  { id: 'hostNamespaces', level: 'baseline', fn: hostNamespaces },
  { id: 'hostPathVolumes', level: 'baseline', fn: hostPathVolumes },
  { id: 'hostPorts', level: 'baseline', fn: hostPorts },
  { id: 'hostProbesAndHostLifecycle', level: 'baseline', fn: hostProbesAndHostLifecycle },
  { id: 'privileged', level: 'baseline', fn: privileged },
  { id: 'procMount', level: 'baseline', fn: procMountBaseline },
  { id: 'seLinuxOptions', level: 'baseline', fn: seLinuxOptions },
  { id: 'seccompProfile_baseline', level: 'baseline', fn: seccompProfileBaseline },
  { id: 'sysctls', level: 'baseline', fn: sysctls },
  { id: 'windowsHostProcess', level: 'baseline', fn: windowsHostProcess },
  { id: 'allowPrivilegeEscalation', level: 'restricted', fn: allowPrivilegeEscalation },
  { id: 'capabilities_restricted', level: 'restricted', overrides: ['capabilities_baseline'], fn: capabilitiesRestricted },
  { id: 'procMount_restricted', level: 'restricted', overrides: ['procMount'], fn: procMountRestricted },
  { id: 'restrictedVolumes', level: 'restricted', overrides: ['hostPathVolumes'], fn: restrictedVolumes },
  { id: 'runAsNonRoot', level: 'restricted', fn: runAsNonRoot },
  { id: 'runAsUser', level: 'restricted', fn: runAsUser },
  { id: 'seccompProfile_restricted', level: 'restricted', overrides: ['seccompProfile_baseline'], fn: seccompProfileRestricted },
];

const OVERRIDDEN_AT_RESTRICTED = new Set(CHECKS.flatMap((c) => c.overrides ?? []));
const BASELINE_CHECKS = CHECKS.filter((c) => c.level === 'baseline');
const RESTRICTED_CHECKS = CHECKS.filter((c) => !(c.level === 'baseline' && OVERRIDDEN_AT_RESTRICTED.has(c.id)));

/** The check IDs a level runs, in the order their violations are reported. */
export function checkIds(level: Level): string[] {
  return (level === 'privileged' ? [] : level === 'baseline' ? BASELINE_CHECKS : RESTRICTED_CHECKS).map((c) => c.id);
}

/**
 * The violations of a pod (its metadata and spec, or a template's) at a
 * level, in upstream's order. The version is not consulted: the latest
 * checks apply.
 */
export function evaluatePod(lv: LevelVersion, podMetadata: unknown, podSpec: unknown): Violation[] {
  if (lv.level === 'privileged') return [];
  const meta = isObj(podMetadata) ? podMetadata : {};
  const spec = isObj(podSpec) ? podSpec : {};
  const out: Violation[] = [];
  for (const c of lv.level === 'baseline' ? BASELINE_CHECKS : RESTRICTED_CHECKS) {
    const v = c.fn(meta, spec);
    if (v) out.push({ reason: v.reason || 'unknown forbidden reason', detail: v.detail });
  }
  return out;
}

/** "reason (detail), reason, ...": upstream's ForbiddenDetail. */
export function forbiddenDetail(violations: Violation[]): string {
  return violations.map((v) => (v.detail ? `${v.reason} (${v.detail})` : v.reason)).join(', ');
}

/** "reason, reason, ...": upstream's ForbiddenReason (used for existing pods). */
export function forbiddenReason(violations: Violation[]): string {
  return violations.map((v) => v.reason).join(', ');
}
