// Defence in depth before iptables-restore and `ip route` (issue 10, hole 4):
// every value from the API that the service proxy, the route sync or the VXLAN overlay writes
// into their input is checked here again, as a compromised or older API
// server may send anything. IPs must parse (net.isIP) and hold only address
// characters, CIDRs are strict and canonical, ports are integers in range,
// protocols come from a fixed set, names (which end up in rule comments) from
// the DNS alphabet; the VXLAN overlay's Node annotations (backend data and
// public IP) need a unicast MAC, a 24-bit VNI, a VTEP address inside the
// node's podCIDR and a unicast IPv4 tunnel end. An object that fails is refused as a whole with a
// SinkRefusal naming its key and field; the callers skip it, log it and count it.
import { isIP } from 'node:net';

export class SinkRefusal extends Error {
  readonly code = 'SinkValueRefused';
  constructor(
    /** "Kind ns/name" of the refused object. */
    readonly key: string,
    /** Field path of the refused value, e.g. subsets[0].addresses[1].ip. */
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`${key}: ${field}: ${reason}: ${JSON.stringify(value)?.slice(0, 200)}`);
    this.name = 'SinkRefusal';
  }
}

const IP_CHARS = /^[0-9A-Fa-f:.]+$/;
const DNS_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const PROXY_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

/** 4 or 6 for a clean address literal, 0 otherwise (whitespace, zones, anything else). */
export function safeIPFamily(v: unknown): 0 | 4 | 6 {
  if (typeof v !== 'string' || v.length > 45 || !IP_CHARS.test(v)) return 0;
  return isIP(v) as 0 | 4 | 6;
}

function v4ToNumber(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** A canonical IPv4 CIDR ("10.1.2.0/24": no host bits, prefix 1..32 without leading zeros). */
export function isSafeIPv4Cidr(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const m = /^([0-9.]+)\/([1-9]|[12][0-9]|3[0-2])$/.exec(v);
  if (!m || safeIPFamily(m[1]) !== 4) return false;
  const bits = Number(m[2]);
  const host = 2 ** (32 - bits);
  return v4ToNumber(m[1]!) % host === 0;
}

export function isSafePort(v: unknown, allowZero = false): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= (allowZero ? 0 : 1) && v <= 65535;
}

export function isSafeName(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 253 && DNS_NAME.test(v);
}

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : {});
const list = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

function meta(kind: string, o: unknown): { key: string; refuse: (field: string, value: unknown, reason: string) => never } {
  const m = obj(obj(o).metadata);
  const key = `${kind} ${String(m.namespace ?? 'default')}/${String(m.name)}`.slice(0, 300);
  const refuse = (field: string, value: unknown, reason: string): never => {
    throw new SinkRefusal(key, field, value, reason);
  };
  if (m.namespace !== undefined && !isSafeName(m.namespace)) refuse('metadata.namespace', m.namespace, 'not a DNS name');
  if (!isSafeName(m.name)) refuse('metadata.name', m.name, 'not a DNS name');
  return { key, refuse };
}

function checkProtocol(v: unknown, field: string, refuse: (f: string, v: unknown, r: string) => never): void {
  if (v === undefined || v === null || v === '') return;
  if (typeof v !== 'string' || !(PROXY_PROTOCOLS as readonly string[]).includes(v.toUpperCase())) refuse(field, v, 'not a protocol (TCP, UDP, SCTP)');
}

function checkPortName(v: unknown, field: string, refuse: (f: string, v: unknown, r: string) => never): void {
  if (v === undefined || v === null || v === '') return;
  if (typeof v !== 'string' || v.length > 63 || !PORT_NAME.test(v)) refuse(field, v, 'not a port name');
}

/** Throws a SinkRefusal unless every value of the Service the proxy uses is safe. */
export function checkService(s: unknown): void {
  const { refuse } = meta('Service', s);
  const spec = obj(obj(s).spec);
  if (spec.type !== undefined && !['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(String(spec.type))) refuse('spec.type', spec.type, 'not a service type');
  const ip = spec.clusterIP;
  if (ip !== undefined && ip !== null && ip !== '' && ip !== 'None' && safeIPFamily(ip) === 0) refuse('spec.clusterIP', ip, 'not an IP address');
  list(spec.ports).forEach((p, i) => {
    const port = obj(p);
    if (!isSafePort(port.port)) refuse(`spec.ports[${i}].port`, port.port, 'not a port number');
    if (port.nodePort !== undefined && port.nodePort !== null && !isSafePort(port.nodePort, true)) refuse(`spec.ports[${i}].nodePort`, port.nodePort, 'not a port number');
    checkProtocol(port.protocol, `spec.ports[${i}].protocol`, refuse);
    checkPortName(port.name, `spec.ports[${i}].name`, refuse);
  });
}

/** Throws a SinkRefusal unless every address and port of the Endpoints is safe. */
export function checkEndpoints(e: unknown): void {
  const { refuse } = meta('Endpoints', e);
  list(obj(e).subsets).forEach((ss, i) => {
    const subset = obj(ss);
    for (const kind of ['addresses', 'notReadyAddresses']) {
      list(subset[kind]).forEach((a, j) => {
        const ip = obj(a).ip;
        if (safeIPFamily(ip) === 0) refuse(`subsets[${i}].${kind}[${j}].ip`, ip, 'not an IP address');
      });
    }
    list(subset.ports).forEach((p, j) => {
      const port = obj(p);
      if (!isSafePort(port.port)) refuse(`subsets[${i}].ports[${j}].port`, port.port, 'not a port number');
      checkProtocol(port.protocol, `subsets[${i}].ports[${j}].protocol`, refuse);
      checkPortName(port.name, `subsets[${i}].ports[${j}].name`, refuse);
    });
  });
}

/** Throws a SinkRefusal unless the Node's podCIDR and InternalIP are safe for `ip route replace CIDR via IP`. */
export function checkNodeRoute(n: unknown): void {
  const { refuse } = meta('Node', n);
  const cidr = obj(obj(n).spec).podCIDR;
  if (cidr !== undefined && cidr !== null && cidr !== '' && !isSafeIPv4Cidr(cidr)) refuse('spec.podCIDR', cidr, 'not a canonical IPv4 CIDR');
  list(obj(obj(n).status).addresses).forEach((a, i) => {
    const addr = obj(a);
    if (addr.type === 'InternalIP' && safeIPFamily(addr.address) === 0) refuse(`status.addresses[${i}].address`, addr.address, 'not an IP address');
  });
}

/**
 * Splits `items` into those `check` accepts and refusals; each refusal is
 * reported to `onRefused` (which logs and counts).
 */
export function screen<T>(items: readonly T[], check: (item: T) => void, onRefused?: (r: SinkRefusal) => void): T[] {
  const ok: T[] = [];
  for (const item of items) {
    try {
      check(item);
      ok.push(item);
    } catch (err) {
      if (!(err instanceof SinkRefusal)) throw err;
      onRefused?.(err);
    }
  }
  return ok;
}

/**
 * Keeps the last good version of each object: a refused object is replaced
 * by its last accepted version (if any), so a poisoned update leaves the rules
 * it had before in place. Keys that disappear are forgotten. A refusal is
 * reported once (again only when the refused value changes), not on every sync.
 */
export class LastGood<T> {
  private readonly good = new Map<string, T>();
  private readonly refused = new Map<string, string>();

  constructor(
    private readonly keyOf: (item: T) => string,
    private readonly check: (item: T) => void,
  ) {}

  filter(items: readonly T[], onRefused: (r: SinkRefusal) => void): T[] {
    const out: T[] = [];
    const seen = new Set<string>();
    for (const item of items) {
      const key = this.keyOf(item);
      seen.add(key);
      try {
        this.check(item);
        this.good.set(key, item);
        this.refused.delete(key);
        out.push(item);
      } catch (err) {
        if (!(err instanceof SinkRefusal)) throw err;
        if (this.refused.get(key) !== err.message) onRefused(err);
        this.refused.set(key, err.message);
        const prev = this.good.get(key);
        if (prev !== undefined) out.push(prev);
      }
    }
    for (const m of [this.good, this.refused]) for (const k of [...m.keys()]) if (!seen.has(k)) m.delete(k);
    return out;
  }
}

// ---- VXLAN overlay (network_vxlan.ts): values written by `ip link`, `bridge fdb`, `ip neigh` and `ip route`.

/** The Node annotations of the VXLAN overlay (as flannel's flannel.alpha.coreos.com/backend-data and public-ip). */
export const VXLAN_BACKEND_DATA_ANNOTATION = 'mkube.io/vxlan-backend-data';
export const VXLAN_PUBLIC_IP_ANNOTATION = 'mkube.io/public-ip';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const LINK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/;

/** A unicast Ethernet address in lower-case colon form ("0a:1b:2c:3d:4e:5f"): not all-zero, not multicast/broadcast. */
export function isSafeMac(v: unknown): v is string {
  if (typeof v !== 'string' || !MAC.test(v)) return false;
  return v !== '00:00:00:00:00:00' && (parseInt(v.slice(0, 2), 16) & 1) === 0;
}

/** A VXLAN Network Identifier: an integer 1..2^24-1. */
export function isSafeVni(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 0xffffff;
}

/** A Linux interface name (at most 15 characters of [A-Za-z0-9._-], not starting with a punctuation mark). */
export function isSafeLinkName(v: unknown): v is string {
  return typeof v === 'string' && LINK_NAME.test(v);
}

/** A clean unicast IPv4 address a tunnel can be sent to: not 0/8, loopback, link-local, multicast or broadcast. */
export function isSafeUnicastIPv4(v: unknown): v is string {
  if (safeIPFamily(v) !== 4) return false;
  const [a, b] = (v as string).split('.').map(Number) as [number, number];
  return a !== 0 && a !== 127 && !(a === 169 && b === 254) && a < 224;
}

/** Whether IPv4 `ip` lies inside canonical IPv4 `cidr`. */
export function ipv4InCidr(ip: string, cidr: string): boolean {
  if (safeIPFamily(ip) !== 4 || !isSafeIPv4Cidr(cidr)) return false;
  const [net, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const base = v4ToNumber(net!);
  const n = v4ToNumber(ip);
  return n >= base && n < base + size;
}

/** The overlay values of a Node's annotations, once checkNodeVxlan accepted them. */
export interface VxlanBackendData {
  VNI: number;
  VtepMAC: string;
  /** The VTEP's overlay address: inside the Node's podCIDR (flannel's choice: the pod subnet's network address). */
  VtepIP: string;
}

/**
 * Throws a SinkRefusal unless the Node's overlay values are safe for `bridge
 * fdb` / `ip neigh` / `ip route … onlink`: backend data that is JSON with an
 * integer VNI, a unicast MAC and a VTEP address inside the Node's own podCIDR,
 * and a unicast IPv4 public IP. A Node without the annotations passes (it has
 * no overlay yet); the podCIDR and InternalIPs are checked as for host-gw.
 */
export function checkNodeVxlan(n: unknown): void {
  checkNodeRoute(n);
  const { refuse } = meta('Node', n);
  const ann = obj(obj(obj(n).metadata).annotations);
  const raw = ann[VXLAN_BACKEND_DATA_ANNOTATION];
  const pub = ann[VXLAN_PUBLIC_IP_ANNOTATION];
  const field = (k: string) => `metadata.annotations[${k}]`;
  if (pub !== undefined && !isSafeUnicastIPv4(pub)) refuse(field(VXLAN_PUBLIC_IP_ANNOTATION), pub, 'not a unicast IPv4 address');
  if (raw === undefined) return;
  let data: Loose;
  try {
    data = obj(JSON.parse(String(raw)));
  } catch {
    return refuse(field(VXLAN_BACKEND_DATA_ANNOTATION), raw, 'not JSON');
  }
  if (!isSafeVni(data.VNI)) refuse(`${field(VXLAN_BACKEND_DATA_ANNOTATION)}.VNI`, data.VNI, 'not a VNI (1..16777215)');
  if (!isSafeMac(data.VtepMAC)) refuse(`${field(VXLAN_BACKEND_DATA_ANNOTATION)}.VtepMAC`, data.VtepMAC, 'not a unicast MAC address (aa:bb:cc:dd:ee:ff)');
  const cidr = obj(obj(n).spec).podCIDR;
  if (safeIPFamily(data.VtepIP) !== 4) refuse(`${field(VXLAN_BACKEND_DATA_ANNOTATION)}.VtepIP`, data.VtepIP, 'not an IPv4 address');
  if (typeof cidr !== 'string' || !ipv4InCidr(data.VtepIP as string, cidr)) refuse(`${field(VXLAN_BACKEND_DATA_ANNOTATION)}.VtepIP`, data.VtepIP, `outside the node's podCIDR ${String(cidr)}`);
}

/** The backend data of a Node that checkNodeVxlan accepted (undefined when it has none). */
export function vxlanBackendData(n: { metadata?: { annotations?: Record<string, string> } }): VxlanBackendData | undefined {
  const raw = n.metadata?.annotations?.[VXLAN_BACKEND_DATA_ANNOTATION];
  if (raw === undefined) return undefined;
  const d = JSON.parse(raw) as VxlanBackendData;
  return { VNI: d.VNI, VtepMAC: d.VtepMAC, VtepIP: d.VtepIP };
}
