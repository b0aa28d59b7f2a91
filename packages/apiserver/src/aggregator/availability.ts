/**
 * The APIService availability controller (kube-aggregator's
 * AvailableConditionController): for each APIService, the `Available`
 * condition — True/Local for a local one; for a remote one False with
 * ServiceNotFound, ServicePortError, EndpointsNotFound, MissingEndpoints or
 * FailedDiscoveryCheck, True/Passed when the backend answers its discovery
 * document (GET /apis/GROUP/VERSION as system:kube-aggregator). Re-checked on
 * every change of an APIService, Service or Endpoints and every 30 s; the
 * discovery document of an available backend is kept for /apis discovery.
 */
import { findResource, type JsonObject } from '@mkube/api';
import type { Logger } from 'pino';
import type { Registry } from '../registry/registry.js';
import type { CacheWatch } from '../storage/watch_cache.js';
import { APISERVICES, viewOf, type ApiServiceView } from './apiservices.js';
import { backendRequest } from './backend_request.js';
import type { FrontProxyPki } from './front_proxy_pki.js';
import { ResolveError, resolveEndpoint } from './resolve.js';

type Obj = JsonObject;

export interface Availability {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

const AGGREGATOR_USER = { name: 'system:kube-aggregator', groups: ['system:masters'] };
const DISCOVERY_TIMEOUT_MS = 5_000;

export class AvailabilityController {
  private timer: NodeJS.Timeout | undefined;
  private watches: CacheWatch[] = [];
  private pending: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** The APIResourceList each available remote APIService answered (by APIService name). */
  readonly discovery = new Map<string, Obj>();

  constructor(private readonly o: { registry: Registry; pki: FrontProxyPki; log: Logger; intervalMs?: number }) {}

  async start(): Promise<void> {
    const poke = () => this.schedule();
    for (const info of [APISERVICES, findResource('', 'v1', 'services')!, findResource('', 'v1', 'endpoints')!]) {
      this.watches.push(await this.o.registry.watch(info, undefined, undefined, { labels: [], fields: [] }, poke));
    }
    this.schedule();
    this.timer = setInterval(poke, this.o.intervalMs ?? 30_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    for (const w of this.watches) w.stop();
  }

  /** Coalesces bursts of changes into one sync. */
  private schedule(): void {
    if (this.stopped || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      if (this.running) {
        this.again = true;
        return;
      }
      this.running = this.syncAll()
        .catch((err: unknown) => this.o.log.warn({ err }, 'APIService availability sync failed'))
        .finally(() => {
          this.running = undefined;
          if (this.again) {
            this.again = false;
            this.schedule();
          }
        });
    }, 50);
  }

  private async syncAll(): Promise<void> {
    const views = this.o.registry.cachedList(APISERVICES).map(viewOf);
    const names = new Set(views.map((v) => v.name));
    for (const k of [...this.discovery.keys()]) if (!names.has(k)) this.discovery.delete(k);
    await Promise.all(views.map((v) => this.sync(v).catch((err: unknown) => this.o.log.warn({ err, apiservice: v.name }, 'APIService availability check failed'))));
  }

  /** The condition for one APIService (and its discovery document when it answered). */
  async check(view: ApiServiceView): Promise<{ cond: Availability; discovery?: Obj }> {
    if (!view.service) return { cond: { status: 'True', reason: 'Local', message: 'Local APIServices are always available' } };
    let ep;
    try {
      ep = resolveEndpoint(this.o.registry, view.service);
    } catch (err) {
      if (err instanceof ResolveError) return { cond: { status: 'False', reason: err.reason, message: err.message } };
      throw err;
    }
    const path = `/apis/${view.group}/${view.version}`;
    const url = `https://${view.service.name}.${view.service.namespace}.svc:${view.service.port}${path}`;
    try {
      const doc = await this.fetchDiscovery(view, ep, path);
      return { cond: { status: 'True', reason: 'Passed', message: 'all checks passed' }, discovery: doc };
    } catch (err) {
      return { cond: { status: 'False', reason: 'FailedDiscoveryCheck', message: `failing or missing response from ${url}: ${(err as Error).message}` } };
    }
  }

  private fetchDiscovery(view: ApiServiceView, ep: { host: string; port: number }, path: string): Promise<Obj> {
    return new Promise((resolve, reject) => {
      const headers = { Accept: 'application/json', 'X-Remote-User': AGGREGATOR_USER.name, 'X-Remote-Group': AGGREGATOR_USER.groups };
      const req = backendRequest(view, ep, this.o.pki, 'GET', path, headers, DISCOVERY_TIMEOUT_MS);
      req.on('timeout', () => req.destroy(new Error(`Get "${path}": context deadline exceeded`)));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          if (code < 200 || code >= 300) return reject(new Error(`bad status from https://${view.service!.name}.${view.service!.namespace}.svc:${view.service!.port}${path}: ${code}`));
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Obj;
            resolve(body);
          } catch {
            resolve({});
          }
        });
      });
      req.end();
    });
  }

  private async sync(view: ApiServiceView): Promise<void> {
    const { cond, discovery } = await this.check(view);
    if (discovery) this.discovery.set(view.name, discovery);
    else this.discovery.delete(view.name);
    const current = ((view.obj.status as Obj | undefined)?.conditions as Obj[] | undefined)?.find((c) => c.type === 'Available');
    if (current && current.status === cond.status && current.reason === cond.reason && current.message === cond.message) return;
    await this.o.registry.update(APISERVICES, undefined, view.name, (cur) => {
      const status = (cur.status ?? {}) as Obj;
      const conds = ((status.conditions ?? []) as Obj[]).filter((c) => c.type !== 'Available');
      const prev = ((status.conditions ?? []) as Obj[]).find((c) => c.type === 'Available');
      const lastTransitionTime = prev && prev.status === cond.status ? prev.lastTransitionTime : new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      conds.push({ type: 'Available', status: cond.status, lastTransitionTime: lastTransitionTime ?? null, reason: cond.reason, message: cond.message });
      return { ...cur, status: { ...status, conditions: conds } };
    }, { subresource: 'status', fieldManager: 'kube-apiserver' });
    this.o.log.info({ apiservice: view.name, status: cond.status, reason: cond.reason }, 'APIService availability changed');
  }
}
