/**
 * mkube.api.v1.Resources: the Kubernetes verbs over gRPC on the same
 * Registry, authenticator and RBAC authorizer as the REST handler. Requests
 * arrive as raw bytes (identity deserializer) so that malformed protobuf and
 * oversized requests become INVALID_ARGUMENT / RESOURCE_EXHAUSTED with a
 * Kubernetes Status instead of grpc-js' generic INTERNAL.
 */
import type { IncomingMessage } from 'node:http';
import { decodeMessage, findResource, jsonToBytes, toJson, type JsonObject, type ResourceInfo } from '@mkube/api';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Authenticator, AuthenticatedUser } from '../auth/authn.js';
import { admitNodeCreate, admitNodeUpdate } from '../auth/node_restriction.js';
import { EscalationCheck } from '../auth/escalation.js';
import { forbiddenMessage, RbacAuthorizer, type Attributes } from '../auth/rbac.js';
import { ApiError, errors } from '../errors.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../registry/patch.js';
import type { Metrics } from '../http/metrics.js';
import type { Registry } from '../registry/registry.js';
import { parseFieldSelector, parseLabelSelector, type Selection } from '../storage/selectors.js';
import type { ApiWatchEvent } from '../storage/watch_cache.js';
import { encodeList } from './list_encoding.js';
import { decodeGrpc, encodeGrpc, GrpcProtoError, type Msg } from './proto.js';
import { asApiError, toGrpcStatus } from './status.js';
import { assertSafeDecoded } from '../http/safe_keys.js';
import { unknownFields } from '../http/body.js';
import { isVirtualResource } from '@mkube/api';
import { notAllowed, type VirtualResources } from '../http/virtual_resources.js';
import { impersonate, type HeaderValues } from '../auth/impersonation.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The largest request message accepted (etcd's default request limit, as kube-apiserver objects). */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
const SCALE_TYPE = 'k8s.io.api.autoscaling.v1.Scale';
const BINDING_TYPE = 'k8s.io.api.core.v1.Binding';
const STATUS_TYPE = 'k8s.io.apimachinery.pkg.apis.meta.v1.Status';
/** PUT may create these (as the REST handler). */
const CREATE_ON_UPDATE = new Set(['nodes', 'events', 'leases', 'endpoints', 'clusterroles', 'clusterrolebindings', 'roles', 'rolebindings', 'priorityclasses', 'configmaps']);
const P = 'mkube.api.v1.';

export interface ResourcesServiceOptions {
  registry: Registry;
  authenticator: Authenticator;
  log: Logger;
  /** Request latency and counts, in the same series as the REST API's (verb as Kubernetes names it). */
  metrics?: Metrics;
  bookmarkIntervalMs?: number;
  maxRequestBytes?: number;
}

interface Target {
  info: ResourceInfo;
  /** Namespace for single-object calls ("default" when empty), undefined for cluster-scoped. */
  namespace: string | undefined;
  /** Namespace for collection calls (undefined = all). */
  collectionNamespace: string | undefined;
}

type AnyCall = grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer>;

export class ResourcesService {
  private readonly authz: RbacAuthorizer;
  /** Create-only reviews, shared with the REST handler (set by startApiServer); without them a review's Create is UNIMPLEMENTED. */
  virtual?: VirtualResources;
  private readonly escalation: EscalationCheck;
  private readonly maxRequestBytes: number;
  /** Watch streams open now. */
  watchers = 0;
  /**
   * Encoded WatchEvent messages by event object and type: the watch cache
   * hands the same object to every watcher of a change, so a change is
   * encoded once however many streams carry it.
   */
  private readonly encodedEvents = new WeakMap<object, Map<string, Buffer>>();

  constructor(private readonly o: ResourcesServiceOptions) {
    this.authz = new RbacAuthorizer(o.registry);
    this.escalation = new EscalationCheck(this.authz);
    this.maxRequestBytes = o.maxRequestBytes ?? MAX_REQUEST_BYTES;
  }

  /** Handlers by method name, for grpc.Server.addService with a bytes-in/bytes-out definition. */
  implementation(): grpc.UntypedServiceImplementation {
    return {
      Create: this.unary('CreateRequest', 'ObjectResponse', 'POST', '', (r, u) => this.create(r, u)),
      Get: this.unary('GetRequest', 'ObjectResponse', 'GET', '', (r, u) => this.get(r, u)),
      List: this.unary('ListRequest', 'ListResponse', 'LIST', '', (r, u) => this.list(r, u)),
      Update: this.unary('UpdateRequest', 'ObjectResponse', 'PUT', '', (r, u, c) => this.update(r, u, c, undefined)),
      UpdateStatus: this.unary('UpdateRequest', 'ObjectResponse', 'PUT', 'status', (r, u, c) => this.update(r, u, c, 'status')),
      Patch: this.unary('PatchRequest', 'ObjectResponse', 'PATCH', '', (r, u, c) => this.patch(r, u, c)),
      Delete: this.unary('DeleteRequest', 'DeleteResponse', 'DELETE', '', (r, u) => this.delete(r, u)),
      GetScale: this.unary('GetRequest', 'ObjectResponse', 'GET', 'scale', (r, u) => this.getScale(r, u)),
      UpdateScale: this.unary('UpdateScaleRequest', 'ObjectResponse', 'PUT', 'scale', (r, u) => this.updateScale(r, u)),
      Bind: this.unary('BindRequest', 'BindResponse', 'POST', 'binding', (r, u) => this.bind(r, u)),
      Watch: (call: grpc.ServerWritableStream<Buffer, Buffer>) => this.watch(call),
    };
  }

  // ---------------------------------------------------------------- plumbing

  private unary(
    reqType: string,
    resType: string,
    verb: string,
    subresource: string,
    fn: (req: Msg, user: AuthenticatedUser, call: AnyCall) => Promise<Msg>,
  ): grpc.handleUnaryCall<Buffer, Buffer> {
    const metrics = this.o.metrics;
    return (call, callback) => {
      const started = process.hrtime.bigint();
      const labels = { verb, resource: '', code: '200' };
      metrics?.inflight.inc();
      const observe = () => {
        if (!metrics) return;
        metrics.inflight.dec();
        metrics.latency.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
        metrics.requests.inc(labels);
      };
      const run = async () => {
        const { req, user } = this.admit(call, reqType);
        const ref = req.ref as Msg | undefined;
        if (ref && typeof ref.resource === 'string') labels.resource = subresource ? `${ref.resource}/${subresource}` : ref.resource;
        return encodeGrpc(P + resType, await fn(req, user, call));
      };
      run().then(
        (out) => {
          if (verb === 'POST') labels.code = '201';
          observe();
          callback(null, out);
        },
        (err: unknown) => {
          labels.code = String(asApiError(err).code);
          observe();
          callback(this.failure(err, call));
        },
      );
    };
  }

  /** Authenticates, checks the size and decodes the request message. */
  private admit(call: AnyCall, reqType: string): { req: Msg; user: AuthenticatedUser } {
    const user = this.authenticate(call);
    if (!user) throw errors.unauthorized();
    const raw = call.request;
    if (raw.length > this.maxRequestBytes) {
      throw new ApiError(413, 'RequestEntityTooLarge', `request is too large: ${raw.length} bytes, limit is ${this.maxRequestBytes}`);
    }
    try {
      return { req: decodeGrpc(P + reqType, raw), user };
    } catch (err) {
      if (err instanceof GrpcProtoError) throw errors.badRequest(`malformed request: not a valid ${P}${reqType} message: ${err.message}`);
      throw err;
    }
  }

  private failure(err: unknown, call: AnyCall): Partial<grpc.ServiceError> {
    const apiErr = asApiError(err);
    if (apiErr.code >= 500) this.o.log.error({ err, method: call.getPath() }, 'gRPC request failed');
    return toGrpcStatus(apiErr);
  }

  /** The REST authenticator, over the call's metadata and the TLS peer certificate. */
  private authenticate(call: AnyCall): AuthenticatedUser | undefined {
    const header = call.metadata.get('authorization')[0];
    const cert = call.getAuthContext()?.sslPeerCertificate;
    const req = {
      headers: { authorization: typeof header === 'string' ? header : undefined },
      socket: { authorized: cert !== undefined, getPeerCertificate: () => cert },
    };
    const user = this.o.authenticator.authenticate(req as unknown as IncomingMessage);
    if (!user) return undefined;
    // Impersonation headers travel as metadata keys (impersonate-user, impersonate-group, ...).
    const headers: HeaderValues = Object.create(null) as HeaderValues;
    for (const [k, v] of Object.entries(call.metadata.toJSON())) if (k.startsWith('impersonate-')) headers[k] = v.map(String);
    return impersonate(user, headers, this.authz);
  }

  /** RBAC; for the namespaces resource the namespace attribute is the object's own name, as upstream. */
  private authorize(user: AuthenticatedUser, attrs: Attributes): void {
    if (attrs.apiGroup === '' && attrs.resource === 'namespaces') attrs = { ...attrs, namespace: attrs.name };
    if (!this.authz.authorize(user, attrs)) {
      throw errors.forbidden(forbiddenMessage(user, attrs), { name: attrs.name, group: attrs.apiGroup || undefined, kind: attrs.resource });
    }
  }

  private target(ref: Msg | null | undefined): Target {
    const r = ref ?? {};
    const info = findResource(String(r.group ?? ''), String(r.version || 'v1'), String(r.resource ?? ''));
    if (!info) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${String(r.group ?? '') ? `${String(r.group)}/` : ''}${String(r.version || 'v1')}, resource "${String(r.resource ?? '')}")`, {});
    const ns = String(r.namespace ?? '');
    // A namespace on a cluster-scoped resource is no route (as /api/v1/namespaces/X/namespaces/Y over REST).
    if (!info.namespaced && ns) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    return {
      info,
      namespace: info.namespaced ? ns || 'default' : undefined,
      collectionNamespace: info.namespaced && ns ? ns : undefined,
    };
  }

  private requireName(name: unknown): string {
    const n = String(name ?? '');
    if (!n) throw errors.badRequest('resource name may not be empty');
    return n;
  }

  /** Message bytes of `type` → Kubernetes JSON; a bad encoding is a 400. */
  private decodeObject(type: string, apiVersion: string, kind: string, bytes: Uint8Array | undefined, what: string): Obj {
    let obj: Obj;
    try {
      obj = toJson(type, decodeMessage(type, bytes ?? new Uint8Array(0)), { apiVersion, kind });
    } catch (err) {
      throw errors.badRequest(`malformed ${what}: not a valid ${type} message: ${(err as Error).message}`);
    }
    assertSafeDecoded(obj);
    return obj;
  }

  private encode(type: string, obj: Obj): Buffer {
    const bytes = jsonToBytes(type, obj, { typeMeta: true }).bytes;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private objectResponse(info: ResourceInfo, obj: Obj, created = false, warnings: string[] = []): Msg {
    return { object: this.encode(info.protoType, obj), type: info.protoType, created, warnings };
  }

  private fieldManager(req: Msg, call: AnyCall): string {
    if (req.field_manager) return String(req.field_manager);
    const ua = call.metadata.get('user-agent')[0];
    return (typeof ua === 'string' ? ua.split(/[/ ]/)[0]!.slice(0, 128) : '') || 'unknown';
  }

  private selection(info: ResourceInfo, labels: unknown, fields: unknown): Selection {
    return { labels: parseLabelSelector(String(labels ?? '') || undefined), fields: parseFieldSelector(String(fields ?? '') || undefined, info.resource) };
  }

  // ---------------------------------------------------------------- verbs

  private async create(req: Msg, user: AuthenticatedUser): Promise<Msg> {
    const { info, collectionNamespace } = this.target(req.ref);
    const body = this.decodeObject(info.protoType, info.apiVersion, info.kind, req.object, 'object');
    const m = (isObj(body.metadata) ? body.metadata : {}) as Obj;
    const ns = info.namespaced ? (collectionNamespace ?? (typeof m.namespace === 'string' && m.namespace ? m.namespace : 'default')) : undefined;
    this.authorize(user, { verb: 'create', apiGroup: info.group, resource: info.resource, namespace: ns });
    if (isVirtualResource(info)) {
      if (!this.virtual) throw notAllowed();
      return this.objectResponse(info, await this.virtual.create({ info, namespace: ns, body, user }), true);
    }
    if (info.resource === 'bindings') {
      await this.o.registry.bind(ns ?? 'default', body);
      return this.objectResponse(info, body, true);
    }
    admitNodeCreate(user, info, body);
    this.escalation.check({ user, info, namespace: ns }, body);
    const warnings: string[] = [];
    const obj = await this.o.registry.create(info, ns, body, { fieldManager: String(req.field_manager || '') || 'grpc', dryRun: req.dry_run === true, admission: { user, warnings } });
    return this.objectResponse(info, obj, true, warnings);
  }

  /** An Update that would create the object: authorized as a create (as upstream), then NodeRestriction and RBAC escalation. */
  private admitCreateOnUpdate(user: AuthenticatedUser, t: { info: ResourceInfo; namespace: string | undefined; name: string }, obj: Obj): Obj {
    this.authorize(user, { verb: 'create', apiGroup: t.info.group, resource: t.info.resource, namespace: t.namespace, name: t.name });
    admitNodeCreate(user, t.info, obj);
    this.escalation.check({ user, info: t.info, namespace: t.namespace, requestName: t.name }, obj);
    return obj;
  }

  /** An update or patch of `cur` into `next`: NodeRestriction and RBAC escalation. */
  private admitUpdate(user: AuthenticatedUser, t: { info: ResourceInfo; namespace: string | undefined; name: string; subresource: string | undefined }, next: Obj, cur: Obj): Obj {
    admitNodeUpdate(user, t.info, t.name, t.subresource, next, cur);
    if (t.subresource === undefined) this.escalation.check({ user, info: t.info, namespace: t.namespace, requestName: t.name }, next, cur);
    return next;
  }

  private async get(req: Msg, user: AuthenticatedUser): Promise<Msg> {
    const { info, namespace } = this.target(req.ref);
    const name = this.requireName(req.name);
    this.authorize(user, { verb: 'get', apiGroup: info.group, resource: info.resource, namespace, name });
    if (!info.listKind) throw errors.methodNotSupported(info, 'get');
    return this.objectResponse(info, await this.o.registry.get(info, namespace, name));
  }

  private async list(req: Msg, user: AuthenticatedUser): Promise<Msg> {
    const { info, collectionNamespace } = this.target(req.ref);
    this.authorize(user, { verb: 'list', apiGroup: info.group, resource: info.resource, namespace: collectionNamespace });
    if (!info.listKind || !info.listProtoType) throw errors.methodNotSupported(info, 'list');
    const limit = Number(req.limit ?? 0);
    if (!Number.isInteger(limit) || limit < 0) throw errors.badRequest(`invalid limit: ${String(req.limit)}`);
    const result = await this.o.registry.list(info, collectionNamespace, {
      limit: limit > 0 ? limit : undefined,
      continueToken: String(req.continue ?? '') || undefined,
      selection: this.selection(info, req.label_selector, req.field_selector),
      resourceVersion: String(req.resource_version ?? '') || undefined,
      resourceVersionMatch: String(req.resource_version_match ?? '') || undefined,
    });
    const metadata: Obj = { resourceVersion: result.resourceVersion };
    if (result.continueToken) metadata.continue = result.continueToken;
    if (result.remainingItemCount !== undefined) metadata.remainingItemCount = result.remainingItemCount;
    return { list: encodeList(info.listProtoType, metadata, result.items), type: info.listProtoType };
  }

  private async update(req: Msg, user: AuthenticatedUser, call: AnyCall, subresource: 'status' | undefined): Promise<Msg> {
    const { info, namespace } = this.target(req.ref);
    if (isVirtualResource(info)) throw notAllowed();
    const body = this.decodeObject(info.protoType, info.apiVersion, info.kind, req.object, 'object');
    const m = (isObj(body.metadata) ? body.metadata : {}) as Obj;
    const name = this.requireName(m.name);
    this.authorize(user, { verb: 'update', apiGroup: info.group, resource: info.resource, subresource, namespace, name });
    if (subresource === 'status' && !info.subresources.status) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    if (info.namespaced && m.namespace !== undefined && m.namespace !== '' && m.namespace !== namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (info.namespaced) m.namespace = namespace!;
    const rv = m.resourceVersion ? Number(m.resourceVersion) : undefined;
    if (rv !== undefined && !Number.isFinite(rv)) throw errors.badRequest(`invalid resourceVersion: ${String(m.resourceVersion)}`);
    const warnings: string[] = [];
    const { obj, created } = await this.o.registry.update(info, namespace, name, (cur) => this.admitUpdate(user, { info, namespace, name, subresource }, body, cur), {
      subresource,
      fieldManager: this.fieldManager(req, call),
      dryRun: req.dry_run === true,
      admission: { user, warnings },
      preconditionRv: rv,
      createIfMissing: rv === undefined && subresource === undefined && CREATE_ON_UPDATE.has(info.resource) ? () => this.admitCreateOnUpdate(user, { info, namespace, name }, body) : undefined,
    });
    return this.objectResponse(info, obj, created, warnings);
  }

  private async patch(req: Msg, user: AuthenticatedUser, call: AnyCall): Promise<Msg> {
    const { info, namespace } = this.target(req.ref);
    if (isVirtualResource(info)) throw notAllowed();
    const name = this.requireName(req.name);
    const subresource = String(req.subresource ?? '') || undefined;
    if (subresource !== undefined && subresource !== 'status') throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    this.authorize(user, { verb: 'patch', apiGroup: info.group, resource: info.resource, subresource, namespace, name });
    if (subresource === 'status' && !info.subresources.status) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    const type = String(req.type ?? 'PATCH_TYPE_UNSPECIFIED');
    let patch: unknown;
    try {
      patch = JSON.parse(Buffer.from((req.patch as Uint8Array | undefined) ?? new Uint8Array(0)).toString('utf8'));
    } catch (err) {
      throw errors.badRequest(`the patch is not valid JSON: ${(err as Error).message}`);
    }
    assertSafeDecoded(patch, { kind: info.kind, group: info.group, name });
    const apply = (cur: Obj): Obj => {
      let out: unknown;
      if (type === 'JSON_PATCH') out = applyJsonPatch(cur, patch);
      else if (type === 'JSON_MERGE_PATCH') {
        if (!isObj(patch)) throw errors.badRequest('merge patch must be a JSON object');
        out = applyMergePatch(cur, patch);
      } else if (type === 'STRATEGIC_MERGE_PATCH') {
        if (!isObj(patch)) throw errors.badRequest('strategic merge patch must be a JSON object');
        out = applyStrategicMergePatch(cur, patch, info.kind);
      } else throw errors.badRequest(`unsupported patch type ${type}: use JSON_MERGE_PATCH, JSON_PATCH or STRATEGIC_MERGE_PATCH`);
      if (!isObj(out)) throw errors.badRequest('the patch did not produce an object');
      return out;
    };
    const warnings: string[] = [];
    const { obj } = await this.o.registry.update(info, namespace, name, (cur) => {
      const old = structuredClone(cur);
      const rv = String(((cur.metadata ?? {}) as Obj).resourceVersion ?? '');
      const next = apply(cur);
      unknownFields(info, next); // a patched object of the wrong shape is a 400, as over REST
      const nrv = ((next.metadata ?? {}) as Obj).resourceVersion;
      if (nrv !== undefined && String(nrv) !== rv) throw errors.conflict(info, name);
      return this.admitUpdate(user, { info, namespace, name, subresource }, next, old);
    }, { subresource, fieldManager: this.fieldManager(req, call), dryRun: req.dry_run === true, admission: { user, warnings } });
    return this.objectResponse(info, obj, false, warnings);
  }

  private async delete(req: Msg, user: AuthenticatedUser): Promise<Msg> {
    const { info, namespace } = this.target(req.ref);
    if (isVirtualResource(info)) throw notAllowed();
    const name = this.requireName(req.name);
    this.authorize(user, { verb: 'delete', apiGroup: info.group, resource: info.resource, namespace, name });
    const grace = req.grace_period_seconds;
    const { obj, deleted } = await this.o.registry.delete(info, namespace, name, {
      gracePeriodSeconds: grace === undefined || grace === null ? undefined : Number(grace),
      preconditions: { uid: String(req.precondition_uid ?? '') || undefined, resourceVersion: String(req.precondition_resource_version ?? '') || undefined },
      dryRun: req.dry_run === true,
      propagationPolicy: String(req.propagation_policy ?? '') || undefined,
    });
    return { object: this.encode(info.protoType, obj), type: info.protoType, deleted };
  }

  private scaleTarget(req: Msg, verb: string, user: AuthenticatedUser): { info: ResourceInfo; namespace: string | undefined; name: string } {
    const { info, namespace } = this.target(req.ref);
    const name = this.requireName(req.name);
    this.authorize(user, { verb, apiGroup: info.group, resource: info.resource, subresource: 'scale', namespace, name });
    if (!info.subresources.scale) throw new ApiError(404, 'NotFound', `the server could not find the requested resource: ${info.resource} has no scale subresource`, {});
    return { info, namespace, name };
  }

  private async getScale(req: Msg, user: AuthenticatedUser): Promise<Msg> {
    const { info, namespace, name } = this.scaleTarget(req, 'get', user);
    const scale = this.o.registry.scaleOf(await this.o.registry.get(info, namespace, name));
    return { object: this.encode(SCALE_TYPE, scale), type: SCALE_TYPE, created: false, warnings: [] };
  }

  private async updateScale(req: Msg, user: AuthenticatedUser): Promise<Msg> {
    const { info, namespace, name } = this.scaleTarget(req, 'update', user);
    const scale = this.decodeObject(SCALE_TYPE, 'autoscaling/v1', 'Scale', req.scale, 'scale');
    const replicas = Number(((scale.spec ?? {}) as Obj).replicas ?? 0);
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new ApiError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0`, {
        name,
        group: 'autoscaling',
        kind: 'Scale',
        causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${replicas}: must be greater than or equal to 0`, field: 'spec.replicas' }],
      });
    }
    const rvText = ((scale.metadata ?? {}) as Obj).resourceVersion;
    const { obj } = await this.o.registry.update(info, namespace, name, (cur) => {
      (cur.spec as Obj).replicas = replicas;
      return cur;
    }, { preconditionRv: rvText ? Number(rvText) : undefined });
    return { object: this.encode(SCALE_TYPE, this.o.registry.scaleOf(obj)), type: SCALE_TYPE, created: false, warnings: [] };
  }

  private async bind(req: Msg, user: AuthenticatedUser): Promise<Msg> {
    const ref = (req.ref ?? {}) as Msg;
    const namespace = String(ref.namespace ?? '') || 'default';
    const binding = this.decodeObject(BINDING_TYPE, 'v1', 'Binding', req.binding, 'binding');
    const name = String(req.name ?? '') || String(((binding.metadata ?? {}) as Obj).name ?? '');
    if (!name) throw errors.badRequest('the pod name is required (name or binding.metadata.name)');
    this.authorize(user, { verb: 'create', apiGroup: '', resource: 'pods', subresource: 'binding', namespace, name });
    await this.o.registry.bind(namespace, binding, name);
    return { status: this.encode(STATUS_TYPE, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }) };
  }

  // ---------------------------------------------------------------- watch

  private encodeEvent(info: ResourceInfo, ev: ApiWatchEvent): Buffer {
    let byType = this.encodedEvents.get(ev.object);
    const hit = byType?.get(ev.type);
    if (hit) return hit;
    const out = encodeGrpc(`${P}WatchEvent`, { type: ev.type, object: this.encode(info.protoType, ev.object), object_type: info.protoType });
    if (!byType) this.encodedEvents.set(ev.object, (byType = new Map()));
    byType.set(ev.type, out);
    return out;
  }

  private watch(call: grpc.ServerWritableStream<Buffer, Buffer>): void {
    let ended = false;
    let handle: { stop(): void } | undefined;
    const timers: NodeJS.Timeout[] = [];
    const cleanup = () => {
      for (const t of timers) clearTimeout(t); // clears intervals too (one timer kind in Node)
      handle?.stop();
      handle = undefined;
    };
    const finish = (err?: unknown) => {
      if (ended) return;
      ended = true;
      this.watchers--;
      cleanup();
      if (err === undefined) call.end();
      else {
        const st = isObj(err) && !(err instanceof Error) ? toGrpcStatus(err) : this.failure(err, call);
        call.emit('error', st);
      }
    };
    this.watchers++;
    call.on('cancelled', () => finish());
    call.on('error', () => finish());
    const run = async () => {
      const { req, user } = this.admit(call, 'WatchRequest');
      const { info, collectionNamespace } = this.target(req.ref);
      const name = String(req.name ?? '') || undefined;
      this.authorize(user, { verb: 'watch', apiGroup: info.group, resource: info.resource, namespace: collectionNamespace, name });
      if (!info.listKind) throw errors.methodNotSupported(info, 'watch');
      const selection = this.selection(info, req.label_selector, req.field_selector);
      if (name) selection.fields.push({ field: 'metadata.name', op: '=', value: name });
      const rvText = String(req.resource_version ?? '');
      const from = rvText && rvText !== '0' ? Number(rvText) : undefined;
      if (from !== undefined && (!Number.isInteger(from) || from < 0)) throw errors.badRequest(`invalid resource version: ${rvText}`);
      let lastRv = from ?? 0;
      const send = (ev: ApiWatchEvent) => {
        if (ended) return;
        if (ev.type === 'ERROR') return finish(ev.object);
        if (ev.type !== 'BOOKMARK') lastRv = Math.max(lastRv, Number(((ev.object.metadata ?? {}) as Obj).resourceVersion ?? 0));
        call.write(this.encodeEvent(info, ev));
      };
      const h = await this.o.registry.watch(info, collectionNamespace, from, selection, send);
      if (ended) return h.stop();
      handle = h;
      const timeoutSec = Number(req.timeout_seconds ?? 0) > 0 ? Number(req.timeout_seconds) : 1800 + Math.floor(Math.random() * 1800);
      timers.push(setTimeout(() => finish(), timeoutSec * 1000));
      if (req.allow_watch_bookmarks === true) {
        const cache = this.o.registry.cache(info);
        timers.push(
          setInterval(() => {
            const rv = Math.max(lastRv, cache.rev);
            send({ type: 'BOOKMARK', object: { kind: info.kind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(rv) } } });
          }, this.o.bookmarkIntervalMs ?? 30_000),
        );
      }
    };
    run().catch((err: unknown) => finish(err));
  }
}
