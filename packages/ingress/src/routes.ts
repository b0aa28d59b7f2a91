/**
 * The routing table of the Ingress controller, free of I/O: built from the
 * Ingresses of our classes, the Services, EndpointSlices and TLS Secrets, and
 * asked (host, path) → the backend's ready endpoints. Upstream's rules
 * (networking/v1 Ingress API docs, the ingress conformance "path matching"
 * table): Exact matches the path string exactly; Prefix matches element by
 * element of the '/'-split path, a trailing slash ignored
 * ("/foo" matches /foo, /foo/, /foo/bar, not /foobar); ImplementationSpecific
 * is treated as Prefix; the longest matching path wins, Exact before Prefix
 * at equal length; an exact host before a wildcard host ("*.example.com"
 * covers exactly one more label), before rules without a host; then the
 * oldest Ingress's defaultBackend; otherwise nothing (the proxy answers 404).
 * A table is immutable once built: the controller swaps whole tables.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { EndpointSlice, HTTPIngressPath, Ingress, IngressBackend, Secret, Service } from '@mkube/api';

/** One address to send a request to. */
export interface BackendAddress {
  ip: string;
  port: number;
}

/** Where a matched request goes: the ready endpoints of a Service port (possibly none: 503). */
export interface Backend {
  /** namespace/service:port, for logs and headers. */
  name: string;
  endpoints: BackendAddress[];
}

export interface Route {
  path: string;
  pathType: 'Exact' | 'Prefix';
  backend: Backend;
  /** namespace/name of the Ingress that declared it. */
  ingress: string;
}

/** A certificate of an Ingress's tls section: PEM chain and key, the hosts it is for. */
export interface TlsCert {
  hosts: string[];
  cert: string;
  key: string;
  secret: string;
}

/** A tls entry of an Ingress that cannot be served: its Secret missing, incomplete or not a certificate and key. */
export interface TlsProblem {
  ingress: string;
  secret: string;
  reason: string;
}

export interface Match {
  backend: Backend;
  ingress: string;
  /** The rule path matched ('' for a defaultBackend). */
  path: string;
}

export interface TableInputs {
  ingresses: Ingress[];
  services: Service[];
  slices: EndpointSlice[];
  secrets: Secret[];
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Path elements of a Prefix path or request path: '/foo/bar/' → ['foo', 'bar']. */
function elements(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/** Upstream's Prefix match: every element of the rule path equals the request path's element at that position. */
export function prefixMatches(rulePath: string, requestPath: string): boolean {
  const rule = elements(rulePath);
  const req = elements(requestPath);
  if (rule.length > req.length) return false;
  return rule.every((e, i) => e === req[i]);
}

export function pathMatches(route: Pick<Route, 'path' | 'pathType'>, requestPath: string): boolean {
  return route.pathType === 'Exact' ? route.path === requestPath : prefixMatches(route.path, requestPath);
}

/** Upstream's wildcard host: "*.foo.com" matches "bar.foo.com", not "foo.com" nor "baz.bar.foo.com". */
export function wildcardMatches(wildcard: string, host: string): boolean {
  if (!wildcard.startsWith('*.')) return false;
  const suffix = wildcard.slice(1);
  if (!host.endsWith(suffix)) return false;
  const label = host.slice(0, host.length - suffix.length);
  return label.length > 0 && !label.includes('.');
}

/** Host of a Host header: lower case, the port and a trailing dot dropped ([v6] kept bracketed). */
export function normalizeHost(hostHeader: string | undefined): string {
  if (!hostHeader) return '';
  let h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(0, end + 1) : h;
  }
  const colon = h.lastIndexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** Most specific first: longer paths, then Exact before Prefix. */
function byPrecedence(a: Route, b: Route): number {
  const la = a.pathType === 'Exact' ? a.path.length : elements(a.path).join('/').length;
  const lb = b.pathType === 'Exact' ? b.path.length : elements(b.path).join('/').length;
  if (la !== lb) return lb - la;
  if (a.pathType !== b.pathType) return a.pathType === 'Exact' ? -1 : 1;
  return 0;
}

function ingressKey(ing: Ingress): string {
  return `${ing.metadata?.namespace ?? ''}/${ing.metadata?.name ?? ''}`;
}

function byAge(a: Ingress, b: Ingress): number {
  const ta = a.metadata?.creationTimestamp ?? '';
  const tb = b.metadata?.creationTimestamp ?? '';
  return ta < tb ? -1 : ta > tb ? 1 : ingressKey(a) < ingressKey(b) ? -1 : 1;
}

/** Resolves an IngressBackend to its Service port's ready endpoints (undefined: not a Service backend). */
function resolveBackend(ns: string, b: IngressBackend | undefined, services: Map<string, Service>, slices: Map<string, EndpointSlice[]>): Backend | undefined {
  const ref = b?.service;
  if (!ref?.name) return undefined;
  const key = `${ns}/${ref.name}`;
  const svcPort = (services.get(key)?.spec?.ports ?? []).find((p) => (ref.port?.name ? p.name === ref.port.name : p.port === ref.port?.number));
  const name = `${key}:${ref.port?.name ?? ref.port?.number ?? ''}`;
  if (!svcPort) return { name, endpoints: [] };
  const endpoints: BackendAddress[] = [];
  const seen = new Set<string>();
  for (const slice of slices.get(key) ?? []) {
    if (slice.addressType === 'FQDN') continue;
    const port = (slice.ports ?? []).find((p) => (p.name ?? '') === (svcPort.name ?? ''))?.port;
    if (!port) continue;
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      for (const ip of ep.addresses.slice(0, 1)) {
        const id = `${ip}:${port}`;
        if (seen.has(id)) continue;
        seen.add(id);
        endpoints.push({ ip, port });
      }
    }
  }
  return { name, endpoints };
}

function decode(b64: string | undefined): string {
  return b64 ? Buffer.from(b64, 'base64').toString('utf8') : '';
}

/** Why a PEM certificate and key cannot serve TLS (unparseable, or not a pair), or undefined. */
function pairProblem(cert: string, key: string): string | undefined {
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch (err) {
    return `tls.crt is not a PEM certificate (${(err as Error).message})`;
  }
  try {
    if (!x.checkPrivateKey(createPrivateKey(key))) return 'tls.key does not match the certificate in tls.crt';
  } catch (err) {
    return `tls.key is not a PEM private key (${(err as Error).message})`;
  }
  return undefined;
}

/** The names a certificate is valid for (its DNS SANs, else its CN), lower case. */
function certificateNames(pem: string): string[] {
  try {
    const x = new X509Certificate(pem);
    const sans = (x.subjectAltName ?? '').split(',').map((s) => s.trim()).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4).toLowerCase());
    if (sans.length > 0) return sans;
    const cn = /CN=([^\n,]+)/.exec(x.subject)?.[1];
    return cn ? [cn.toLowerCase()] : [];
  } catch {
    return [];
  }
}

export class RouteTable {
  /** Exact hosts → routes, most specific first. */
  private readonly exact = new Map<string, Route[]>();
  private readonly wildcard = new Map<string, Route[]>();
  private readonly anyHost: Route[] = [];
  readonly defaultBackend: Match | undefined;
  /** Usable certificates in Ingress age order (the first found wins for a name). */
  readonly certs: TlsCert[] = [];
  /** tls entries whose Secret is missing or unusable (their hosts get the default, fake, certificate). */
  readonly tlsProblems: TlsProblem[] = [];
  /** Every Ingress that contributed (namespace/name), for status. */
  readonly ingresses: string[];

  constructor(inputs: TableInputs) {
    const services = new Map(inputs.services.map((s) => [`${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`, s]));
    const slices = new Map<string, EndpointSlice[]>();
    for (const s of inputs.slices) {
      const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (!svc) continue;
      const key = `${s.metadata?.namespace ?? ''}/${svc}`;
      slices.set(key, [...(slices.get(key) ?? []), s]);
    }
    const secrets = new Map(inputs.secrets.map((s) => [`${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`, s]));
    const ingresses = [...inputs.ingresses].sort(byAge);
    this.ingresses = ingresses.map(ingressKey);
    let def: Match | undefined;
    for (const ing of ingresses) {
      const ns = ing.metadata?.namespace ?? '';
      const id = ingressKey(ing);
      if (!def && ing.spec?.defaultBackend) {
        const backend = resolveBackend(ns, ing.spec.defaultBackend, services, slices);
        if (backend) def = { backend, ingress: id, path: '' };
      }
      for (const rule of ing.spec?.rules ?? []) {
        const host = (rule.host ?? '').toLowerCase();
        const target = host === '' ? this.anyHost : host.startsWith('*.') ? getOrAdd(this.wildcard, host) : getOrAdd(this.exact, host);
        for (const p of rule.http?.paths ?? []) {
          const route = toRoute(p, ns, id, services, slices);
          if (route) target.push(route);
        }
      }
      for (const tls of ing.spec?.tls ?? []) {
        if (!tls.secretName) continue;
        const secretKey = `${ns}/${tls.secretName}`;
        const secret = secrets.get(secretKey);
        const cert = decode(secret?.data?.['tls.crt']);
        const key = decode(secret?.data?.['tls.key']);
        const problem = !secret ? `secret ${secretKey} not found` : !cert || !key ? `secret ${secretKey} has no tls.crt or tls.key` : pairProblem(cert, key);
        if (problem) {
          this.tlsProblems.push({ ingress: id, secret: secretKey, reason: problem });
          continue;
        }
        const hosts = (tls.hosts ?? []).map((h) => h.toLowerCase());
        this.certs.push({ hosts: hosts.length > 0 ? hosts : certificateNames(cert!), cert: cert!, key: key!, secret: secretKey });
      }
    }
    this.defaultBackend = def;
    // Stable sort: equal precedence keeps the older Ingress's route first.
    for (const routes of [...this.exact.values(), ...this.wildcard.values(), this.anyHost]) routes.sort(byPrecedence);
  }

  /** The most specific route for a request, else the default backend, else undefined (404). */
  match(hostHeader: string | undefined, rawPath: string): Match | undefined {
    const host = normalizeHost(hostHeader);
    const path = requestPath(rawPath);
    const candidates: Route[][] = [];
    const exact = this.exact.get(host);
    if (exact) candidates.push(exact);
    const dot = host.indexOf('.');
    if (dot > 0) {
      const wild = this.wildcard.get(`*${host.slice(dot)}`);
      if (wild) candidates.push(wild);
    }
    candidates.push(this.anyHost);
    for (const routes of candidates) {
      const r = routes.find((route) => pathMatches(route, path));
      if (r) return { backend: r.backend, ingress: r.ingress, path: r.path };
    }
    return this.defaultBackend;
  }

  /** The certificate for an SNI name: exact host, then a wildcard host; undefined: the default (fake) certificate, as ingress-nginx. */
  certificateFor(servername: string | undefined): TlsCert | undefined {
    const name = (servername ?? '').toLowerCase();
    if (!name) return undefined;
    return this.certs.find((c) => c.hosts.includes(name)) ?? this.certs.find((c) => c.hosts.some((h) => wildcardMatches(h, name)));
  }
}

function getOrAdd(m: Map<string, Route[]>, k: string): Route[] {
  let v = m.get(k);
  if (!v) m.set(k, (v = []));
  return v;
}

function toRoute(p: HTTPIngressPath, ns: string, ingress: string, services: Map<string, Service>, slices: Map<string, EndpointSlice[]>): Route | undefined {
  const backend = resolveBackend(ns, p.backend, services, slices);
  if (!backend) return undefined;
  const path = p.path || '/';
  return { path, pathType: p.pathType === 'Exact' ? 'Exact' : 'Prefix', backend, ingress };
}

/** The path of a request target, without the query ('/a?b' → '/a'; an absolute-form URI's path). */
export function requestPath(target: string): string {
  let t = target;
  if (!t.startsWith('/')) {
    try {
      t = new URL(t).pathname;
    } catch {
      return '/';
    }
  }
  const q = t.search(/[?#]/);
  return q >= 0 ? t.slice(0, q) : t;
}
