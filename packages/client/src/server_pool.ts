/**
 * ServerPool: the API servers one KubeClient may talk to — which one is in
 * use, which are marked down (skipped for a while) — and the liveness probe
 * that tells a dead server (refused, unreachable, silent) from a slow one:
 * GET /livez/ping on a fresh connection, TCP + TLS + reply within a budget.
 * (ping, not the whole /livez: that includes the store check, which fails on
 * every API server at once during a store outage or election — no reason to
 * move.)
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';

export interface ProbeTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export class ServerPool {
  readonly urls: URL[];
  private cur = 0;
  private readonly downUntil: number[];
  /** One probe per server at a time; a result is reused for `probeCacheMs`. */
  private readonly probes = new Map<number, { at: number; result: Promise<boolean> }>();

  constructor(
    primary: string,
    others: string[] = [],
    private readonly downMs = 10_000,
    private readonly probeTimeoutMs = 800,
    private readonly probeCacheMs = 500,
  ) {
    const seen = new Set<string>();
    this.urls = [];
    for (const s of [primary, ...others]) {
      const u = new URL(s);
      if (seen.has(u.origin)) continue;
      seen.add(u.origin);
      this.urls.push(u);
    }
    this.downUntil = this.urls.map(() => 0);
  }

  /** More than one server: failover applies. */
  get multi(): boolean {
    return this.urls.length > 1;
  }

  get size(): number {
    return this.urls.length;
  }

  /** The index of the server in use. */
  get current(): number {
    return this.cur;
  }

  url(i: number): URL {
    return this.urls[i];
  }

  /**
   * Marks server i down for downMs; when it is the one in use, moves to the
   * next server not marked down (or simply the next when all are). True when
   * this call changed the server in use.
   */
  markDown(i: number, now = Date.now()): boolean {
    this.downUntil[i] = now + this.downMs;
    this.probes.delete(i);
    if (i !== this.cur) return false;
    const n = this.urls.length;
    for (let k = 1; k < n; k++) {
      const j = (i + k) % n;
      if (this.downUntil[j] <= now) {
        this.cur = j;
        return true;
      }
    }
    this.cur = (i + 1) % n;
    return n > 1;
  }

  /** Whether server i answers /livez/ping (any reply below 500) within the probe budget. */
  alive(i: number, tls: ProbeTls): Promise<boolean> {
    const cached = this.probes.get(i);
    const now = Date.now();
    if (cached && now - cached.at < this.probeCacheMs) return cached.result;
    const result = probeLivez(this.urls[i], tls, this.probeTimeoutMs);
    this.probes.set(i, { at: now, result });
    return result;
  }
}

/** GET /livez/ping on a fresh connection; false on any transport failure, a 5xx, or no reply within timeoutMs. */
export function probeLivez(base: URL, tls: ProbeTls, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const url = new URL('/livez/ping', base);
    const opts: RequestOptions = { method: 'GET', agent: false, headers: { Accept: 'text/plain' }, ...(url.protocol === 'https:' ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}) };
    const fn = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(ok);
    };
    const req = fn(url, opts, (res) => {
      res.resume();
      finish((res.statusCode ?? 500) < 500);
    });
    const timer = setTimeout(() => finish(false), timeoutMs);
    req.on('error', () => finish(false));
    req.end();
  });
}
