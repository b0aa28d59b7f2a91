/**
 * The aggregation layer in front of the REST handler (kube-aggregator's
 * proxy): requests under /apis/GROUP[/VERSION/...] of a group served by a
 * remote APIService are authorized here like any request, then proxied to
 * the Service's endpoint over TLS with the front-proxy client certificate and
 * the user in X-Remote-* headers; /apis discovery (plain and aggregated)
 * lists the remote groups. route() answers false for everything else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AuthenticatedUser } from '../auth/authn.js';
import { forbiddenMessage, type Attributes } from '../auth/rbac.js';
import { errors } from '../errors.js';
import { sendObject } from '../http/body.js';
import { wantsAggregatedDiscovery } from '../http/discovery.js';
import type { Registry } from '../registry/registry.js';
import { ApiServiceIndex } from './apiservices.js';
import { AvailabilityController } from './availability.js';
import { backendHeaders, backendRequest } from './backend_request.js';
import { mergedAggregatedDiscovery, mergedApiGroupList, remoteApiGroup } from './discovery.js';
import type { FrontProxyPki } from './front_proxy_pki.js';
import { aggregatedRequestAttributes } from './request_attributes.js';
import { ResolveError, resolveEndpoint } from './resolve.js';

export interface Authorizer {
  authorize(user: AuthenticatedUser, attrs: Attributes): boolean;
}

/** Response headers not passed back from the backend (hop-by-hop). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

export class Aggregator {
  readonly index: ApiServiceIndex;
  readonly availability: AvailabilityController;

  constructor(private readonly o: { registry: Registry; pki: FrontProxyPki; log: Logger; availabilityIntervalMs?: number }) {
    this.index = new ApiServiceIndex(o.registry);
    this.availability = new AvailabilityController({ registry: o.registry, pki: o.pki, log: o.log, intervalMs: o.availabilityIntervalMs });
  }

  start(): Promise<void> {
    return this.availability.start();
  }

  stop(): void {
    this.availability.stop();
  }

  /** Serves the request if it belongs to the aggregation layer; false lets the REST handler have it. */
  async route(req: IncomingMessage, res: ServerResponse, path: string, url: URL, user: AuthenticatedUser, authz: Authorizer): Promise<boolean> {
    if (path === '/apis') return this.discovery(req, res, path, user, authz);
    const m = /^\/apis\/([^/]+)(?:\/([^/]+))?/.exec(path);
    if (!m) return false;
    const [, group, version] = m as unknown as [string, string, string | undefined];
    if (!version) {
      const doc = this.index.remoteGroup(group).length ? remoteApiGroup(this.index, group) : undefined;
      if (!doc) return false;
      this.authorize(user, { verb: (req.method ?? 'GET').toLowerCase(), path }, authz);
      sendObject(res, 200, doc, { protobuf: false, table: false });
      return true;
    }
    const view = this.index.remote(group, version);
    if (!view) return false;
    this.authorize(user, aggregatedRequestAttributes(req.method ?? 'GET', path, url.searchParams), authz);
    let ep;
    try {
      ep = resolveEndpoint(this.o.registry, view.service!);
    } catch (err) {
      if (!(err instanceof ResolveError)) throw err;
      this.o.log.warn({ apiservice: view.name, reason: err.reason, msg: err.message }, 'aggregated API server unreachable');
      this.unavailable(res);
      return true;
    }
    await this.proxy(req, res, view, ep, url, user);
    return true;
  }

  private authorize(user: AuthenticatedUser, attrs: Attributes, authz: Authorizer): void {
    if (!authz.authorize(user, attrs)) {
      throw errors.forbidden(forbiddenMessage(user, attrs), attrs.resource ? { name: attrs.name, group: attrs.apiGroup || undefined, kind: attrs.resource } : undefined);
    }
  }

  private discovery(req: IncomingMessage, res: ServerResponse, path: string, user: AuthenticatedUser, authz: Authorizer): boolean {
    if (req.method !== 'GET' || this.index.remoteGroups().length === 0) return false;
    this.authorize(user, { verb: 'get', path }, authz);
    const aggregated = wantsAggregatedDiscovery(req.headers.accept);
    if (aggregated) {
      res.writeHead(200, { 'Content-Type': `application/json;g=apidiscovery.k8s.io;v=${aggregated};as=APIGroupDiscoveryList` });
      res.end(JSON.stringify(mergedAggregatedDiscovery(this.index, aggregated, this.availability.discovery)));
      return true;
    }
    sendObject(res, 200, mergedApiGroupList(this.index), { protobuf: false, table: false });
    return true;
  }

  /** As upstream's proxyError: plain text "service unavailable", 503. */
  private unavailable(res: ServerResponse): void {
    res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end('service unavailable\n');
  }

  private proxy(req: IncomingMessage, res: ServerResponse, view: NonNullable<ReturnType<ApiServiceIndex['remote']>>, ep: { host: string; port: number }, url: URL, user: AuthenticatedUser): Promise<void> {
    return new Promise((resolve) => {
      const out = backendRequest(view, ep, this.o.pki, req.method ?? 'GET', `${url.pathname}${url.search}`, backendHeaders(req.headers, user));
      out.on('response', (back) => {
        const headers: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(back.headers)) if (v !== undefined && !HOP_BY_HOP.has(k.toLowerCase())) headers[k] = v;
        res.writeHead(back.statusCode ?? 502, headers);
        back.pipe(res);
        back.on('end', resolve);
        back.on('error', () => {
          res.destroy();
          resolve();
        });
      });
      out.on('error', (err) => {
        this.o.log.warn({ err, apiservice: view.name }, 'proxying to the aggregated API server failed');
        if (!res.headersSent) {
          res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
          res.end(`Error trying to reach service: '${err.message}'\n`);
        } else res.destroy();
        resolve();
      });
      res.on('close', () => out.destroy());
      req.pipe(out);
    });
  }
}

