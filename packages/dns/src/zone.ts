/**
 * The cluster zone: the records of upstream's Kubernetes DNS specification
 * (schema 1.1.0) kept from Services and EndpointSlices, and the answer to a
 * question about a name in it. Free of I/O; a Service or slice change
 * rebuilds only that Service's records, so answers follow the informers at
 * once.
 *
 * - `dns-version.<zone>` TXT "1.1.0"; the zone's SOA (apex, and authority of
 *   NXDOMAIN/NODATA answers).
 * - ClusterIP Services: `<svc>.<ns>.svc.<zone>` A/AAAA to the cluster IPs,
 *   `_<port>._<proto>.<svc>...` SRV per named port, PTR of each cluster IP.
 * - Headless Services: A/AAAA to the ready endpoints (publishNotReadyAddresses
 *   makes all ready), `<hostname>.<svc>...` per endpoint (the endpoint's
 *   hostname, else its dashed address), SRV per ready endpoint and named port,
 *   PTR of each ready endpoint to its hostname name.
 * - ExternalName Services: CNAME to the external name.
 * - Pods (deprecated schema, as kube-dns and CoreDNS "pods insecure"):
 *   `<a-b-c-d>.<ns>.pod.<zone>` A a.b.c.d.
 */
import type { Answer, SoaData } from 'dns-packet';
import type { EndpointSlice, Service } from '@mkube/api';
import { dashedAddress, inZone, normalizeName, reverseName, undashIPv4 } from './names.js';

export const SCHEMA_VERSION = '1.1.0';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export type Rcode = 'NOERROR' | 'NXDOMAIN';

export interface ZoneAnswer {
  rcode: Rcode;
  answers: Answer[];
  /** SOA for NXDOMAIN and NODATA. */
  authorities: Answer[];
  /** Addresses of SRV targets. */
  additionals: Answer[];
}

export interface ZoneOptions {
  /** The cluster domain (cluster.local). */
  domain?: string;
  /** TTL of the cluster's records, in seconds (5, as CoreDNS' kubernetes plugin). */
  ttl?: number;
}

type Rec = Answer & { name: string };

interface Owned {
  /** Names this owner put records under (and the ancestors it made exist). */
  names: Set<string>;
  records: { name: string; rec: Rec }[];
}

const keyOf = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;

export class ClusterZone {
  readonly domain: string;
  readonly ttl: number;
  private readonly services = new Map<string, Service>();
  private readonly slices = new Map<string, EndpointSlice>();
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly records = new Map<string, Rec[]>();
  /** name → how many owners' names are it or below it (a name that exists, possibly without records). */
  private readonly present = new Map<string, number>();
  private readonly owned = new Map<string, Owned>();
  private readonly soa: Rec;
  /** Bumped on every change (the SOA serial). */
  serial = 1;

  constructor(opts: ZoneOptions = {}) {
    this.domain = normalizeName(opts.domain ?? 'cluster.local');
    this.ttl = opts.ttl ?? 5;
    const soa: SoaData = { mname: `ns.dns.${this.domain}`, rname: `hostmaster.${this.domain}`, serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: this.ttl };
    this.soa = { type: 'SOA', name: this.domain, ttl: this.ttl, class: 'IN', data: soa };
    this.setOwner('#static', [{ type: 'TXT', name: `dns-version.${this.domain}`, ttl: this.ttl, class: 'IN', data: [SCHEMA_VERSION] }, this.soa], []);
  }

  // ------------------------------------------------------------------ updates

  upsertService(svc: Service): void {
    const key = keyOf(svc.metadata?.namespace, svc.metadata?.name ?? '');
    this.services.set(key, svc);
    this.rebuild(key);
  }

  deleteService(svc: Service): void {
    const key = keyOf(svc.metadata?.namespace, svc.metadata?.name ?? '');
    this.services.delete(key);
    this.rebuild(key);
  }

  upsertSlice(slice: EndpointSlice): void {
    const sk = keyOf(slice.metadata?.namespace, slice.metadata?.name ?? '');
    const old = this.slices.get(sk);
    const oldSvc = old ? this.serviceKeyOfSlice(old) : undefined;
    const svc = this.serviceKeyOfSlice(slice);
    this.slices.set(sk, slice);
    if (oldSvc && oldSvc !== svc) {
      this.slicesByService.get(oldSvc)?.delete(sk);
      this.rebuild(oldSvc);
    }
    if (svc) {
      let set = this.slicesByService.get(svc);
      if (!set) this.slicesByService.set(svc, (set = new Set()));
      set.add(sk);
      this.rebuild(svc);
    }
  }

  deleteSlice(slice: EndpointSlice): void {
    const sk = keyOf(slice.metadata?.namespace, slice.metadata?.name ?? '');
    const old = this.slices.get(sk) ?? slice;
    this.slices.delete(sk);
    const svc = this.serviceKeyOfSlice(old);
    if (svc) {
      this.slicesByService.get(svc)?.delete(sk);
      this.rebuild(svc);
    }
  }

  private serviceKeyOfSlice(s: EndpointSlice): string | undefined {
    const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    return svc ? keyOf(s.metadata?.namespace, svc) : undefined;
  }

  private rebuild(key: string): void {
    const svc = this.services.get(key);
    if (!svc) {
      this.setOwner(key, [], []);
      return;
    }
    const built = this.serviceRecords(svc, [...(this.slicesByService.get(key) ?? [])].map((k) => this.slices.get(k)!).filter(Boolean));
    this.setOwner(key, built.records, built.names);
  }

  /** Replaces the records (and existing names) an owner contributes. */
  private setOwner(owner: string, recs: Rec[], extraNames: string[]): void {
    const prev = this.owned.get(owner);
    if (prev) {
      for (const { name, rec } of prev.records) {
        const list = this.records.get(name);
        if (!list) continue;
        const i = list.indexOf(rec);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.records.delete(name);
      }
      for (const n of prev.names) this.unmark(n);
    }
    if (recs.length === 0 && extraNames.length === 0) {
      this.owned.delete(owner);
      this.serial++;
      return;
    }
    const next: Owned = { names: new Set(), records: [] };
    for (const rec of recs) {
      const name = normalizeName(rec.name);
      let list = this.records.get(name);
      if (!list) this.records.set(name, (list = []));
      list.push(rec);
      next.records.push({ name, rec });
      next.names.add(name);
    }
    for (const n of extraNames) next.names.add(normalizeName(n));
    for (const n of next.names) this.mark(n);
    this.owned.set(owner, next);
    this.serial++;
  }

  /** The name and its ancestors inside its zone exist (for NODATA rather than NXDOMAIN). */
  private mark(name: string): void {
    for (const n of this.ancestors(name)) this.present.set(n, (this.present.get(n) ?? 0) + 1);
  }

  private unmark(name: string): void {
    for (const n of this.ancestors(name)) {
      const c = (this.present.get(n) ?? 0) - 1;
      if (c <= 0) this.present.delete(n);
      else this.present.set(n, c);
    }
  }

  private ancestors(name: string): string[] {
    const out: string[] = [];
    let n = name;
    for (;;) {
      out.push(n);
      if (n === this.domain || n === 'in-addr.arpa' || n === 'ip6.arpa') break;
      const dot = n.indexOf('.');
      if (dot < 0) break;
      n = n.slice(dot + 1);
    }
    return out;
  }

  // ------------------------------------------------------------------ records of a service

  private serviceRecords(svc: Service, slices: EndpointSlice[]): { records: Rec[]; names: string[] } {
    const ns = svc.metadata?.namespace ?? 'default';
    const base = `${svc.metadata?.name ?? ''}.${ns}.svc.${this.domain}`.toLowerCase();
    const ttl = this.ttl;
    const recs: Rec[] = [];
    const spec = svc.spec ?? {};
    if (spec.type === 'ExternalName') {
      if (spec.externalName) recs.push({ type: 'CNAME', name: base, ttl, class: 'IN', data: normalizeName(spec.externalName) });
      return { records: recs, names: [base] };
    }
    const clusterIPs = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => ip && ip !== 'None');
    if (clusterIPs.length > 0) {
      for (const ip of clusterIPs) {
        recs.push({ type: ip.includes(':') ? 'AAAA' : 'A', name: base, ttl, class: 'IN', data: ip });
        const rev = reverseName(ip);
        if (rev) recs.push({ type: 'PTR', name: rev, ttl, class: 'IN', data: base });
      }
      for (const p of spec.ports ?? []) {
        if (!p.name) continue;
        recs.push({ type: 'SRV', name: `_${p.name}._${(p.protocol ?? 'TCP').toLowerCase()}.${base}`.toLowerCase(), ttl, class: 'IN', data: { priority: 0, weight: 100, port: p.port, target: base } });
      }
      return { records: recs, names: [base] };
    }
    // Headless: the ready endpoints of the service's slices.
    const publishNotReady = !!spec.publishNotReadyAddresses;
    const seen = new Set<string>();
    for (const s of slices) {
      if (s.addressType !== 'IPv4' && s.addressType !== 'IPv6') continue;
      const type = s.addressType === 'IPv6' ? 'AAAA' : 'A';
      const named = (s.ports ?? []).filter((p) => p.name && p.port);
      for (const e of s.endpoints ?? []) {
        if (!publishNotReady && e.conditions?.ready === false) continue;
        for (const ip of e.addresses ?? []) {
          const host = `${(e.hostname || dashedAddress(ip)).toLowerCase()}.${base}`;
          if (!seen.has(`${host}|${ip}`)) {
            seen.add(`${host}|${ip}`);
            if (!seen.has(ip)) {
              seen.add(ip);
              recs.push({ type, name: base, ttl, class: 'IN', data: ip });
            }
            recs.push({ type, name: host, ttl, class: 'IN', data: ip });
            const rev = reverseName(ip);
            if (rev) recs.push({ type: 'PTR', name: rev, ttl, class: 'IN', data: host });
          }
          for (const p of named) {
            recs.push({ type: 'SRV', name: `_${p.name}._${(p.protocol ?? 'TCP').toLowerCase()}.${base}`.toLowerCase(), ttl, class: 'IN', data: { priority: 0, weight: 100, port: p.port!, target: host } });
          }
        }
      }
    }
    return { records: dedupeSrv(recs), names: [base] };
  }

  // ------------------------------------------------------------------ answers

  /** Whether the name is one this zone answers for (the cluster domain; reverse names only when known). */
  isAuthoritative(qname: string): boolean {
    const name = normalizeName(qname);
    return inZone(name, this.domain) || this.present.has(name);
  }

  /** The answer for a question, or undefined when the name is not the cluster's (to be forwarded). */
  lookup(qname: string, qtype: string): ZoneAnswer | undefined {
    const name = normalizeName(qname);
    if (!inZone(name, this.domain)) {
      // Reverse names: answered when known, otherwise left to the upstream resolvers.
      if (!this.present.has(name)) return undefined;
    }
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    const recs = this.records.get(name) ?? this.podRecords(name);
    if (recs.length > 0) {
      const cname = recs.find((r): r is Rec & { type: 'CNAME'; data: string } => r.type === 'CNAME');
      if (cname && qtype !== 'CNAME') {
        answers.push(cname);
        const target = normalizeName(cname.data);
        if (inZone(target, this.domain)) answers.push(...(this.records.get(target) ?? []).filter((r) => r.type === qtype));
      } else {
        answers.push(...recs.filter((r) => qtype === 'ANY' || r.type === qtype));
      }
      for (const a of answers) {
        if (a.type !== 'SRV') continue;
        const target = normalizeName(a.data.target);
        for (const r of this.records.get(target) ?? []) if ((r.type === 'A' || r.type === 'AAAA') && !additionals.includes(r)) additionals.push(r);
      }
    }
    const exists = recs.length > 0 || this.present.has(name) || name === this.domain;
    if (!exists) return { rcode: 'NXDOMAIN', answers: [], authorities: [this.soa], additionals: [] };
    return { rcode: 'NOERROR', answers, authorities: answers.length ? [] : [this.soa], additionals };
  }

  /** `<a-b-c-d>.<ns>.pod.<zone>` → A a.b.c.d. */
  private podRecords(name: string): Rec[] {
    const suffix = `.pod.${this.domain}`;
    if (!name.endsWith(suffix)) return [];
    const labels = name.slice(0, -suffix.length).split('.');
    if (labels.length !== 2) return [];
    const ip = undashIPv4(labels[0]!);
    return ip ? [{ type: 'A', name, ttl: this.ttl, class: 'IN', data: ip }] : [];
  }
}

/** One SRV per target and port (endpoints of several slices may repeat). */
function dedupeSrv(recs: Rec[]): Rec[] {
  const seen = new Set<string>();
  return recs.filter((r) => {
    if (r.type !== 'SRV' && r.type !== 'PTR' && r.type !== 'A' && r.type !== 'AAAA') return true;
    const k = `${r.type}|${r.name}|${JSON.stringify('data' in r ? r.data : null)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
