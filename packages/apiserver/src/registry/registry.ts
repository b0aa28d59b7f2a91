/**
 * The object lifecycle over the storage layer: system metadata (uid,
 * creationTimestamp, generation), status only through the status
 * subresource, defaulting and validation, namespaces that must exist and not
 * be terminating, graceful pod deletion, finalizers, service IP / node port
 * allocation, bindings and the scale subresource.
 */
import { randomUUID } from 'node:crypto';
import { findResource, RESOURCES, type JsonObject, type ResourceInfo } from '@mkube/api';
import type { EtcdClient } from '@mkube/store/client';
import type { Logger } from 'pino';
import { ApiError, errors, invalid, type FieldError, type ResourceRef } from '../errors.js';
import { objectKey, resourcePrefix } from '../storage/keys.js';
import { encodeContinue, ObjectStore, type ListResult } from '../storage/object_store.js';
import { isEverything, matches, type Selection } from '../storage/selectors.js';
import { WatchCache, type ApiWatchEvent, type CacheWatch } from '../storage/watch_cache.js';
import { ipToNumber, ServiceAllocators } from './allocators.js';
import { applyDefaults } from './defaults.js';
import { mergeAffinityLabelKeys } from './pod_fields.js';
import { generateJobSelector } from './batch_validation.js';
import { recordUpdate } from './managed_fields.js';
import { admitStorageCreate, STORAGE_RESOURCES } from './storage_validation.js';
import { deepEqual, validateObject, validateUpdate } from './validation.js';
import { CSR_RESOURCE, prepareCsrCreate, prepareCsrUpdate, validateCsr, validateCsrUpdate } from './csr_strategy.js';
import type { AdmissionAttributes, AdmissionContext, ValidatingAdmission } from '../admission/admission.js';
import { admitDefaultIngressClass, handlesIngressCreate } from '../admission/default_ingress_class.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
/**
 * A copy of a client's object with null list elements dropped, as the protobuf codec stores it (no
 * served kind holds a RawExtension, where a null element would be data): `containers: [null]` then
 * fails validation as an empty list instead of crashing a defaulting step.
 */
const cloneInput = <T>(v: T): T => JSON.parse(JSON.stringify(v), (_k, val: unknown) => (Array.isArray(val) ? val.filter((e) => e !== null) : val)) as T;
const meta = (o: Obj): Obj => (isObj(o.metadata) ? o.metadata : (o.metadata = {}));
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** Resources whose metadata.generation tracks spec changes. */
const GENERATION_RESOURCES = new Set(['deployments', 'replicasets', 'replicationcontrollers', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs', 'ingresses', 'priorityclasses', 'pods', 'poddisruptionbudgets', 'horizontalpodautoscalers']);
/** Resources whose status is reset on create (nodes may be created with status, as kubelets do). */
const STATUS_RESET_ON_CREATE = (r: ResourceInfo) => r.subresources.status && r.resource !== 'nodes' && r.resource !== 'namespaces';

export interface RegistryOptions {
  prefix?: string;
  serviceClusterIpRange?: string;
  nodePortRange?: string;
  log: Logger;
  watchCacheCapacity?: number;
  /** Serve first list pages from the watch cache (default true). */
  listFromCache?: boolean;
  /** Told where each list was served from. */
  onList?: (resource: string, source: 'cache' | 'store') => void;
}

export interface WriteOptions {
  fieldManager?: string;
  dryRun?: boolean;
  subresource?: string;
  /** The requester, and where admission plugins put warnings and audit annotations. */
  admission?: AdmissionContext;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
  propagationPolicy?: string;
}

export interface ListRequest {
  limit?: number;
  continueToken?: string;
  selection: Selection;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export class Registry {
  readonly store: ObjectStore;
  readonly prefix: string;
  readonly allocators: ServiceAllocators;
  private readonly caches = new Map<string, WatchCache>();
  /** Namespaces this server was asked to delete, and when: creates in them look the namespace up in the store for 30 s (upstream's NamespaceLifecycle forceLiveLookupCache), since the watch cache may not show the deletion yet. */
  private readonly recentlyDeletedNamespaces = new Map<string, number>();
  private readonly log: Logger;
  /** Validating admission (PodSecurity, ...) run on every create and update after validation, set by the API server. */
  readonly validating: ValidatingAdmission[] = [];
  /** Admission of pod creates (admission/service_account.ts), set by the API server. */
  podCreateAdmission?: (pod: Obj, namespace: string) => Promise<void>;

  constructor(
    readonly client: EtcdClient,
    private readonly opts: RegistryOptions,
  ) {
    this.store = new ObjectStore(client);
    this.prefix = opts.prefix ?? '/registry';
    this.log = opts.log;
    this.allocators = new ServiceAllocators(client, this.prefix, opts.serviceClusterIpRange ?? '10.213.200.0/24', opts.nodePortRange);
  }

  ref(info: ResourceInfo): ResourceRef {
    return { group: info.group, resource: info.resource };
  }

  key(info: ResourceInfo, ns: string | undefined, name: string): string {
    return objectKey(this.prefix, info, ns, name);
  }

  cache(info: ResourceInfo): WatchCache {
    let c = this.caches.get(info.resource);
    if (!c) {
      c = new WatchCache(this.client, resourcePrefix(this.prefix, info), this.log, this.opts.watchCacheCapacity);
      this.caches.set(info.resource, c);
    }
    return c;
  }

  async start(): Promise<void> {
    await Promise.all(RESOURCES.filter((r) => r.listKind).map((r) => this.cache(r).start()));
    const nsInfo = findResource('', 'v1', 'namespaces')!;
    for (const name of SYSTEM_NAMESPACES) {
      try {
        await this.create(nsInfo, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, {});
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 409)) throw err;
      }
    }
  }

  stop(): void {
    for (const c of this.caches.values()) c.stop();
  }

  /** Tells every watch cache that etcd history below rev is gone. */
  compacted(rev: number): void {
    for (const c of this.caches.values()) c.compacted(rev);
  }

  watchCount(): number {
    let n = 0;
    for (const c of this.caches.values()) n += c.size;
    return n;
  }

  /** One object from the watch cache by name (for authorizers and admission), without scanning. */
  cachedGet(info: ResourceInfo, ns: string | undefined, name: string): Obj | undefined {
    return this.cache(info).state.get(this.key(info, info.namespaced ? ns : undefined, name));
  }

  /** Objects of a resource from the watch cache (for authorizers and lookups). */
  cachedList(info: ResourceInfo, ns?: string): Obj[] {
    return this.cache(info).snapshot(resourcePrefix(this.prefix, info, info.namespaced ? ns : undefined));
  }

  // ---------------------------------------------------------------- reads

  async get(info: ResourceInfo, ns: string | undefined, name: string): Promise<Obj> {
    return (await this.store.mustGet(this.ref(info), this.key(info, ns, name), name)).obj;
  }

  async list(info: ResourceInfo, ns: string | undefined, req: ListRequest): Promise<ListResult> {
    const prefix = resourcePrefix(this.prefix, info, info.namespaced ? ns : undefined);
    const filter = isEverything(req.selection) ? undefined : (o: Obj) => matches(req.selection, info.resource, o);
    if (req.resourceVersion !== undefined && req.resourceVersion !== '' && !/^\d+$/.test(req.resourceVersion)) {
      throw errors.badRequest(`invalid resource version: ${req.resourceVersion}`);
    }
    const revision = req.resourceVersionMatch === 'Exact' && req.resourceVersion ? Number(req.resourceVersion) : undefined;
    if (revision === undefined && !req.continueToken && this.opts.listFromCache !== false) {
      const page = await this.listFromCache(info, prefix, req, filter);
      if (page) {
        this.opts.onList?.(info.resource, 'cache');
        return page;
      }
    }
    this.opts.onList?.(info.resource, 'store');
    return this.store.list(prefix, { limit: req.limit, continueToken: req.continueToken, revision, filter });
  }

  /**
   * The first page of a list from the watch cache, as kube-apiserver does
   * with ConsistentListFromCache: without a resourceVersion the list must be
   * as fresh as a quorum read, so the store's current revision is read (one
   * key) and the cache brought up to it; with resourceVersion=N (not older
   * than N) the cache must have reached N; "0" takes the cache as it is.
   * Continuations and exact revisions are served by the store. Undefined when
   * the cache cannot serve (still loading, or it did not catch up in time).
   */
  private async listFromCache(info: ResourceInfo, prefix: string, req: ListRequest, filter: ((o: Obj) => boolean) | undefined): Promise<ListResult | undefined> {
    const cache = this.cache(info);
    let minRev: number;
    if (req.resourceVersion === undefined || req.resourceVersion === '') {
      minRev = await this.store.currentRevision(resourcePrefix(this.prefix, info));
    } else {
      minRev = Number(req.resourceVersion); // digits only: list() checked it
    }
    if (!(await cache.ensureFresh(minRev))) return undefined;
    const page = cache.listPage(prefix, { limit: req.limit, filter });
    const out: ListResult = { items: page.items, resourceVersion: String(page.rev) };
    if (page.continueFrom !== undefined) {
      out.continueToken = encodeContinue(page.rev, page.continueFrom);
      if (page.remaining !== undefined) out.remainingItemCount = page.remaining;
    }
    return out;
  }

  async watch(info: ResourceInfo, ns: string | undefined, fromRevision: number | undefined, selection: Selection, send: (ev: ApiWatchEvent) => void): Promise<CacheWatch> {
    const keyPrefix = resourcePrefix(this.prefix, info, info.namespaced ? ns : undefined);
    return this.cache(info).watch({ keyPrefix, fromRevision, filter: (o) => matches(selection, info.resource, o), send });
  }

  // ---------------------------------------------------------------- namespaces

  /**
   * NamespaceLifecycle, as kube-apiserver's admission plugin does it: an
   * active namespace in the watch cache admits the create without a store
   * read; a namespace the cache lacks (just created) or shows terminating is
   * looked up in the store, which has the last word.
   */
  private async checkNamespace(info: ResourceInfo, ns: string, name: string): Promise<void> {
    const nsInfo = findResource('', 'v1', 'namespaces')!;
    const cached = this.cachedGet(nsInfo, undefined, ns);
    const deletedAt = this.recentlyDeletedNamespaces.get(ns);
    if (deletedAt !== undefined && Date.now() - deletedAt > 30_000) this.recentlyDeletedNamespaces.delete(ns);
    if (cached && !(cached.metadata as Obj | undefined)?.deletionTimestamp && !this.recentlyDeletedNamespaces.has(ns)) return;
    const got = await this.store.get(this.key(nsInfo, undefined, ns));
    if (!got) throw errors.notFound({ group: '', resource: 'namespaces' }, ns);
    if ((got.obj.metadata as Obj).deletionTimestamp) {
      throw new ApiError(403, 'Forbidden', `${info.group ? `${info.resource}.${info.group}` : info.resource} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`, {
        name,
        group: info.group || undefined,
        kind: info.resource,
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }],
      });
    }
  }

  // ---------------------------------------------------------------- create

  async create(info: ResourceInfo, ns: string | undefined, body: Obj, opts: WriteOptions): Promise<Obj> {
    const obj = cloneInput(body);
    obj.apiVersion = info.apiVersion;
    obj.kind = info.kind;
    const m = meta(obj);
    if (info.namespaced) {
      if (m.namespace && ns && m.namespace !== ns) throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      m.namespace = ns ?? m.namespace ?? 'default';
    } else delete m.namespace;
    if (!m.name && typeof m.generateName === 'string' && m.generateName) {
      m.name = `${m.generateName}${Math.random().toString(36).slice(2, 7)}`;
    }
    const name = String(m.name ?? '');
    if (info.namespaced && name) await this.checkNamespace(info, String(m.namespace), name);
    // Mutating admission of pods (ServiceAccount), when the API server enabled it.
    if (info.resource === 'pods' && this.podCreateAdmission) await this.podCreateAdmission(obj, String(m.namespace));
    // DefaultStorageClass and the storage-object-in-use protection finalizers (storage_validation.ts).
    if (STORAGE_RESOURCES.has(info.resource)) admitStorageCreate(info.resource, obj, this.cachedList(findResource('storage.k8s.io', 'v1', 'storageclasses')!));
    // DefaultIngressClass (admission/default_ingress_class.ts).
    if (handlesIngressCreate(info.group, info.resource, opts.subresource)) admitDefaultIngressClass(obj, this.cachedList(findResource('networking.k8s.io', 'v1', 'ingressclasses')!));
    m.uid = randomUUID();
    m.creationTimestamp = rfc3339(Date.now());
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete m.resourceVersion;
    delete m.selfLink;
    if (GENERATION_RESOURCES.has(info.resource)) m.generation = 1;
    else delete m.generation;
    if (STATUS_RESET_ON_CREATE(info)) obj.status = info.resource === 'pods' ? { phase: 'Pending' } : {};
    if (info.resource === 'pods' && isObj(obj.status)) obj.status.qosClass = qosClass(obj);
    if (info.resource === 'pods') mergeAffinityLabelKeys(obj);
    applyDefaults(info.resource, obj);
    if (info.resource === 'jobs') generateJobSelector(obj);
    if (info.resource === CSR_RESOURCE) prepareCsrCreate(obj, opts.admission?.user);
    if (info.resource === 'namespaces') obj.status = { phase: 'Active' };
    const errs = validateObject(info.resource, info.namespaced, obj, { serviceClusterIpRange: this.allocators.cidr });
    if (info.resource === CSR_RESOURCE) errs.push(...validateCsr(obj));
    if (info.resource === 'services' && errs.length === 0) await this.allocateService(obj, undefined, errs, opts.dryRun === true);
    if (errs.length > 0) throw invalid(info.kind, info.group, name, errs);
    await this.admit({ operation: 'CREATE', info, namespace: m.namespace as string | undefined, name, subresource: opts.subresource, obj, dryRun: opts.dryRun === true, context: opts.admission });
    if (opts.fieldManager) recordUpdate(obj, undefined, opts.fieldManager, info.apiVersion, info.kind);
    if (opts.dryRun) return obj;
    try {
      return await this.store.create(this.ref(info), this.key(info, m.namespace as string | undefined, name), name, obj);
    } catch (err) {
      if (info.resource === 'services') await this.releaseService(obj, undefined);
      throw err;
    }
  }

  /** Runs the validating admission plugins in order; the first to refuse throws. */
  private async admit(attrs: AdmissionAttributes): Promise<void> {
    for (const plugin of this.validating) await plugin.validate(attrs);
  }

  // ---------------------------------------------------------------- update

  /**
   * Read-modify-write of one object: `change` gets the current object and
   * returns the desired one; system metadata, status/spec separation,
   * defaulting, validation and finalizer-driven deletion happen here.
   */
  async update(
    info: ResourceInfo,
    ns: string | undefined,
    name: string,
    change: (cur: Obj) => Obj | Promise<Obj>,
    opts: WriteOptions & { preconditionRv?: number; createIfMissing?: (() => Obj) | undefined },
  ): Promise<{ obj: Obj; created: boolean }> {
    const key = this.key(info, ns, name);
    const ref = this.ref(info);
    for (let attempt = 0; attempt < 100; attempt++) {
      // First attempt from the watch cache, as kube-apiserver's cacher suggests
      // its cached object to GuaranteedUpdate: the compare-and-swap on its
      // revision proves it current; if it was stale, the next attempt reads the store.
      const cached = attempt === 0 ? this.cachedCurrent(info, key, opts.preconditionRv) : undefined;
      const cur = cached ?? (await this.store.get(key));
      if (!cur) {
        if (opts.createIfMissing) return { obj: await this.create(info, ns, opts.createIfMissing(), opts), created: true };
        throw errors.notFound(ref, name);
      }
      if (opts.preconditionRv !== undefined && opts.preconditionRv !== cur.modRevision) throw errors.conflict(ref, name);
      const desired = cloneInput(await change(clone(cur.obj)));
      const next = this.prepareUpdate(info, cur.obj, desired, opts);
      const nm = meta(next);
      const errs: FieldError[] = [...validateObject(info.resource, info.namespaced, next, { serviceClusterIpRange: this.allocators.cidr }), ...validateUpdate(info.resource, next, cur.obj)];
      if (info.resource === CSR_RESOURCE) errs.push(...validateCsr(next), ...validateCsrUpdate(next, cur.obj));
      if (info.resource === 'services' && errs.length === 0) await this.allocateService(next, cur.obj, errs, opts.dryRun === true);
      if (errs.length > 0) throw invalid(info.kind, info.group, name, errs);
      await this.admit({ operation: 'UPDATE', info, namespace: ns, name, subresource: opts.subresource, obj: next, oldObj: cur.obj, dryRun: opts.dryRun === true, context: opts.admission });
      if (opts.fieldManager && !deepEqual(stripManaged(next), stripManaged(cur.obj))) recordUpdate(next, cur.obj, opts.fieldManager, info.apiVersion, info.kind, opts.subresource);
      if (deepEqual(next, cur.obj)) {
        if (cached) continue; // "nothing to change" is only known against the store's copy
        return { obj: cur.obj, created: false };
      }
      if (opts.dryRun) return { obj: next, created: false };
      const finalizers = (nm.finalizers as string[] | undefined) ?? [];
      if (nm.deletionTimestamp && finalizers.length === 0 && !Number(nm.deletionGracePeriodSeconds ?? 0)) {
        const rev = await this.store.compareAndDelete(key, cur.modRevision);
        if (rev === undefined) continue;
        await this.afterDelete(info, cur.obj);
        return { obj: { ...next, metadata: { ...nm, resourceVersion: String(rev) } }, created: false };
      }
      const written = await this.store.compareAndPut(key, cur.modRevision, next);
      if (written) {
        if (info.resource === 'services') await this.releaseService(cur.obj, next);
        return { obj: written, created: false };
      }
      if (opts.preconditionRv !== undefined) throw errors.conflict(ref, name);
    }
    throw errors.conflict(ref, name);
  }

  /**
   * The watch cache's copy of an object with its revision, if it has one that
   * can serve as the current state (at `preconditionRv`, when one is given).
   * A private copy: the update path may modify it.
   */
  private cachedCurrent(info: ResourceInfo, key: string, preconditionRv: number | undefined): { obj: Obj; modRevision: number } | undefined {
    const cached = this.cache(info).state.get(key);
    if (!cached) return undefined;
    const modRevision = Number((cached.metadata as Obj | undefined)?.resourceVersion);
    if (!Number.isInteger(modRevision) || modRevision <= 0) return undefined;
    if (preconditionRv !== undefined && preconditionRv !== modRevision) return undefined;
    return { obj: structuredClone(cached), modRevision };
  }

  private prepareUpdate(info: ResourceInfo, cur: Obj, desired: Obj, opts: WriteOptions): Obj {
    // CertificateSigningRequests: spec, /status and /approval as upstream's strategies (csr_strategy.ts).
    if (info.resource === CSR_RESOURCE) desired = prepareCsrUpdate(opts.subresource, cur, desired);
    let next = desired;
    next.apiVersion = info.apiVersion;
    next.kind = info.kind;
    const cm = meta(cur);
    if (opts.subresource === 'status') {
      next = { ...clone(cur), status: desired.status ?? {} };
      const dm = meta(desired);
      if (dm.managedFields) meta(next).managedFields = dm.managedFields;
    } else if (info.subresources.status && opts.subresource !== 'status' && info.resource !== CSR_RESOURCE) {
      if (cur.status !== undefined) next.status = clone(cur.status);
      else delete next.status;
    }
    const nm = meta(next);
    for (const k of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'name', 'namespace']) {
      if (cm[k] === undefined) delete nm[k];
      else nm[k] = cm[k]!;
    }
    delete nm.resourceVersion;
    delete nm.selfLink;
    if (!nm.managedFields && cm.managedFields) nm.managedFields = cm.managedFields;
    if (info.resource === 'namespaces') {
      // Namespace phase belongs to the server.
      if (!isObj(next.status)) next.status = clone(cur.status ?? { phase: 'Active' });
    }
    applyDefaults(info.resource, next);
    if (info.resource === 'services') preserveAllocations(next, cur);
    if (GENERATION_RESOURCES.has(info.resource) && opts.subresource !== 'status' && !deepEqual(next.spec, cur.spec)) {
      nm.generation = Number(cm.generation ?? 0) + 1;
    }
    return next;
  }

  // ---------------------------------------------------------------- delete

  async delete(info: ResourceInfo, ns: string | undefined, name: string, opts: DeleteOptions): Promise<{ obj: Obj; deleted: boolean }> {
    const key = this.key(info, ns, name);
    const ref = this.ref(info);
    for (let attempt = 0; attempt < 100; attempt++) {
      const cur = await this.store.mustGet(ref, key, name);
      const cm = meta(cur.obj);
      const pre = opts.preconditions ?? {};
      if (pre.uid && pre.uid !== cm.uid) {
        throw errors.conflict(ref, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(cm.uid ?? '')}`);
      }
      if (pre.resourceVersion && Number(pre.resourceVersion) !== cur.modRevision) {
        throw errors.conflict(ref, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.modRevision}`);
      }
      let grace = 0;
      if (info.resource === 'pods') {
        const spec = (cur.obj.spec ?? {}) as Obj;
        const phase = String(((cur.obj.status ?? {}) as Obj).phase ?? '');
        grace = opts.gracePeriodSeconds ?? Number(spec.terminationGracePeriodSeconds ?? 30);
        if (!spec.nodeName || phase === 'Succeeded' || phase === 'Failed') grace = 0;
        if (cm.deletionGracePeriodSeconds !== undefined) grace = Math.min(grace, Number(cm.deletionGracePeriodSeconds));
      }
      const policy = opts.propagationPolicy;
      if (policy !== undefined && policy !== 'Orphan' && policy !== 'Foreground' && policy !== 'Background') {
        throw invalid('DeleteOptions', 'meta.k8s.io', '', [{ type: 'FieldValueNotSupported', field: 'propagationPolicy', value: policy, supported: ['Foreground', 'Background', 'Orphan'] }]);
      }
      // Orphan and Foreground propagation are carried out by the garbage collector through these finalizers.
      const gcFinalizer = policy === 'Orphan' ? 'orphan' : policy === 'Foreground' ? 'foregroundDeletion' : undefined;
      const finalizers = [...((cm.finalizers as string[] | undefined) ?? [])];
      const addFinalizer = gcFinalizer !== undefined && !finalizers.includes(gcFinalizer);
      if (addFinalizer) finalizers.push(gcFinalizer!);
      const nsPending = info.resource === 'namespaces';
      if (nsPending && !opts.dryRun) this.recentlyDeletedNamespaces.set(name, Date.now());
      if (finalizers.length === 0 && grace === 0 && !nsPending) {
        if (opts.dryRun) return { obj: cur.obj, deleted: true };
        const rev = await this.store.compareAndDelete(key, cur.modRevision);
        if (rev === undefined) continue;
        await this.afterDelete(info, cur.obj);
        return { obj: cur.obj, deleted: true };
      }
      if (cm.deletionTimestamp && !addFinalizer && Number(cm.deletionGracePeriodSeconds ?? 0) <= grace) return { obj: cur.obj, deleted: false };
      const next = clone(cur.obj);
      const nm = meta(next);
      if (!(cm.deletionTimestamp && Number(cm.deletionGracePeriodSeconds ?? 0) <= grace)) {
        nm.deletionTimestamp = rfc3339(Date.now() + grace * 1000);
        nm.deletionGracePeriodSeconds = grace;
      }
      if (addFinalizer) nm.finalizers = finalizers;
      if (nsPending) next.status = { ...((next.status ?? {}) as Obj), phase: 'Terminating' };
      if (opts.dryRun) return { obj: next, deleted: false };
      const written = await this.store.compareAndPut(key, cur.modRevision, next);
      if (!written) continue;
      if (nsPending) void this.finalizeNamespace(name).catch((err: unknown) => this.log.error({ err, namespace: name }, 'namespace cleanup failed'));
      return { obj: written, deleted: false };
    }
    throw errors.conflict(ref, name);
  }

  private async afterDelete(info: ResourceInfo, obj: Obj): Promise<void> {
    if (info.resource === 'services') await this.releaseService(obj, undefined, true);
  }

  /**
   * Namespace deletion, in place of a namespace controller: delete every
   * object in the namespace, then drop the "kubernetes" finalizer so the
   * namespace goes away.
   */
  async finalizeNamespace(ns: string): Promise<void> {
    for (const info of RESOURCES) {
      if (!info.namespaced || !info.listKind) continue;
      const prefix = resourcePrefix(this.prefix, info, ns);
      if (info.resource === 'services') {
        const { items } = await this.store.list(prefix);
        for (const s of items) await this.releaseService(s, undefined, true);
      }
      await this.client.delete(prefix, { prefix: true });
    }
    const nsInfo = findResource('', 'v1', 'namespaces')!;
    const key = this.key(nsInfo, undefined, ns);
    for (;;) {
      const cur = await this.store.get(key);
      if (!cur) return;
      const finalizers = (meta(cur.obj).finalizers as string[] | undefined) ?? [];
      const specFin = (((cur.obj.spec ?? {}) as Obj).finalizers as string[] | undefined) ?? [];
      if (finalizers.length > 0 || specFin.some((f) => f !== 'kubernetes')) {
        const next = clone(cur.obj);
        (next.spec as Obj).finalizers = specFin.filter((f) => f !== 'kubernetes');
        if (await this.store.compareAndPut(key, cur.modRevision, next)) return;
        continue;
      }
      if ((await this.store.compareAndDelete(key, cur.modRevision)) !== undefined) return;
    }
  }

  // ---------------------------------------------------------------- services

  private async allocateService(next: Obj, prev: Obj | undefined, errs: FieldError[], dryRun: boolean): Promise<void> {
    const spec = (next.spec ?? {}) as Obj;
    const owner = `${String(meta(next).namespace)}/${String(meta(next).name)}`;
    if (spec.type !== 'ExternalName' && !prev) {
      const requested = typeof spec.clusterIP === 'string' ? spec.clusterIP : '';
      if (requested === 'None') spec.clusterIPs = ['None'];
      else if (requested) {
        const n = ipToNumber(requested);
        if (n === undefined || !this.allocators.ips.contains(n)) {
          errs.push({ type: 'FieldValueInvalid', field: 'spec.clusterIPs', value: [requested], detail: `failed to allocate IP ${requested}: the provided IP (${requested}) is not in the valid range. The range of valid IPs is ${this.allocators.cidr}` });
          return;
        }
        if (!dryRun && !(await this.allocators.ips.allocate(n, owner))) {
          errs.push({ type: 'FieldValueInvalid', field: 'spec.clusterIPs', value: [requested], detail: `failed to allocate IP ${requested}: provided IP is already allocated` });
          return;
        }
        spec.clusterIPs = [requested];
      } else {
        const n = dryRun ? 0 : await this.allocators.ips.allocateNext(owner);
        spec.clusterIP = n ? ipToNumberString(n) : '';
        spec.clusterIPs = [spec.clusterIP];
      }
    }
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
      const prevPorts = new Set((((prev?.spec as Obj | undefined)?.ports as Obj[] | undefined) ?? []).map((p) => Number(p.nodePort ?? 0)));
      const ports = (spec.ports as Obj[] | undefined) ?? [];
      for (let i = 0; i < ports.length; i++) {
        const p = ports[i]!;
        const want = Number(p.nodePort ?? 0);
        if (want && prevPorts.has(want)) continue;
        if (want) {
          if (!this.allocators.ports.contains(want)) {
            errs.push({ type: 'FieldValueInvalid', field: `spec.ports[${i}].nodePort`, value: want, detail: `provided port is not in the valid range. The range of valid ports is ${this.allocators.portRange}` });
          } else if (!dryRun && !(await this.allocators.ports.allocate(want, owner))) {
            errs.push({ type: 'FieldValueInvalid', field: `spec.ports[${i}].nodePort`, value: want, detail: 'provided port is already allocated' });
          }
        } else if (!dryRun) p.nodePort = await this.allocators.ports.allocateNext(owner);
      }
    }
    // The health check node port of an externalTrafficPolicy Local LoadBalancer (upstream's allocHealthCheckNodePort).
    if (needsHealthCheckNodePort(spec)) {
      const had = Number(((prev?.spec as Obj | undefined)?.healthCheckNodePort as number | undefined) ?? 0);
      const want = Number(spec.healthCheckNodePort ?? 0);
      if (want && want !== had) {
        if (!this.allocators.ports.contains(want)) {
          errs.push({ type: 'FieldValueInvalid', field: 'spec.healthCheckNodePort', value: want, detail: `provided port is not in the valid range. The range of valid ports is ${this.allocators.portRange}` });
        } else if (!dryRun && !(await this.allocators.ports.allocate(want, owner))) {
          errs.push({ type: 'FieldValueInvalid', field: 'spec.healthCheckNodePort', value: want, detail: 'provided port is already allocated' });
        }
      } else if (!want && !dryRun) spec.healthCheckNodePort = await this.allocators.ports.allocateNext(owner);
    }
  }

  /** Frees what `prev` holds and `next` no longer does (everything when next is undefined). */
  private async releaseService(prev: Obj, next: Obj | undefined, all = false): Promise<void> {
    const ps = (prev.spec ?? {}) as Obj;
    const ns = (next?.spec ?? {}) as Obj;
    try {
      if ((all || !next) && typeof ps.clusterIP === 'string' && ps.clusterIP && ps.clusterIP !== 'None' && (all || ns.clusterIP !== ps.clusterIP)) {
        const n = ipToNumber(ps.clusterIP);
        if (n !== undefined) await this.allocators.ips.release(n);
      }
      const keep = new Set((((ns.ports as Obj[] | undefined) ?? []).map((p) => Number(p.nodePort ?? 0))));
      for (const p of (ps.ports as Obj[] | undefined) ?? []) {
        const port = Number(p.nodePort ?? 0);
        if (port && (all || !keep.has(port))) await this.allocators.ports.release(port);
      }
      const hc = Number(ps.healthCheckNodePort ?? 0);
      if (hc && (all || Number(ns.healthCheckNodePort ?? 0) !== hc)) await this.allocators.ports.release(hc);
    } catch (err) {
      this.log.warn({ err }, 'releasing service allocations failed');
    }
  }

  // ---------------------------------------------------------------- binding and scale

  async bind(ns: string, binding: Obj, podName?: string): Promise<void> {
    const pods = findResource('', 'v1', 'pods')!;
    const name = podName ?? String(meta(binding).name ?? '');
    const target = (binding.target ?? {}) as Obj;
    const node = String(target.name ?? '');
    if (!node) throw invalid('Binding', '', name, [{ type: 'FieldValueRequired', field: 'target.name' }]);
    const bindingRef = { group: '', resource: 'pods/binding' };
    await this.update(pods, ns, name, (cur) => {
      const cm = meta(cur);
      const spec = (cur.spec ?? {}) as Obj;
      if (cm.deletionTimestamp) throw errors.conflict(bindingRef, name, `pod ${name} is being deleted, cannot be assigned to a host`);
      if (spec.nodeName) throw errors.conflict(bindingRef, name, `pod ${name} is already assigned to node "${String(spec.nodeName)}"`);
      const uid = (meta(binding).uid as string | undefined) ?? undefined;
      if (uid && uid !== cm.uid) throw errors.conflict(bindingRef, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${String(cm.uid)}`);
      spec.nodeName = node;
      return cur;
    }, {});
    // PodScheduled=True through the status path.
    await this.update(pods, ns, name, (cur) => {
      const status = (cur.status ?? {}) as Obj;
      const conds = ((status.conditions as Obj[] | undefined) ?? []).filter((c) => c.type !== 'PodScheduled');
      conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: rfc3339(Date.now()) });
      status.conditions = conds;
      cur.status = status;
      return cur;
    }, { subresource: 'status' });
  }

  scaleOf(obj: Obj): Obj {
    const m = meta(obj);
    const spec = (obj.spec ?? {}) as Obj;
    const status = (obj.status ?? {}) as Obj;
    const sel = (spec.selector ?? {}) as Obj;
    // A ReplicationController's selector is a plain map (labels.SelectorFromSet: sorted keys).
    const equality = obj.kind === 'ReplicationController' ? Object.entries(sel as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : undefined;
    const parts = (equality ?? Object.entries((sel.matchLabels ?? {}) as Record<string, string>)).map(([k, v]) => `${k}=${v}`);
    for (const e of (sel.matchExpressions as Obj[] | undefined) ?? []) {
      const vals = ((e.values as string[] | undefined) ?? []).join(',');
      if (e.operator === 'In') parts.push(`${String(e.key)} in (${vals})`);
      else if (e.operator === 'NotIn') parts.push(`${String(e.key)} notin (${vals})`);
      else if (e.operator === 'Exists') parts.push(String(e.key));
      else parts.push(`!${String(e.key)}`);
    }
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: m.name ?? '', namespace: m.namespace ?? '', uid: m.uid ?? '', resourceVersion: m.resourceVersion ?? '', creationTimestamp: m.creationTimestamp ?? null },
      spec: { replicas: Number(spec.replicas ?? 0) },
      status: { replicas: Number(status.replicas ?? 0), selector: parts.join(',') },
    };
  }
}

function ipToNumberString(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

function stripManaged(o: Obj): Obj {
  const c = clone(o);
  delete meta(c).managedFields;
  return c;
}

/** Keeps an existing service's allocated clusterIP and node ports when an update leaves them empty. */
function preserveAllocations(next: Obj, cur: Obj): void {
  const ns = (next.spec ??= {}) as Obj;
  const cs = (cur.spec ?? {}) as Obj;
  if (!ns.clusterIP && cs.clusterIP) ns.clusterIP = cs.clusterIP;
  if (!ns.clusterIPs && cs.clusterIPs) ns.clusterIPs = cs.clusterIPs;
  const cports = (cs.ports as Obj[] | undefined) ?? [];
  for (const p of (ns.ports as Obj[] | undefined) ?? []) {
    if (p.nodePort) continue;
    const old = cports.find((c) => c.port === p.port && (c.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
    if (old?.nodePort && (ns.type === 'NodePort' || ns.type === 'LoadBalancer')) p.nodePort = old.nodePort;
  }
  // The health check node port stays while the Service needs one, and goes when it does not (as upstream's update).
  if (!needsHealthCheckNodePort(ns)) delete ns.healthCheckNodePort;
  else if (!ns.healthCheckNodePort && cs.healthCheckNodePort) ns.healthCheckNodePort = cs.healthCheckNodePort;
}

/** A LoadBalancer Service with externalTrafficPolicy Local has a health check node port. */
function needsHealthCheckNodePort(spec: Obj): boolean {
  return spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
}

function qosClass(pod: Obj): string {
  const containers = (((pod.spec ?? {}) as Obj).containers as Obj[] | undefined) ?? [];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const res = (c.resources ?? {}) as Obj;
    const req = (res.requests ?? {}) as Obj;
    const lim = (res.limits ?? {}) as Obj;
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) if (!lim[r] || (req[r] && req[r] !== lim[r])) guaranteed = false;
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
