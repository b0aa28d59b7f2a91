/**
 * The Kubernetes REST API: routing of /api and /apis paths to the registry,
 * authentication and RBAC, content negotiation, watch streams, patches and
 * subresources.
 */
import type { HealthChecks } from './health_checks.js';
import { admitNodeCreate, admitNodeUpdate } from '../auth/node_restriction.js';
import { EscalationCheck } from '../auth/escalation.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { findResource, findResourceByKind, isVirtualResource, type JsonObject, type ResourceInfo } from '@mkube/api';
import type { Logger } from 'pino';
import { Authenticator, type AuthenticatedUser } from '../auth/authn.js';
import { forbiddenMessage, RbacAuthorizer, type Attributes } from '../auth/rbac.js';
import { ApiError, errors } from '../errors.js';
import { serverSideApply } from '../registry/managed_fields.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from '../registry/patch.js';
import type { Registry } from '../registry/registry.js';
import { parseFieldSelector, parseLabelSelector, type Selection } from '../storage/selectors.js';
import { tooOldMessage, type ApiWatchEvent } from '../storage/watch_cache.js';
import { decodeBody, mediaType, negotiate, readBody, sendObject, unknownFields, type Negotiated } from './body.js';
import { storageTooLarge } from './request_errors.js';
import { aggregatedDiscovery, apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo, wantsAggregatedDiscovery } from './discovery.js';
import type { Metrics } from './metrics.js';
import type { NodeProxy } from './node_proxy.js';
import type { TokenRequests } from '../auth/token_request.js';
import { evictPod } from '../registry/eviction.js';
import { openApiDocumentBytes, openApiIndex } from './openapi.js';
import { serveOpenApiV2 } from './openapi_v2.js';
import { toTable } from './table.js';
import { notAllowed, VirtualResources } from './virtual_resources.js';
import { AccessReviews } from '../auth/access_reviews.js';
import { actingUser } from '../auth/impersonation.js';
import { checkQueryParams, deleteQuery, listQuery, queryBool, validateDeleteOptions, writeQuery } from './query.js';
import type { Aggregator } from '../aggregator/aggregator.js';
import { isCsrApproval } from '../registry/csr_strategy.js';
import { anonymousUser } from '../auth/anonymous.js';
import { withServedVersions } from '../registry/served_versions.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface HandlerOptions {
  registry: Registry;
  authenticator: Authenticator;
  log: Logger;
  metrics: Metrics;
  serverAddress: string;
  /** /livez, /readyz and /healthz. */
  health: HealthChecks;
  bookmarkIntervalMs?: number;
  /** pods/log, exec, attach to the node agents (503 without it). */
  nodeProxy?: NodeProxy;
  /** serviceaccounts/token (auth/token_request.ts). */
  tokenRequests?: TokenRequests;
  /** The aggregation layer (aggregator/aggregator.ts): remote APIServices' groups, proxied. */
  aggregator?: Aggregator;
}

interface ResourceRequest {
  info: ResourceInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/livez']);
/** Subresources of a Namespace itself (/api/v1/namespaces/NAME/status), as upstream's namespaceSubresources. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/**
 * The authorization attributes of a resource request. For the namespaces
 * resource the namespace is the object's own name, as upstream (a Role in
 * "team" granting get on namespaces lets one get namespace "team" only).
 */
function requestAttributes(verb: string, rr: ResourceRequest): Attributes {
  const namespace = rr.info.group === '' && rr.info.resource === 'namespaces' ? rr.name : rr.namespace;
  return { verb, apiGroup: rr.info.group, resource: rr.info.resource, subresource: rr.subresource, namespace, name: rr.name };
}
const DISCOVERY_PREFIXES = ['/api', '/apis', '/version', '/openapi'];

export class ApiHandler {
  private readonly authz: RbacAuthorizer;
  private readonly escalation: EscalationCheck;
  /** Create-only reviews (virtual_resources.ts): handlers registered per resource. */
  readonly virtual = new VirtualResources();
  constructor(private readonly o: HandlerOptions) {
    // Served versions stored in another (autoscaling/v1 HPAs as v2) convert at the registry's edge.
    o.registry = withServedVersions(o.registry);
    this.authz = new RbacAuthorizer(o.registry);
    this.escalation = new EscalationCheck(this.authz);
    new AccessReviews(this.authz).register(this.virtual);
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'https://localhost');
    const labels = { verb: req.method ?? 'GET', resource: '', code: '0' };
    this.o.metrics.inflight.inc();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.o.metrics.inflight.dec();
      labels.code = String(res.statusCode);
      this.o.metrics.latency.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      this.o.log.debug({ method: req.method, path: url.pathname, code: res.statusCode }, 'request');
    };
    res.on('close', finish);
    this.route(req, res, url, labels).catch((err: unknown) => this.fail(res, err, req));
  };

  private fail(res: ServerResponse, err: unknown, req?: IncomingMessage): void {
    let apiErr: ApiError;
    if (err instanceof ApiError) apiErr = err;
    else {
      const e = err as Error & { code?: unknown };
      const msg = e?.message ?? String(err);
      if (/UNAVAILABLE|no leader|connect|deadline/i.test(msg) && e?.name === 'EtcdClientError') apiErr = errors.serviceUnavailable(`etcd is unavailable: ${msg}`);
      else apiErr = storageTooLarge(err) ?? errors.internal(msg);
      this.o.log.error({ err, path: req?.url }, 'request failed');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    const headers: Record<string, string> = {};
    // Retry-After as the error's retryAfterSeconds (1 when unset); an eviction refused by a budget says 0: no header, kubectl drain retries on its own.
    if ((apiErr.code === 429 || apiErr.code === 503) && apiErr.details?.retryAfterSeconds !== 0) headers['Retry-After'] = String(apiErr.details?.retryAfterSeconds ?? 1);
    sendObject(res, apiErr.code, apiErr.toStatus(), negotiate(req?.headers.accept), headers);
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, labels: { verb: string; resource: string }): Promise<void> {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (PUBLIC_PATHS.has(path) || path.startsWith('/readyz/') || path.startsWith('/livez/') || path.startsWith('/healthz/')) {
      const [, endpoint, single] = path.split('/') as [string, 'livez' | 'readyz' | 'healthz', string | undefined];
      const result = await this.o.health.run(endpoint, single, url.searchParams);
      if (!result) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
      if (result.failures.length > 0) this.o.log.warn({ endpoint: path, failures: result.failures }, 'health check failed');
      res.writeHead(result.status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
      res.end(result.body);
      return;
    }
    const authenticated = this.o.authenticator.authenticate(req) ?? anonymousUser(req, path);
    if (!authenticated) throw errors.unauthorized();
    const user = actingUser(req, authenticated, this.authz);
    if (this.o.aggregator && (await this.o.aggregator.route(req, res, path, url, user, this.authz))) return;
    if (path === '/metrics') {
      this.authorizeNonResource(user, 'get', path);
      const body = await this.o.metrics.registry.metrics();
      res.writeHead(200, { 'Content-Type': this.o.metrics.registry.contentType });
      res.end(body);
      return;
    }
    const neg = negotiate(req.headers.accept);
    if (DISCOVERY_PREFIXES.some((p) => path === p || path.startsWith('/openapi'))) {
      if (req.method !== 'GET') throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
      if (path === '/openapi/v2') return serveOpenApiV2(req, res);
      const aggregated = (path === '/api' || path === '/apis') && wantsAggregatedDiscovery(req.headers.accept);
      if (aggregated) {
        res.writeHead(200, { 'Content-Type': `application/json;g=apidiscovery.k8s.io;v=${aggregated};as=APIGroupDiscoveryList` });
        res.end(JSON.stringify(aggregatedDiscovery(path === '/api', aggregated)));
        return;
      }
      return this.discovery(res, path, url);
    }
    const rr = this.parseResourcePath(path);
    if (!rr) {
      if (path === '/api/v1' || /^\/apis\/[^/]+(\/[^/]+)?$/.test(path)) return this.discovery(res, path, url);
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    labels.resource = rr.subresource ? `${rr.info.resource}/${rr.subresource}` : rr.info.resource;
    const q = url.searchParams;
    const verb = this.verbFor(req.method ?? 'GET', rr, q);
    // Kubernetes' metric verbs: POST for create, PUT for update, the rest upper-cased (LIST, WATCH, ...).
    labels.verb = verb === 'create' ? 'POST' : verb === 'update' ? 'PUT' : verb.toUpperCase();
    const attrs = requestAttributes(verb, rr);
    if (!this.authz.authorize(user, attrs)) {
      throw errors.forbidden(forbiddenMessage(user, attrs), { name: rr.name, group: rr.info.group || undefined, kind: rr.info.resource });
    }
    if (isVirtualResource(rr.info)) return this.createVirtual(req, res, rr, neg, q, user, verb);
    checkQueryParams(req.method ?? 'GET', q);
    switch (verb) {
      case 'get':
        return this.get(res, rr, neg, q);
      case 'list':
        return this.list(res, rr, neg, q);
      case 'watch':
        return this.watch(req, res, rr, neg, q);
      case 'create':
        return this.create(req, res, rr, neg, q, user);
      case 'update':
        return this.put(req, res, rr, neg, q, user);
      case 'patch':
        return this.patch(req, res, rr, neg, q, user);
      case 'delete':
        return this.delete(req, res, rr, neg, q);
      case 'deletecollection':
        return this.deleteCollection(req, res, rr, neg, q);
      default:
        throw errors.methodNotSupported(rr.info, verb);
    }
  }

  private authorizeNonResource(user: AuthenticatedUser, verb: string, path: string): void {
    if (!this.authz.authorize(user, { verb, path })) throw errors.forbidden(forbiddenMessage(user, { verb, path }));
  }

  private discovery(res: ServerResponse, path: string, url: URL): void {
    const json = (obj: Obj | undefined) => {
      if (!obj) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
      sendObject(res, 200, obj, { protobuf: false, table: false });
    };
    if (path === '/version') return json(versionInfo());
    if (path === '/api') return json(apiVersions(this.o.serverAddress));
    if (path === '/apis') return json(apiGroupList());
    if (path === '/api/v1') return json(apiResourceList('', 'v1'));
    if (path === '/openapi/v3') return json(openApiIndex());
    if (path.startsWith('/openapi/v3/')) {
      const rest = path.slice('/openapi/v3/'.length).split('/');
      const [group, version] = rest[0] === 'api' ? ['', rest[1] ?? ''] : [rest[1] ?? '', rest[2] ?? ''];
      const doc = openApiDocumentBytes(group, version);
      if (!doc) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
      const headers: Record<string, string> = { 'Content-Type': 'application/json', Etag: `"${doc.hash}"` };
      if (url.searchParams.get('hash') === doc.hash) headers['Cache-Control'] = 'public, immutable';
      res.writeHead(200, headers);
      res.end(doc.body);
      return;
    }
    if (path.startsWith('/openapi')) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    const m = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (m) return json(m[2] ? apiResourceList(m[1]!, m[2]) : apiGroup(m[1]!));
    return json(undefined);
  }

  /**
   * A resource path as upstream's RequestInfoFactory reads it: a namespace
   * segment only before a namespaced resource (namespaces/X/status and
   * /finalize are the Namespace's own subresources); a namespace inside a
   * namespace, a cluster-scoped resource under a namespace and a namespaced
   * object without one are not routes (undefined: 404).
   */
  private parseResourcePath(path: string): ResourceRequest | undefined {
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      throw errors.badRequest(`invalid URL escape in path ${JSON.stringify(path)}`);
    }
    const parts = decoded.split('/').filter(Boolean);
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts.length >= 3) {
      group = '';
      version = parts[1]!;
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts.length >= 4) {
      group = parts[1]!;
      version = parts[2]!;
      rest = parts.slice(3);
    } else return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const info = findResource(group, version, rest[0]!);
    if (!info) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    if (rest.length > 3) return undefined;
    if (namespace !== undefined && !info.namespaced) return undefined;
    if (namespace === undefined && info.namespaced && rest.length > 1) return undefined;
    const name = rest[1];
    if (name !== undefined) {
      const why = name === '.' || name === '..' ? [`may not be '${name}'`] : name.includes('%') ? ["may not contain '%'"] : [];
      if (why.length > 0) throw errors.badRequest(`Name parameter invalid: ${JSON.stringify(name)}: ${why.join(';')}`);
    }
    return { info, namespace, name, subresource: rest[2] };
  }

  private verbFor(method: string, rr: ResourceRequest, q: URLSearchParams): string {
    const watch = queryBool(q, 'watch') ?? false;
    switch (method) {
      case 'GET':
      case 'HEAD':
        if (rr.name && watch) return 'watch';
        if (rr.name) return 'get';
        return watch ? 'watch' : 'list';
      case 'POST':
        return 'create';
      case 'PUT':
        return 'update';
      case 'PATCH':
        return 'patch';
      case 'DELETE':
        return rr.name ? 'delete' : 'deletecollection';
      default:
        throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
  }

  // ---------------------------------------------------------------- reads

  private respond(res: ServerResponse, code: number, info: ResourceInfo, obj: Obj, neg: Negotiated, q: URLSearchParams, headers: Record<string, string> = {}): void {
    if (neg.table && obj.kind !== 'Status' && obj.kind !== 'Scale') {
      const mode = (q.get('includeObject') as 'None' | 'Metadata' | 'Object' | null) ?? 'Metadata';
      return sendObject(res, code, toTable(info, [obj], { includeObject: mode, resourceVersion: String(((obj.metadata ?? {}) as Obj).resourceVersion ?? '') }), { protobuf: false, table: true }, headers);
    }
    sendObject(res, code, obj, neg, headers);
  }

  private async get(res: ServerResponse, rr: ResourceRequest, neg: Negotiated, q: URLSearchParams): Promise<void> {
    const { info, namespace, name, subresource } = rr;
    if (subresource === 'log' || subresource === 'exec' || subresource === 'attach' || subresource === 'portforward') return this.nodeProxy(rr, res, q);
    const obj = await this.o.registry.get(info, namespace, name!);
    if (subresource === 'scale' && info.subresources.scale) return sendObject(res, 200, this.o.registry.scaleOf(obj), neg);
    if (subresource && subresource !== 'status' && !isCsrApproval(rr)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    this.respond(res, 200, info, obj, neg, q);
  }

  private async nodeProxy(rr: ResourceRequest, res?: ServerResponse, q?: URLSearchParams): Promise<void> {
    if (this.o.nodeProxy && rr.info.resource === 'pods' && rr.subresource === 'log' && res && q) return this.o.nodeProxy.logs(rr.namespace ?? 'default', rr.name!, q, res);
    if (this.o.nodeProxy && rr.info.resource === 'pods' && (rr.subresource === 'exec' || rr.subresource === 'attach' || rr.subresource === 'portforward')) throw errors.badRequest('Upgrade request required');
    const pod = await this.o.registry.get(rr.info, rr.namespace, rr.name!);
    const node = String(((pod.spec ?? {}) as Obj).nodeName ?? '');
    if (!node) throw errors.badRequest(`pod ${rr.name} does not have a host assigned`);
    const what = rr.subresource === 'log' ? 'logs' : rr.subresource;
    throw errors.serviceUnavailable(`the node agent of node ${node} does not serve ${what} yet`);
  }

  /** 'upgrade' requests (exec/attach over WebSocket or SPDY): authenticated, authorized (create pods/<sub>), proxied to the node agent. */
  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const run = async () => {
      const authenticated = this.o.authenticator.authenticate(req);
      if (!authenticated) throw errors.unauthorized();
      const user = actingUser(req, authenticated, this.authz);
      const rr = this.parseResourcePath(url.pathname.replace(/\/+$/, ''));
      if (!rr || rr.info.resource !== 'pods' || !rr.name || (rr.subresource !== 'exec' && rr.subresource !== 'attach' && rr.subresource !== 'portforward')) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
      const attrs: Attributes = { verb: 'create', apiGroup: '', resource: 'pods', subresource: rr.subresource, namespace: rr.namespace, name: rr.name };
      if (!this.authz.authorize(user, attrs)) throw errors.forbidden(forbiddenMessage(user, attrs));
      if (!this.o.nodeProxy) return this.nodeProxy(rr);
      await this.o.nodeProxy.upgrade(rr.namespace ?? 'default', rr.name, rr.subresource, url.searchParams, req, socket, head);
    };
    run().catch((err: unknown) => {
      const e = err instanceof ApiError ? err : errors.internal(String((err as Error)?.message ?? err));
      const body = JSON.stringify(e.toStatus());
      if (!socket.destroyed) socket.end(`HTTP/1.1 ${e.code} ${e.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    });
  };

  private selection(rr: ResourceRequest, q: URLSearchParams): Selection {
    return { labels: parseLabelSelector(q.get('labelSelector')), fields: parseFieldSelector(q.get('fieldSelector'), rr.info.resource) };
  }

  private async list(res: ServerResponse, rr: ResourceRequest, neg: Negotiated, q: URLSearchParams): Promise<void> {
    const { info, namespace } = rr;
    if (!info.listKind) throw errors.methodNotSupported(info, 'list');
    const lq = listQuery(q);
    const result = await this.o.registry.list(info, namespace, {
      limit: lq.limit !== undefined && lq.limit > 0 ? lq.limit : undefined,
      continueToken: lq.continueToken,
      selection: this.selection(rr, q),
      resourceVersion: lq.resourceVersion,
      resourceVersionMatch: lq.resourceVersionMatch,
    });
    if (neg.table) {
      const mode = (q.get('includeObject') as 'None' | 'Metadata' | 'Object' | null) ?? 'Metadata';
      return sendObject(res, 200, toTable(info, result.items, { includeObject: mode, resourceVersion: result.resourceVersion, continueToken: result.continueToken, remainingItemCount: result.remainingItemCount }), { protobuf: false, table: true });
    }
    const metadata: Obj = { resourceVersion: result.resourceVersion };
    if (result.continueToken) metadata.continue = result.continueToken;
    if (result.remainingItemCount !== undefined) metadata.remainingItemCount = result.remainingItemCount;
    sendObject(res, 200, { kind: info.listKind, apiVersion: info.apiVersion, metadata, items: result.items }, neg);
  }

  private async watch(req: IncomingMessage, res: ServerResponse, rr: ResourceRequest, neg: Negotiated, q: URLSearchParams): Promise<void> {
    const { info, namespace } = rr;
    const lq = listQuery(q);
    const selection = this.selection(rr, q);
    if (rr.name) selection.fields.push({ field: 'metadata.name', op: '=', value: rr.name });
    const rvText = q.get('resourceVersion');
    const from = rvText && rvText !== '0' ? Number(rvText) : undefined;
    if (from !== undefined && !Number.isFinite(from)) throw errors.badRequest(`invalid resource version: ${rvText}`);
    const bookmarks = lq.allowWatchBookmarks;
    const timeoutSec = lq.timeoutSeconds !== undefined && lq.timeoutSeconds > 0 ? lq.timeoutSeconds : 1800 + Math.floor(Math.random() * 1800);
    const mode = (q.get('includeObject') as 'None' | 'Metadata' | 'Object' | null) ?? 'Metadata';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    let first = true;
    let lastRv = from ?? 0;
    const write = (ev: ApiWatchEvent) => {
      if (res.writableEnded) return;
      let object = ev.object;
      if (ev.type !== 'ERROR' && ev.type !== 'BOOKMARK') {
        lastRv = Math.max(lastRv, Number(((ev.object.metadata ?? {}) as Obj).resourceVersion ?? 0));
        if (neg.table) {
          const t = toTable(info, [ev.object], { includeObject: mode });
          if (!first) t.columnDefinitions = [];
          first = false;
          object = t;
        }
      }
      res.write(`${JSON.stringify({ type: ev.type, object })}\n`);
    };
    this.o.metrics.watchers.inc();
    let handle: { stop(): void } | undefined;
    const timers: NodeJS.Timeout[] = [];
    const end = () => {
      for (const t of timers) clearTimeout(t); // clears intervals too (one timer kind in Node)
      handle?.stop();
      if (!res.writableEnded) res.end();
    };
    let closed = false;
    res.on('close', () => {
      if (closed) return;
      closed = true;
      this.o.metrics.watchers.dec();
      end();
    });
    try {
      handle = await this.o.registry.watch(info, namespace, from, selection, (ev) => {
        write(ev);
        if (ev.type === 'ERROR') end();
      });
    } catch (err) {
      const status = err instanceof ApiError ? err : errors.internal((err as Error).message);
      write({ type: 'ERROR', object: status.toStatus() });
      end();
      return;
    }
    if (closed) handle.stop();
    timers.push(setTimeout(end, timeoutSec * 1000));
    if (bookmarks) {
      const cache = this.o.registry.cache(info);
      timers.push(
        setInterval(() => {
          const rv = Math.max(lastRv, cache.rev);
          write({ type: 'BOOKMARK', object: { kind: info.kind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(rv) } } });
        }, this.o.bookmarkIntervalMs ?? 30_000),
      );
    }
    void req;
    void tooOldMessage;
  }

  // ---------------------------------------------------------------- writes

  /** POST of a create-only virtual resource (a review): answered, never stored; other verbs 405. */
  private async createVirtual(req: IncomingMessage, res: ServerResponse, rr: ResourceRequest, neg: Negotiated, q: URLSearchParams, user: AuthenticatedUser, verb: string): Promise<void> {
    if (verb !== 'create' || rr.name || rr.subresource) throw notAllowed();
    const warnings: string[] = [];
    const body = await this.objectBody(req, rr, q, warnings);
    const obj = await this.virtual.create({ info: rr.info, namespace: rr.namespace, body, user, req });
    sendObject(res, 201, obj, neg, this.warnHeaders(warnings));
  }

  private fieldManager(req: IncomingMessage, q: URLSearchParams): string {
    const fm = q.get('fieldManager');
    if (fm) return fm;
    const ua = String(req.headers['user-agent'] ?? 'unknown');
    return ua.split('/')[0]!.slice(0, 128) || 'unknown';
  }

  /** Reads an object body and applies fieldValidation (Strict / Warn / Ignore). */
  private async objectBody(req: IncomingMessage, rr: ResourceRequest, q: URLSearchParams, warnings: string[], kindInfo: ResourceInfo = rr.info): Promise<Obj> {
    const body = decodeBody(await readBody(req), req.headers['content-type']);
    if (!isObj(body)) throw errors.badRequest('the body of the request must be a JSON object');
    if (body.apiVersion !== undefined && body.kind !== undefined) {
      const found = findResourceByKind(String(body.apiVersion), String(body.kind));
      if (kindInfo === rr.info && (!found || found.info !== rr.info) && String(body.kind) !== kindInfo.kind) {
        throw errors.badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${kindInfo.apiVersion})`);
      }
    }
    this.checkUnknown(kindInfo, body, q, warnings);
    return body;
  }

  private checkUnknown(info: ResourceInfo, body: Obj, q: URLSearchParams, warnings: string[]): void {
    const mode = (q.get('fieldValidation') ?? 'Warn').toLowerCase();
    const unknown = unknownFields(info, body); // a body of the wrong shape is a 400 also under Ignore
    if (mode === 'ignore') return;
    if (unknown.length === 0) return;
    if (mode === 'strict') throw errors.badRequest(`strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`);
    for (const f of unknown) warnings.push(`unknown field "${f}"`);
  }

  private warnHeaders(warnings: string[]): Record<string, string> {
    // Header values are Latin-1 without controls: anything else in a warning travels \u-escaped.
    return warnings.length ? { Warning: warnings.map((w) => `299 - ${JSON.stringify(w).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}`).join(', ') } : {};
  }

  private async create(req: IncomingMessage, res: ServerResponse, rr: ResourceRequest, neg: Negotiated, q: URLSearchParams, user: AuthenticatedUser): Promise<void> {
    const { info, namespace } = rr;
    const warnings: string[] = [];
    if (rr.subresource === 'binding' || info.resource === 'bindings') {
      const binding = decodeBody(await readBody(req), req.headers['content-type']) as Obj;
      await this.o.registry.bind(namespace ?? 'default', binding, rr.subresource === 'binding' ? rr.name : undefined);
      return sendObject(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }, neg);
    }
    if (rr.subresource === 'exec' || rr.subresource === 'attach' || rr.subresource === 'portforward') return this.nodeProxy(rr);
    if (rr.subresource === 'token' && info.resource === 'serviceaccounts' && rr.name && this.o.tokenRequests) {
      return sendObject(res, 201, await this.o.tokenRequests.create(namespace ?? 'default', rr.name, decodeBody(await readBody(req), req.headers['content-type']), user), neg);
    }
    if (rr.subresource === 'eviction' && info.resource === 'pods' && rr.name) {
      const status = await evictPod(this.o.registry, namespace ?? 'default', rr.name, decodeBody(await readBody(req), req.headers['content-type']), { dryRun: q.has('dryRun') });
      return sendObject(res, Number(status.code), status, neg);
    }
    // Namespaced kinds are created only under /namespaces/NS/ (upstream registers no POST on the all-namespaces path).
    if (rr.name || (info.namespaced && namespace === undefined)) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    writeQuery(q, 'CreateOptions');
    const body = await this.objectBody(req, rr, q, warnings);
    admitNodeCreate(user, info, body);
    this.escalation.check({ user, info, namespace }, body);
    const obj = await this.o.registry.create(info, namespace, body, { fieldManager: this.fieldManager(req, q), dryRun: q.has('dryRun'), admission: { user, warnings } });
    this.respond(res, 201, info, obj, neg, q, this.warnHeaders(warnings));
  }

  /**
   * A PUT or apply that would create the object: authorized as a create (as
   * upstream's withAuthorization of createValidation), then NodeRestriction
   * and RBAC escalation as for a create.
   */
  private admitCreateOnUpdate(user: AuthenticatedUser, rr: ResourceRequest, obj: Obj): Obj {
    const attrs = requestAttributes('create', rr);
    if (!this.authz.authorize(user, attrs)) throw errors.forbidden(forbiddenMessage(user, attrs), { name: rr.name, group: rr.info.group || undefined, kind: rr.info.resource });
    admitNodeCreate(user, rr.info, obj);
    this.escalation.check({ user, info: rr.info, namespace: rr.namespace, requestName: rr.name }, obj);
    return obj;
  }

  /** An update or patch of `cur` into `next`: NodeRestriction and RBAC escalation (roleRef immutability is validation's). */
  private admitUpdate(user: AuthenticatedUser, rr: ResourceRequest, next: Obj, cur: Obj): Obj {
    admitNodeUpdate(user, rr.info, rr.name ?? '', rr.subresource, next, cur);
    if (rr.subresource === undefined) this.escalation.check({ user, info: rr.info, namespace: rr.namespace, requestName: rr.name }, next, cur);
    return next;
  }

  /** `change` (which may modify the object it gets) followed by admitUpdate against the object as it was. */
  private guarded(user: AuthenticatedUser, rr: ResourceRequest, change: (cur: Obj) => Obj): (cur: Obj) => Obj {
    return (cur) => {
      const old = structuredClone(cur);
      return this.admitUpdate(user, rr, change(cur), old);
    };
  }

  private async put(req: IncomingMessage, res: ServerResponse, rr: ResourceRequest, neg: Negotiated, q: URLSearchParams, _user: AuthenticatedUser): Promise<void> {
    const { info, namespace, name, subresource } = rr;
    if (!name) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    const warnings: string[] = [];
    if (subresource === 'scale') {
      if (!info.subresources.scale) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
      const scale = decodeBody(await readBody(req), req.headers['content-type']);
      if (!isObj(scale)) throw errors.badRequest('the body of the request must be a Scale object');
      return this.setScale(res, rr, scale, neg);
    }
    if (subresource && subresource !== 'status' && subresource !== 'finalize' && !isCsrApproval(rr)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    writeQuery(q, 'UpdateOptions');
    const body = await this.objectBody(req, rr, q, warnings);
    const meta = (body.metadata ?? {}) as Obj;
    if (meta.name !== undefined && meta.name !== name) throw errors.badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`);
    if (info.namespaced && meta.namespace !== undefined && meta.namespace !== namespace) throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    const rv = meta.resourceVersion ? Number(meta.resourceVersion) : undefined;
    const sub = subresource === 'finalize' ? undefined : subresource;
    const { obj, created } = await this.o.registry.update(info, namespace, name, (cur) => this.admitUpdate(_user, rr, body, cur), {
      subresource: sub,
      fieldManager: this.fieldManager(req, q),
      dryRun: q.has('dryRun'),
      preconditionRv: rv,
      admission: { user: _user, warnings },
      createIfMissing: rv === undefined && subresource === undefined && ['nodes', 'events', 'leases', 'endpoints', 'clusterroles', 'clusterrolebindings', 'roles', 'rolebindings', 'priorityclasses', 'configmaps'].includes(info.resource) ? () => this.admitCreateOnUpdate(_user, rr, body) : undefined,
    });
    this.respond(res, created ? 201 : 200, info, obj, neg, q, this.warnHeaders(warnings));
  }

  private async setScale(res: ServerResponse, rr: ResourceRequest, scale: Obj, neg: Negotiated): Promise<void> {
    const replicas = Number(((scale.spec ?? {}) as Obj).replicas ?? 0);
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new ApiError(422, 'Invalid', `Scale.autoscaling "${rr.name}" is invalid: spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0`, {
        name: rr.name,
        group: 'autoscaling',
        kind: 'Scale',
        causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${replicas}: must be greater than or equal to 0`, field: 'spec.replicas' }],
      });
    }
    const rvText = ((scale.metadata ?? {}) as Obj).resourceVersion;
    const { obj } = await this.o.registry.update(rr.info, rr.namespace, rr.name!, (cur) => {
      (cur.spec as Obj).replicas = replicas;
      return cur;
    }, { preconditionRv: rvText ? Number(rvText) : undefined });
    sendObject(res, 200, this.o.registry.scaleOf(obj), neg);
  }

  private async patch(req: IncomingMessage, res: ServerResponse, rr: ResourceRequest, neg: Negotiated, q: URLSearchParams, _user: AuthenticatedUser): Promise<void> {
    const { info, namespace, name, subresource } = rr;
    if (!name) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    const type = mediaType(req.headers['content-type']);
    const patchTypes = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml', 'application/apply-patch+cbor'];
    if (!patchTypes.includes(type)) {
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${patchTypes.slice(0, 4).join(', ')}`);
    }
    const force = writeQuery(q, 'PatchOptions', type.startsWith('application/apply-patch')).force === true;
    const raw = await readBody(req);
    const patch = decodeBody(raw, type === 'application/apply-patch+yaml' ? 'application/yaml' : 'application/json', ['application/json', 'application/yaml'], { kind: info.kind, group: info.group, name });
    const warnings: string[] = [];
    const apply = (cur: Obj): Obj => {
      let out: unknown;
      if (type === 'application/json-patch+json') out = applyJsonPatch(cur, patch);
      else if (type === 'application/merge-patch+json') {
        if (!isObj(patch)) throw errors.badRequest('merge patch must be a JSON object');
        out = applyMergePatch(cur, patch);
      } else {
        if (!isObj(patch)) throw errors.badRequest('strategic merge patch must be a JSON object');
        out = applyStrategicMergePatch(cur, patch, info.kind);
      }
      if (!isObj(out)) throw errors.badRequest('the patch did not produce an object');
      return out;
    };
    if (subresource === 'scale') {
      if (!info.subresources.scale) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
      const cur = await this.o.registry.get(info, namespace, name);
      const scale = apply(this.o.registry.scaleOf(cur));
      return this.setScale(res, rr, scale, neg);
    }
    if (subresource && subresource !== 'status' && !isCsrApproval(rr)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
    if (type === 'application/apply-patch+yaml') {
      if (!isObj(patch)) throw errors.badRequest('apply patch must be an object');
      const manager = q.get('fieldManager');
      if (!manager) throw errors.badRequest('PATCH /apply is missing the fieldManager parameter: fieldManager is required for apply requests');
      this.checkUnknown(info, patch, q, warnings);
      const pm = (patch.metadata ?? {}) as Obj;
      if (pm.name !== undefined && pm.name !== name) throw errors.badRequest(`the name of the object (${String(pm.name)}) does not match the name on the URL (${name})`);
      const config = { ...patch, metadata: { ...pm, name, ...(info.namespaced ? { namespace } : {}) } };
      const { obj, created } = await this.o.registry.update(info, namespace, name, this.guarded(_user, rr, (cur) => serverSideApply(cur, config, manager, force, info.kind)), {
        subresource,
        dryRun: q.has('dryRun'),
        admission: { user: _user, warnings },
        createIfMissing: () => this.admitCreateOnUpdate(_user, rr, serverSideApply(undefined, config, manager, force, info.kind)),
      });
      return this.respond(res, created ? 201 : 200, info, obj, neg, q, this.warnHeaders(warnings));
    }
    let checked = false;
    const { obj } = await this.o.registry.update(info, namespace, name, this.guarded(_user, rr, (cur) => {
      const rv = String(((cur.metadata ?? {}) as Obj).resourceVersion ?? '');
      const next = apply(cur);
      if (!checked) {
        checked = true;
        if (type !== 'application/json-patch+json' && isObj(patch)) this.checkUnknown(info, applyMergeShape(patch), q, warnings);
        else this.checkUnknown(info, next, q, warnings);
      }
      const nrv = ((next.metadata ?? {}) as Obj).resourceVersion;
      if (nrv !== undefined && String(nrv) !== rv) throw errors.conflict(info, name);
      return next;
    }), { subresource, fieldManager: this.fieldManager(req, q), dryRun: q.has('dryRun'), admission: { user: _user, warnings } });
    this.respond(res, 200, info, obj, neg, q, this.warnHeaders(warnings));
  }

  private async deleteOptions(req: IncomingMessage, q: URLSearchParams): Promise<Obj> {
    const buf = await readBody(req);
    let opts: Obj = {};
    if (buf.length > 0) {
      const body = decodeBody(buf, req.headers['content-type']);
      if (isObj(body)) opts = body;
    }
    const fromQuery = deleteQuery(q);
    if (fromQuery.gracePeriodSeconds !== undefined) opts.gracePeriodSeconds = fromQuery.gracePeriodSeconds;
    if (fromQuery.propagationPolicy !== undefined) opts.propagationPolicy = fromQuery.propagationPolicy;
    if (fromQuery.orphanDependents !== undefined && opts.orphanDependents === undefined) opts.orphanDependents = fromQuery.orphanDependents;
    if (fromQuery.dryRun !== undefined) opts.dryRun = fromQuery.dryRun;
    validateDeleteOptions(opts);
    return opts;
  }

  private async delete(req: IncomingMessage, res: ServerResponse, rr: ResourceRequest, neg: Negotiated, q: URLSearchParams): Promise<void> {
    if (rr.subresource) throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    const opts = await this.deleteOptions(req, q);
    const pre = (opts.preconditions ?? {}) as Obj;
    const { obj, deleted } = await this.o.registry.delete(rr.info, rr.namespace, rr.name!, {
      gracePeriodSeconds: opts.gracePeriodSeconds === undefined ? undefined : Number(opts.gracePeriodSeconds),
      preconditions: { uid: pre.uid as string | undefined, resourceVersion: pre.resourceVersion as string | undefined },
      dryRun: Array.isArray(opts.dryRun) && opts.dryRun.length > 0,
      // The legacy orphanDependents field means propagationPolicy Orphan (true) or Background (false).
      propagationPolicy: (opts.propagationPolicy as string | undefined) ?? (opts.orphanDependents === true ? 'Orphan' : opts.orphanDependents === false ? 'Background' : undefined),
    });
    sendObject(res, deleted ? 200 : 202, obj, neg);
  }

  private async deleteCollection(req: IncomingMessage, res: ServerResponse, rr: ResourceRequest, neg: Negotiated, q: URLSearchParams): Promise<void> {
    const opts = await this.deleteOptions(req, q);
    const { items } = await this.o.registry.list(rr.info, rr.namespace, { selection: this.selection(rr, q) });
    const out: Obj[] = [];
    for (const item of items) {
      const m = (item.metadata ?? {}) as Obj;
      try {
        const { obj } = await this.o.registry.delete(rr.info, m.namespace as string | undefined, String(m.name), {
          gracePeriodSeconds: opts.gracePeriodSeconds === undefined ? undefined : Number(opts.gracePeriodSeconds),
        });
        out.push(obj);
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      }
    }
    sendObject(res, 200, { kind: rr.info.listKind ?? 'List', apiVersion: rr.info.apiVersion, metadata: {}, items: out }, neg);
  }
}

/** A merge/strategic patch body without directives, for unknown-field checks. */
function applyMergeShape(patch: Obj): Obj {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (!isObj(v)) return v;
    const out: Obj = {};
    for (const [k, val] of Object.entries(v)) if (!k.startsWith('$') && val !== null) out[k] = strip(val) as Obj[string];
    return out;
  };
  return strip(patch) as Obj;
}
