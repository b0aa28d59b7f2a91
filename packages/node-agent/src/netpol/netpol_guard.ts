// The sink guard of NetworkPolicy enforcement: every value of a NetworkPolicy or Pod that reaches the
// agent's iptables-restore input (ipBlock CIDRs and excepts, ports, end ports, protocols, pod IPs,
// container port numbers and names, object names in rule comments) is checked again here, as the
// proxy's sink_guard.ts does for Services: the API server validates them (apiserver
// registry/netpol_validation.ts), but an older or compromised API server may send anything. An
// object that fails is refused as a whole with a SinkRefusal naming its key and field. CIDRs are
// parsed strictly (IPv4 dotted quad, "/", 0..32 without leading zeros) and written in canonical form
// (host bits cleared), as upstream's ParseCIDRSloppy reads them.
import { isSafeName, isSafePort, safeIPFamily, SinkRefusal } from '../proxy/sink_guard.js';

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : {});
const list = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

export const NETPOL_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export type NetpolProtocol = (typeof NETPOL_PROTOCOLS)[number];
const POLICY_TYPES = ['Ingress', 'Egress'];
/** An IANA service name as validation.IsValidPortName accepts it. */
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A parsed IPv4 CIDR: the network as an unsigned 32-bit number and the prefix length. */
export interface V4Cidr {
  base: number;
  bits: number;
}

const v4ToNumber = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const numberToV4 = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
const maskOf = (bits: number): number => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);

/** Strict IPv4 CIDR ("10.1.2.0/24", host bits allowed and cleared); undefined for anything else. */
export function parseV4Cidr(v: unknown): V4Cidr | undefined {
  if (typeof v !== 'string' || v.length > 18) return undefined;
  const m = /^([0-9.]+)\/(0|[1-9]|[12][0-9]|3[0-2])$/.exec(v);
  if (!m || safeIPFamily(m[1]) !== 4) return undefined;
  const bits = Number(m[2]);
  return { base: (v4ToNumber(m[1]!) & maskOf(bits)) >>> 0, bits };
}

/** "a.b.c.d/n" with the host bits cleared. */
export function formatV4Cidr(c: V4Cidr): string {
  return `${numberToV4(c.base)}/${c.bits}`;
}

export function v4CidrContains(c: V4Cidr, ip: string): boolean {
  return safeIPFamily(ip) === 4 && ((v4ToNumber(ip) & maskOf(c.bits)) >>> 0) === c.base;
}

/** Whether `inner` is a strict subset of `outer` (upstream's check of ipBlock.except). */
export function v4StrictSubset(outer: V4Cidr, inner: V4Cidr): boolean {
  return outer.bits < inner.bits && ((inner.base & maskOf(outer.bits)) >>> 0) === outer.base;
}

/** An IPv6 CIDR (accepted but not written: the rules are IPv4 iptables). */
function isV6Cidr(v: unknown): boolean {
  if (typeof v !== 'string' || v.length > 49) return false;
  const m = /^([0-9A-Fa-f:.]+)\/(0|[1-9][0-9]{0,2})$/.exec(v);
  return !!m && safeIPFamily(m[1]) === 6 && Number(m[2]) <= 128;
}

function keyOf(kind: string, o: unknown): string {
  const m = obj(obj(o).metadata);
  return `${kind} ${String(m.namespace ?? 'default')}/${String(m.name)}`.slice(0, 300);
}

function refuser(key: string) {
  return (field: string, value: unknown, reason: string): never => {
    throw new SinkRefusal(key, field, value, reason);
  };
}

function checkMeta(o: unknown, refuse: (f: string, v: unknown, r: string) => never): void {
  const m = obj(obj(o).metadata);
  if (!isSafeName(m.namespace)) refuse('metadata.namespace', m.namespace, 'not a DNS name');
  if (!isSafeName(m.name)) refuse('metadata.name', m.name, 'not a DNS name');
}

/** Throws a SinkRefusal unless every value of the NetworkPolicy the rules use is safe. */
export function checkNetworkPolicy(p: unknown): void {
  const refuse = refuser(keyOf('NetworkPolicy', p));
  checkMeta(p, refuse);
  const spec = obj(obj(p).spec);
  list(spec.policyTypes).forEach((t, i) => {
    if (typeof t !== 'string' || !POLICY_TYPES.includes(t)) refuse(`spec.policyTypes[${i}]`, t, 'not Ingress or Egress');
  });
  for (const [rules, peers] of [['ingress', 'from'], ['egress', 'to']] as const) {
    list(spec[rules]).forEach((r, i) => {
      const at = `spec.${rules}[${i}]`;
      list(obj(r).ports).forEach((x, j) => {
        const port = obj(x);
        const f = `${at}.ports[${j}]`;
        if (port.protocol !== undefined && port.protocol !== null && !(NETPOL_PROTOCOLS as readonly unknown[]).includes(port.protocol)) refuse(`${f}.protocol`, port.protocol, 'not TCP, UDP or SCTP');
        const hasEnd = port.endPort !== undefined && port.endPort !== null;
        if (typeof port.port === 'number') {
          if (!isSafePort(port.port)) refuse(`${f}.port`, port.port, 'not a port number');
          if (hasEnd && !(isSafePort(port.endPort) && port.endPort >= port.port)) refuse(`${f}.endPort`, port.endPort, 'not a port number at or above port');
        } else if (port.port !== undefined && port.port !== null) {
          if (typeof port.port !== 'string' || port.port.length > 15 || !PORT_NAME.test(port.port)) refuse(`${f}.port`, port.port, 'not a port number or name');
          if (hasEnd) refuse(`${f}.endPort`, port.endPort, 'set with a named port');
        } else if (hasEnd) refuse(`${f}.endPort`, port.endPort, 'set without a port');
      });
      list(obj(r)[peers]).forEach((x, j) => {
        const block = obj(x).ipBlock;
        if (block === undefined || block === null) return;
        const f = `${at}.${peers}[${j}].ipBlock`;
        const b = obj(block);
        if (isV6Cidr(b.cidr)) {
          list(b.except).forEach((e, k) => {
            if (!isV6Cidr(e)) refuse(`${f}.except[${k}]`, e, 'not an IPv6 CIDR');
          });
          return;
        }
        const cidr = parseV4Cidr(b.cidr);
        if (!cidr) return refuse(`${f}.cidr`, b.cidr, 'not a CIDR');
        list(b.except).forEach((e, k) => {
          const except = parseV4Cidr(e);
          if (!except || !v4StrictSubset(cidr, except)) refuse(`${f}.except[${k}]`, e, `not a CIDR strictly inside ${formatV4Cidr(cidr)}`);
        });
      });
    });
  }
}

/** Throws a SinkRefusal unless the Pod's IPs and container ports are safe. */
export function checkPod(p: unknown): void {
  const refuse = refuser(keyOf('Pod', p));
  checkMeta(p, refuse);
  const status = obj(obj(p).status);
  if (status.podIP !== undefined && status.podIP !== null && status.podIP !== '' && safeIPFamily(status.podIP) === 0) refuse('status.podIP', status.podIP, 'not an IP address');
  list(status.podIPs).forEach((x, i) => {
    if (safeIPFamily(obj(x).ip) === 0) refuse(`status.podIPs[${i}].ip`, obj(x).ip, 'not an IP address');
  });
  for (const kind of ['containers', 'initContainers']) {
    list(obj(obj(p).spec)[kind]).forEach((c, i) => {
      list(obj(c).ports).forEach((x, j) => {
        const port = obj(x);
        const f = `spec.${kind}[${i}].ports[${j}]`;
        if (!isSafePort(port.containerPort)) refuse(`${f}.containerPort`, port.containerPort, 'not a port number');
        if (port.protocol !== undefined && port.protocol !== null && !(NETPOL_PROTOCOLS as readonly unknown[]).includes(port.protocol)) refuse(`${f}.protocol`, port.protocol, 'not TCP, UDP or SCTP');
        if (port.name !== undefined && port.name !== null && port.name !== '' && (typeof port.name !== 'string' || port.name.length > 15 || !PORT_NAME.test(port.name))) refuse(`${f}.name`, port.name, 'not a port name');
      });
    });
  }
}
