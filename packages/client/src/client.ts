/**
 * KubeClient: the Kubernetes REST API over node's https module with one
 * keep-alive agent (client certificate or bearer token, pinned CA), and
 * ResourceClient<T>, the typed verbs of one resource (CRUD, status, patch,
 * delete options, paginated list, streaming watch, subresource POSTs).
 * Given several API servers (ClientConfig.servers) it fails over between
 * them (README "Several API servers"; the pool and probe: server_pool.ts).
 */
import { Agent, request as httpsRequest } from 'node:https';
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage, type ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientConfig } from './config.js';
import { ServerPool } from './server_pool.js';
import { ApiError, type Status } from './errors.js';
import { resourcePath, type GVR } from './resources.js';
import type { KubeObject as ApiKubeObject, ObjectMeta, Stored } from '@mkube/api';

/**
 * The loose object shape of code not yet on the generated kinds: @mkube/api's
 * ObjectMeta with a name, spec and status untyped. New code passes a
 * generated kind (Pod, Deployment...) as ResourceClient's type parameter.
 */
export interface KubeObject extends ApiKubeObject {
  metadata: ObjectMeta & { name: string };
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- the untyped shape, for callers not yet on the generated kinds
  status?: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- the untyped shape, for callers not yet on the generated kinds
  [k: string]: unknown;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; list() still returns every item (it follows continue tokens). */
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface WatchOptions extends ListOptions {
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchHandle {
  stop(): void;
  /** Resolves when the stream ends (server closed it, timeoutSeconds, or stop()); rejects on a transport error or a non-200 reply. */
  done: Promise<void>;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

/**
 * The verbs of one resource. Objects the server returns are Stored<T>: their
 * metadata carries name, uid, resourceVersion and creationTimestamp.
 */
export interface ResourceClient<T extends ApiKubeObject = KubeObject> {
  readonly gvr: GVR;
  get(namespace: string | undefined, name: string): Promise<Stored<T>>;
  list(namespace?: string, opts?: ListOptions): Promise<{ items: Stored<T>[]; resourceVersion: string }>;
  create(namespace: string | undefined, obj: T): Promise<Stored<T>>;
  update(obj: T): Promise<Stored<T>>;
  updateStatus(obj: T): Promise<Stored<T>>;
  patch(namespace: string | undefined, name: string, patch: unknown, type?: PatchType, subresource?: string): Promise<Stored<T>>;
  delete(namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<void>;
  watch(namespace: string | undefined, opts: WatchOptions, onEvent: (type: WatchEventType, obj: Stored<T>) => void): WatchHandle;
  subresourceCreate(namespace: string, name: string, subresource: string, body: unknown): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the reply's kind depends on the subresource
}

/** A transport failure (connection refused, reset, timeout) with the request it belongs to. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly method: string,
    readonly path: string,
    readonly code: string,
    /** The API server it was sent to (origin), when known. */
    readonly server?: string,
    /** False when no connection was made (nothing reached the server): safe to send elsewhere. */
    readonly connected = true,
  ) {
    super(`${method} ${path}${server ? ` (${server})` : ''}: ${message}`);
    this.name = 'RequestError';
  }
}

/** A switch from one API server to the next. */
export interface FailoverEvent {
  from: string;
  to: string;
  reason: string;
}

/** Verbs sent again on the next server when their connection broke after sending. */
const RETRY_AFTER_SEND = new Set(['GET', 'HEAD']);
/** How often a pending request or the open watches probe their server's /livez/ping (several servers only). */
const PROBE_EVERY_MS = 1000;

export class KubeClient {
  readonly config: ClientConfig;
  private agent: Agent | HttpAgent;
  private readonly pool: ServerPool;
  /** Open watch requests → the index of their server. */
  private readonly watches = new Map<ClientRequest, number>();
  /** Pending non-watch requests → the index of their server. */
  private readonly inflight = new Map<ClientRequest, number>();
  private watchMonitor: NodeJS.Timeout | undefined;
  /** Called on each switch to another API server (components log it). */
  onFailover: ((e: FailoverEvent) => void) | undefined;
  /** Switches to another API server so far. */
  failovers = 0;

  constructor(cfg: ClientConfig) {
    this.config = cfg;
    this.pool = new ServerPool(cfg.server, cfg.servers ?? []);
    const tls = this.pool.url(0).protocol === 'https:';
    this.agent = tls
      ? new Agent({ keepAlive: true, ca: cfg.ca, cert: cfg.cert, key: cfg.key, maxFreeSockets: 16 })
      : new HttpAgent({ keepAlive: true, maxFreeSockets: 16 });
  }

  resource<T extends ApiKubeObject = KubeObject>(gvr: GVR): ResourceClient<T> {
    return new RestResource<T>(this, gvr);
  }

  private headers(extra?: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.config.userAgent ?? 'mkube-client/0.1' };
    if (this.config.token) h.Authorization = `Bearer ${this.config.token}`;
    return { ...h, ...extra };
  }

  /** The API server in use (origin). */
  get currentServer(): string {
    return this.pool.url(this.pool.current).origin;
  }

  private open(method: string, path: string, headers: Record<string, string>, server: number, onResponse: (res: IncomingMessage) => void): ClientRequest {
    const url = new URL(path, this.pool.url(server));
    const fn = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return fn(url, { method, headers, agent: this.agent as Agent }, onResponse);
  }

  /**
   * Tracks whether the request's connection was made: a reused keep-alive
   * socket counts as made; a new one must finish TCP (+ TLS) within
   * connectTimeoutMs (with several servers) or the request is destroyed
   * with ECONNTIMEOUT.
   */
  private trackConnect(req: ClientRequest): () => boolean {
    let connected = false;
    req.on('socket', (sock: Socket) => {
      if (req.reusedSocket || (!sock.connecting && !sock.pending)) {
        connected = true;
        return;
      }
      const event = this.pool.url(0).protocol === 'https:' ? 'secureConnect' : 'connect';
      const ms = this.config.connectTimeoutMs ?? 1000;
      const timer = this.pool.multi ? setTimeout(() => req.destroy(Object.assign(new Error(`no connection within ${ms} ms`), { code: 'ECONNTIMEOUT' })), ms) : undefined;
      sock.once(event, () => {
        connected = true;
        clearTimeout(timer);
      });
      sock.once('close', () => clearTimeout(timer));
    });
    return () => connected;
  }

  /**
   * After a transport failure on server `idx`: a failure to connect fails
   * over at once; a broken connection fails over when the server does not
   * answer a /livez/ping probe either (a reset of one keep-alive socket on a
   * live server is not a reason to leave it).
   */
  private async judge(idx: number, err: RequestError): Promise<void> {
    if (!this.pool.multi || idx !== this.pool.current) return;
    if (!err.connected || !(await this.pool.alive(idx, this.config))) this.failover(idx, `${err.code}: ${err.message}`);
  }

  /** Leaves server `idx`: marks it down, destroys its pending requests, watches and pooled sockets. */
  private failover(idx: number, reason: string): void {
    if (!this.pool.multi) return;
    const from = this.pool.url(idx).origin;
    const moved = this.pool.markDown(idx);
    const gone = (): Error => Object.assign(new Error(`API server ${from} failed over: ${reason}`), { code: 'EFAILOVER' });
    for (const [req, i] of this.inflight) if (i === idx) req.destroy(gone());
    for (const [req, i] of this.watches) if (i === idx) req.destroy(gone());
    const prefix = `${this.pool.url(idx).hostname}:${this.pool.url(idx).port || (this.pool.url(idx).protocol === 'https:' ? 443 : 80)}:`;
    for (const table of [this.agent.freeSockets, this.agent.sockets]) {
      for (const [name, socks] of Object.entries(table)) if (name.startsWith(prefix)) for (const s of socks ?? []) s.destroy();
    }
    if (moved) {
      this.failovers++;
      this.onFailover?.({ from, to: this.pool.url(this.pool.current).origin, reason });
    }
  }

  /** While watches are open (several servers): probe the server in use every second; a dead one fails over. */
  private ensureWatchMonitor(): void {
    if (!this.pool.multi || this.watchMonitor) return;
    this.watchMonitor = setInterval(() => {
      if (this.watches.size === 0) {
        clearInterval(this.watchMonitor);
        this.watchMonitor = undefined;
        return;
      }
      const idx = this.pool.current;
      if (![...this.watches.values()].includes(idx)) return;
      void this.pool.alive(idx, this.config).then((ok) => {
        if (!ok && idx === this.pool.current) this.failover(idx, 'no /livez/ping reply');
      });
    }, PROBE_EVERY_MS);
    this.watchMonitor.unref();
  }

  /**
   * One request; resolves with the parsed JSON body (or text), rejects with
   * ApiError (non-2xx) or RequestError (transport). With several servers a
   * request that could not connect goes to the next server, and so does a
   * GET whose connection broke.
   */
  async request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- the parsed body of any path (object, list, Status or text); the typed ResourceClient methods narrow it
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const h = this.headers(headers);
    if (payload !== undefined) {
      h['Content-Type'] ??= 'application/json';
      h['Content-Length'] = String(Buffer.byteLength(payload));
    }
    if (!this.pool.multi) return this.requestOn(this.pool.current, method, path, payload, h);
    let last: unknown;
    for (let attempt = 0; attempt <= this.pool.size; attempt++) {
      const idx = this.pool.current;
      try {
        return await this.requestOn(idx, method, path, payload, h);
      } catch (err) {
        if (!(err instanceof RequestError)) throw err;
        await this.judge(idx, err);
        if (err.connected && !RETRY_AFTER_SEND.has(method)) throw err;
        last = err;
      }
    }
    throw last;
  }

  private requestOn(idx: number, method: string, path: string, payload: string | Buffer | undefined, h: Record<string, string>): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- as request()
    const timeoutMs = this.config.timeoutMs ?? 30_000;
    const server = this.pool.url(idx).origin;
    return new Promise((resolve, reject) => {
      let probe: NodeJS.Timeout | undefined;
      const req = this.open(method, path, h, idx, (res) => {
        clearInterval(probe);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new RequestError(err.message, method, path, (err as NodeJS.ErrnoException).code ?? 'ERESPONSE', server)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if (text && /json/.test(String(res.headers['content-type'] ?? 'json'))) {
            try {
              parsed = JSON.parse(text);
            } catch {
              // leave as text
            }
          }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(parsed);
          else reject(toApiError(code, parsed, `${method} ${path}`));
        });
      });
      const connected = this.trackConnect(req);
      this.inflight.set(req, idx);
      if (this.pool.multi) {
        // A server that stops answering (a dead host dropping packets): probe it while we wait.
        probe = setInterval(() => {
          void this.pool.alive(idx, this.config).then((ok) => {
            if (!ok && idx === this.pool.current) this.failover(idx, 'no /livez/ping reply');
          });
        }, PROBE_EVERY_MS);
      }
      req.on('close', () => {
        clearInterval(probe);
        this.inflight.delete(req);
      });
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(new RequestError(err.message, method, path, (err as NodeJS.ErrnoException).code ?? 'EREQUEST', server, connected())));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** A streaming GET of newline-delimited JSON watch events. */
  stream(path: string, onEvent: (type: WatchEventType, obj: any) => void, idleTimeoutMs: number): WatchHandle { // eslint-disable-line @typescript-eslint/no-explicit-any -- an event's object is the watched kind, a BOOKMARK or an ERROR Status; callers narrow it by type
    let req: ClientRequest | undefined;
    let stopped = false;
    const idx = this.pool.current;
    const server = this.pool.url(idx).origin;
    const fail = (err: RequestError, reject: (e: unknown) => void): void => {
      if (!this.pool.multi) return reject(err);
      void this.judge(idx, err).then(() => reject(err));
    };
    const done = new Promise<void>((resolve, reject) => {
      req = this.open('GET', path, this.headers(), idx, (res) => {
        const code = res.statusCode ?? 0;
        if (code !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // text
            }
            reject(toApiError(code, parsed, `GET ${path}`));
          });
          return;
        }
        let buf = '';
        res.on('data', (c: Buffer) => {
          if (stopped) return;
          buf += c.toString('utf8');
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            let ev: { type: WatchEventType; object: unknown };
            try {
              ev = JSON.parse(line);
            } catch (err) {
              req?.destroy(new Error(`bad watch event: ${(err as Error).message}`));
              return;
            }
            try {
              onEvent(ev.type, ev.object);
            } catch {
              // a throwing handler must not kill the stream
            }
            if (stopped) return;
          }
        });
        res.on('end', () => resolve());
        res.on('aborted', () => (stopped ? resolve() : fail(new RequestError('stream aborted', 'GET', path, 'ECONNRESET', server), reject)));
        res.on('error', (err) => (stopped ? resolve() : fail(new RequestError(err.message, 'GET', path, (err as NodeJS.ErrnoException).code ?? 'ERESPONSE', server), reject)));
      });
      const connected = this.trackConnect(req);
      if (idleTimeoutMs > 0) req.setTimeout(idleTimeoutMs, () => req?.destroy(Object.assign(new Error(`watch idle for ${idleTimeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => (stopped ? resolve() : fail(new RequestError(err.message, 'GET', path, (err as NodeJS.ErrnoException).code ?? 'EREQUEST', server, connected()), reject)));
      req.on('close', () => {
        this.watches.delete(req!);
        if (stopped) resolve();
      });
      this.watches.set(req, idx);
      this.ensureWatchMonitor();
      req.end();
    });
    done.catch(() => undefined); // callers that never await done must not crash the process
    return {
      done,
      stop: () => {
        if (stopped) return;
        stopped = true;
        req?.destroy();
      },
    };
  }

  /**
   * Replaces the client certificate (the node agent's certificate rotation):
   * later requests present the new pair; open connections and watches are
   * closed (watches reconnect) so that nothing keeps the old identity, as
   * kubelet closes its connections when its certificate rotates.
   */
  setClientCertificate(cert: Buffer, key: Buffer): void {
    if (!(this.agent instanceof Agent)) return;
    const old = this.agent;
    this.config.cert = cert;
    this.config.key = key;
    this.agent = new Agent({ keepAlive: true, ca: this.config.ca, cert, key, maxFreeSockets: 16 });
    for (const w of this.watches.keys()) w.destroy();
    this.watches.clear();
    old.destroy();
  }

  /** Aborts open watches and closes idle keep-alive sockets. */
  close(): void {
    clearInterval(this.watchMonitor);
    this.watchMonitor = undefined;
    for (const w of this.watches.keys()) w.destroy();
    this.watches.clear();
    this.agent.destroy();
  }
}

function toApiError(code: number, body: unknown, context: string): ApiError {
  const status: Status = body && typeof body === 'object' && (body as Status).kind === 'Status' ? (body as Status) : { kind: 'Status', status: 'Failure', code, message: typeof body === 'string' ? body.slice(0, 500) : JSON.stringify(body)?.slice(0, 500) };
  return new ApiError(code, status, context);
}

function query(opts: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(opts)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

class RestResource<T extends ApiKubeObject> implements ResourceClient<T> {
  constructor(
    private readonly c: KubeClient,
    readonly gvr: GVR,
  ) {}

  private path(namespace?: string, name?: string, sub?: string): string {
    if (this.gvr.namespaced && name !== undefined && !namespace) throw new Error(`${this.gvr.resource} is namespaced: namespace required for "${name}"`);
    return resourcePath(this.gvr, namespace, name, sub);
  }

  get(namespace: string | undefined, name: string): Promise<Stored<T>> {
    return this.c.request('GET', this.path(namespace, name));
  }

  async list(namespace?: string, opts: ListOptions = {}): Promise<{ items: Stored<T>[]; resourceVersion: string }> {
    const items: Stored<T>[] = [];
    let cont = opts.continue;
    let rv = '';
    for (;;) {
      let page: { items?: Stored<T>[]; metadata?: { resourceVersion?: string; continue?: string } };
      try {
        page = await this.c.request('GET', this.path(namespace) + query({ labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: opts.limit, continue: cont, resourceVersion: cont ? undefined : opts.resourceVersion }));
      } catch (err) {
        // An expired continue token (410): start over with one consistent, unpaginated list.
        if (cont && ApiError.isGone(err) && opts.continue === undefined) {
          return this.list(namespace, { ...opts, limit: undefined, continue: undefined });
        }
        throw err;
      }
      items.push(...(page.items ?? []));
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?.continue;
      if (!cont) break;
    }
    return { items, resourceVersion: rv };
  }

  create(namespace: string | undefined, obj: T): Promise<Stored<T>> {
    return this.c.request('POST', this.path(namespace ?? obj.metadata?.namespace), obj);
  }

  update(obj: T): Promise<Stored<T>> {
    return this.c.request('PUT', this.path(obj.metadata?.namespace, this.nameOf(obj)), obj);
  }

  updateStatus(obj: T): Promise<Stored<T>> {
    return this.c.request('PUT', this.path(obj.metadata?.namespace, this.nameOf(obj), 'status'), obj);
  }

  /** The name an update addresses; an object without one cannot be updated. */
  private nameOf(obj: T): string {
    const name = obj.metadata?.name;
    if (!name) throw new Error(`update of ${this.gvr.resource}: the object has no metadata.name`);
    return name;
  }

  patch(namespace: string | undefined, name: string, patch: unknown, type: PatchType = 'merge', subresource?: string): Promise<Stored<T>> {
    const q = type === 'apply' ? '?fieldManager=mkube-client&force=true' : '';
    return this.c.request('PATCH', this.path(namespace, name, subresource) + q, typeof patch === 'string' ? patch : JSON.stringify(patch), { 'Content-Type': PATCH_CONTENT_TYPES[type] });
  }

  async delete(namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<void> {
    const body = opts ? { kind: 'DeleteOptions', apiVersion: 'v1', ...opts } : undefined;
    await this.c.request('DELETE', this.path(namespace, name), body);
  }

  watch(namespace: string | undefined, opts: WatchOptions, onEvent: (type: WatchEventType, obj: Stored<T>) => void): WatchHandle {
    const path =
      this.path(namespace) +
      query({
        watch: 'true',
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        resourceVersion: opts.resourceVersion,
        allowWatchBookmarks: opts.allowWatchBookmarks ? 'true' : undefined,
        timeoutSeconds: opts.timeoutSeconds,
      });
    // Without bookmarks a quiet watch is legitimately silent: only time out a bit after the server should have closed it.
    const idle = opts.timeoutSeconds !== undefined ? opts.timeoutSeconds * 1000 + 30_000 : 0;
    return this.c.stream(path, onEvent, idle);
  }

  subresourceCreate(namespace: string, name: string, subresource: string, body: unknown): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- the reply's kind depends on the subresource
    return this.c.request('POST', this.path(namespace, name, subresource), body);
  }
}
