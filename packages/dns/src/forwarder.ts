/**
 * Forwarding of names outside the cluster to the host's resolvers (the
 * nameservers of /etc/resolv.conf): one UDP query per attempt, each resolver
 * tried in turn within a deadline, TCP when the answer comes back truncated.
 * Answers are cached for their smallest TTL (at most maxTtl), negative answers
 * (NXDOMAIN, NODATA) for the SOA minimum (at most negativeTtl, RFC 2308), and
 * failures — no resolver, none answering: SERVFAIL — for failureTtl, so an
 * offline machine answers at once instead of waiting again.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type Packet } from 'dns-packet';
import { CodedError } from '@mkube/component-base';

export class ForwardError extends CodedError {
  constructor(code: 'NO_UPSTREAM' | 'UPSTREAM_TIMEOUT' | 'UPSTREAM_FAILED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export interface ForwardResult {
  rcode: string;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
  /** Whether the answer came from the cache. */
  cached: boolean;
}

export interface ForwarderOptions {
  /** host or host:port; default: the nameservers of /etc/resolv.conf. */
  upstreams?: string[];
  /** Addresses never forwarded to (the cluster DNS itself, to avoid loops). */
  exclude?: string[];
  timeoutMs?: number;
  maxTtl?: number;
  negativeTtl?: number;
  failureTtl?: number;
  maxEntries?: number;
  now?: () => number;
}

/** The nameserver lines of a resolv.conf. */
export function resolvConfNameservers(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[0] === 'nameserver' && f[1])
    .map((f) => f[1]!);
}

export function hostResolvers(path = '/etc/resolv.conf'): string[] {
  try {
    return resolvConfNameservers(readFileSync(path, 'utf8'));
  } catch {
    return [];
  }
}

/** dns-packet decodes the header's rcode too (its types omit it). */
type Decoded = DecodedPacket & { rcode?: string };

interface Entry {
  expires: number;
  result: Omit<ForwardResult, 'cached'>;
}

const parseUpstream = (u: string): { host: string; port: number } => {
  const m = /^\[(.+)\]:(\d+)$/.exec(u) ?? /^([^:]+):(\d+)$/.exec(u);
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: u, port: 53 };
};

export class Forwarder {
  private readonly cache = new Map<string, Entry>();
  private readonly upstreams: { host: string; port: number }[];
  private readonly o: Required<Omit<ForwarderOptions, 'upstreams' | 'exclude'>>;
  private nextId = 1;
  /** Cache hits and misses (for metrics). */
  hits = 0;
  misses = 0;

  constructor(opts: ForwarderOptions = {}) {
    const exclude = new Set(opts.exclude ?? []);
    this.upstreams = (opts.upstreams ?? hostResolvers()).map(parseUpstream).filter((u) => !exclude.has(u.host));
    this.o = { timeoutMs: opts.timeoutMs ?? 2000, maxTtl: opts.maxTtl ?? 30, negativeTtl: opts.negativeTtl ?? 5, failureTtl: opts.failureTtl ?? 5, maxEntries: opts.maxEntries ?? 10_000, now: opts.now ?? Date.now };
  }

  get upstreamCount(): number {
    return this.upstreams.length;
  }

  async resolve(name: string, type: string): Promise<ForwardResult> {
    const key = `${name.toLowerCase()}|${type}`;
    const now = this.o.now();
    const hit = this.cache.get(key);
    if (hit && hit.expires > now) {
      this.hits++;
      return { ...hit.result, cached: true };
    }
    this.misses++;
    let result: Omit<ForwardResult, 'cached'>;
    let ttl: number;
    try {
      const res = await this.query(name, type);
      result = { rcode: res.rcode ?? 'NOERROR', answers: res.answers ?? [], authorities: res.authorities ?? [], additionals: (res.additionals ?? []).filter((a) => a.type !== 'OPT') };
      ttl = this.ttlOf(result);
    } catch {
      result = { rcode: 'SERVFAIL', answers: [], authorities: [], additionals: [] };
      ttl = this.o.failureTtl;
    }
    if (this.cache.size >= this.o.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { expires: now + ttl * 1000, result });
    return { ...result, cached: false };
  }

  private ttlOf(r: Omit<ForwardResult, 'cached'>): number {
    if (r.rcode === 'NOERROR' && r.answers.length > 0) return Math.min(this.o.maxTtl, ...r.answers.map((a) => ('ttl' in a && a.ttl !== undefined ? a.ttl : this.o.maxTtl)));
    if (r.rcode === 'NOERROR' || r.rcode === 'NXDOMAIN') {
      const soa = r.authorities.find((a) => a.type === 'SOA');
      const min = soa && soa.type === 'SOA' ? Math.min(soa.ttl ?? this.o.negativeTtl, soa.data.minimum ?? this.o.negativeTtl) : this.o.negativeTtl;
      return Math.min(this.o.negativeTtl, min);
    }
    return this.o.failureTtl;
  }

  /** Asks each upstream in turn until one answers. */
  private async query(name: string, type: string): Promise<Decoded> {
    if (this.upstreams.length === 0) throw new ForwardError('NO_UPSTREAM', `cannot forward ${name} ${type}: no upstream nameserver (none in /etc/resolv.conf)`);
    let last: unknown;
    for (const u of this.upstreams) {
      try {
        const res = await this.udp(u, name, type);
        return res.flags !== undefined && (res.flags & dnsPacket.TRUNCATED_RESPONSE) !== 0 ? await this.tcp(u, name, type) : res;
      } catch (err) {
        last = err;
      }
    }
    throw new ForwardError('UPSTREAM_FAILED', `no upstream nameserver answered ${name} ${type}`, { cause: last });
  }

  private packet(name: string, type: string): Packet {
    this.nextId = (this.nextId + 1) & 0xffff;
    return { type: 'query', id: this.nextId, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as never, name, class: 'IN' }] };
  }

  private udp(u: { host: string; port: number }, name: string, type: string): Promise<Decoded> {
    const q = this.packet(name, type);
    return new Promise((resolve, reject) => {
      const sock = createSocket(u.host.includes(':') ? 'udp6' : 'udp4');
      const done = (err: unknown, res?: Decoded) => {
        clearTimeout(timer);
        sock.close();
        if (err) reject(err);
        else resolve(res!);
      };
      const timer = setTimeout(() => done(new ForwardError('UPSTREAM_TIMEOUT', `${u.host}:${u.port} did not answer ${name} ${type} within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
      sock.on('error', (err) => done(err));
      sock.on('message', (msg) => {
        try {
          const res = dnsPacket.decode(msg);
          if (res.id === q.id) done(undefined, res);
        } catch {
          // Not a DNS message: keep waiting for the answer.
        }
      });
      sock.send(dnsPacket.encode(q), u.port, u.host, (err) => {
        if (err) done(err);
      });
    });
  }

  private tcp(u: { host: string; port: number }, name: string, type: string): Promise<Decoded> {
    const q = this.packet(name, type);
    return new Promise((resolve, reject) => {
      const sock = connect(u.port, u.host);
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => sock.destroy(new ForwardError('UPSTREAM_TIMEOUT', `${u.host}:${u.port} (TCP) did not answer ${name} ${type} within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
      sock.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sock.on('connect', () => sock.write(dnsPacket.streamEncode(q)));
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(timer);
          sock.end();
          try {
            resolve(dnsPacket.streamDecode(buf) as Decoded);
          } catch (err) {
            reject(err);
          }
        }
      });
    });
  }
}
