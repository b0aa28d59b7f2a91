/**
 * Validation of the network fields that node agents turn into iptables-restore
 * and `ip route` input: Endpoints and EndpointSlice addresses and ports, pod
 * status IPs, Node pod CIDRs and addresses, Service cluster/external/load
 * balancer IPs and target ports, with upstream's field paths and messages
 * (pkg/apis/core/validation, pkg/apis/discovery/validation). mkube adds two
 * checks of its own: a Node's pod CIDR may not be a whole address space nor
 * overlap the service cluster IP range, and Node InternalIP/ExternalIP
 * addresses must be IP addresses (upstream does not check their format; the
 * route sync uses them as gateways).
 */
import type { JsonObject } from '@mkube/api';
import type { FieldError } from '../errors.js';
import { cidrsOverlap, parseCidr, validateCIDR, validateIP, validateIPOfFamily, validateNonSpecialIP, ipFamily, type Cidr } from './ip_validation.js';

type Obj = JsonObject;
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface NetworkValidationContext {
  /** The API server's service cluster IP range (pod CIDRs may not overlap it). */
  serviceClusterIpRange?: string;
}

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const PORT_MSG = 'must be between 1 and 65535, inclusive';
const LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

function label(v: unknown, field: string, errs: FieldError[]): void {
  const s = typeof v === 'string' ? v : String(v);
  if (s.length > 63) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: 'must be no more than 63 characters' });
  if (typeof v !== 'string' || !LABEL_RE.test(v)) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: LABEL_MSG });
}

function subdomain(v: unknown, field: string, errs: FieldError[]): void {
  const s = typeof v === 'string' ? v : String(v);
  if (s.length > 253) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: 'must be no more than 253 characters' });
  if (typeof v !== 'string' || !SUBDOMAIN_RE.test(v)) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: SUBDOMAIN_MSG });
}

function port(v: unknown, field: string, errs: FieldError[]): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) errs.push({ type: 'FieldValueInvalid', field, value: v, detail: PORT_MSG });
}

/** The protocol of an Endpoints/EndpointSlice port: absent means TCP (upstream defaults it before validating). */
function protocol(v: unknown, field: string, errs: FieldError[]): void {
  if (v === undefined || v === null || v === '') return;
  if (typeof v !== 'string' || !PROTOCOLS.includes(v)) errs.push({ type: 'FieldValueNotSupported', field, value: v, supported: PROTOCOLS });
}

/** validation.IsValidPortName (an IANA_SVC_NAME). */
export function portName(v: string, field: string, errs: FieldError[]): void {
  const bad = (detail: string) => errs.push({ type: 'FieldValueInvalid', field, value: v, detail });
  if (v.length < 1 || v.length > 15) bad('must be no more than 15 characters');
  if (!/^[-a-z0-9]+$/.test(v)) bad('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  else if (!/[a-z]/.test(v)) bad('must contain at least one letter (a-z)');
  if (v.includes('--')) bad('must not contain consecutive hyphens');
  if (v.length > 0 && (v.startsWith('-') || v.endsWith('-'))) bad('must not begin or end with a hyphen');
}

// ---------------------------------------------------------------- Endpoints

function validateEndpointAddress(a: Obj, field: string, errs: FieldError[]): void {
  validateIP(a.ip, `${field}.ip`, errs);
  if (a.hostname !== undefined && a.hostname !== '') label(a.hostname, `${field}.hostname`, errs);
  if (a.nodeName !== undefined && a.nodeName !== null && a.nodeName !== '') subdomain(a.nodeName, `${field}.nodeName`, errs);
  validateNonSpecialIP(a.ip, `${field}.ip`, errs);
}

function validateEndpoints(o: Obj, errs: FieldError[]): void {
  arr(o.subsets).forEach((ss, i) => {
    const at = `subsets[${i}]`;
    const addresses = arr(ss.addresses);
    const notReady = arr(ss.notReadyAddresses);
    if (addresses.length === 0 && notReady.length === 0) errs.push({ type: 'FieldValueRequired', field: at, detail: 'must specify `addresses` or `notReadyAddresses`' });
    addresses.forEach((a, j) => validateEndpointAddress(isObj(a) ? a : {}, `${at}.addresses[${j}]`, errs));
    notReady.forEach((a, j) => validateEndpointAddress(isObj(a) ? a : {}, `${at}.notReadyAddresses[${j}]`, errs));
    const ports = arr(ss.ports);
    ports.forEach((p, j) => {
      const pat = `${at}.ports[${j}]`;
      if (ports.length > 1 && !p.name) errs.push({ type: 'FieldValueRequired', field: `${pat}.name` });
      else if (p.name !== undefined && p.name !== '') label(p.name, `${pat}.name`, errs);
      port(p.port, `${pat}.port`, errs);
      protocol(p.protocol, `${pat}.protocol`, errs);
    });
  });
}

// ---------------------------------------------------------------- EndpointSlice

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];

/** validation.IsFullyQualifiedDomainName. */
function fqdn(v: unknown, field: string, errs: FieldError[]): void {
  if (typeof v !== 'string' || v === '') {
    errs.push({ type: 'FieldValueRequired', field });
    return;
  }
  const name = v.endsWith('.') ? v.slice(0, -1) : v;
  const sub: FieldError[] = [];
  subdomain(name, field, sub);
  if (sub.length) {
    errs.push({ type: 'FieldValueInvalid', field, value: name, detail: sub.map((e) => e.detail).join(',') });
    return;
  }
  const labels = name.split('.');
  if (labels.length < 2) {
    errs.push({ type: 'FieldValueInvalid', field, value: name, detail: 'should be a domain with at least two segments separated by dots' });
    return;
  }
  for (const l of labels) {
    const le: FieldError[] = [];
    label(l, field, le);
    if (le.length) {
      errs.push({ type: 'FieldValueInvalid', field, value: l, detail: le.map((e) => e.detail).join(',') });
      return;
    }
  }
}

function validateEndpointSlice(o: Obj, errs: FieldError[]): void {
  const type = o.addressType;
  if (type === undefined || type === '') errs.push({ type: 'FieldValueRequired', field: 'addressType' });
  else if (typeof type !== 'string' || !ADDRESS_TYPES.includes(type)) errs.push({ type: 'FieldValueNotSupported', field: 'addressType', value: type, supported: ADDRESS_TYPES });
  arr(o.endpoints).forEach((e, i) => {
    const at = `endpoints[${i}]`;
    const addresses = Array.isArray(e.addresses) ? (e.addresses as unknown[]) : [];
    if (addresses.length === 0) errs.push({ type: 'FieldValueRequired', field: `${at}.addresses`, detail: 'must contain at least 1 address' });
    addresses.forEach((a, j) => {
      const field = `${at}.addresses[${j}]`;
      if (type === 'IPv4' || type === 'IPv6') {
        validateIPOfFamily(a, type === 'IPv4' ? 4 : 6, field, errs);
        validateNonSpecialIP(a, field, errs);
      } else if (type === 'FQDN') fqdn(a, field, errs);
      else if (typeof a !== 'string' || /[\s\x00-\x1f\x7f"'\\]/.test(a)) errs.push({ type: 'FieldValueInvalid', field, value: a, detail: 'must be a valid address for the address type' });
    });
    if (e.nodeName !== undefined && e.nodeName !== null && e.nodeName !== '') subdomain(e.nodeName, `${at}.nodeName`, errs);
    if (e.hostname !== undefined && e.hostname !== null && e.hostname !== '') label(e.hostname, `${at}.hostname`, errs);
  });
  const names = new Set<string>();
  arr(o.ports).forEach((p, i) => {
    const at = `ports[${i}]`;
    const name = p.name === undefined || p.name === null ? '' : p.name;
    if (name !== '') label(name, `${at}.name`, errs);
    if (names.has(String(name))) errs.push({ type: 'FieldValueDuplicate', field: `${at}.name`, value: name });
    names.add(String(name));
    protocol(p.protocol, `${at}.protocol`, errs);
    if (p.port !== undefined && p.port !== null) port(p.port, `${at}.port`, errs);
  });
}

// ---------------------------------------------------------------- Pods

/** validatePodIPs / validateHostIPs of a status update (v1 podIP/hostIP convert to the first list item when the list is empty). */
function validateStatusIPs(status: Obj, single: 'podIP' | 'hostIP', plural: 'podIPs' | 'hostIPs', errs: FieldError[]): void {
  const list = arr(status[plural]);
  const one = status[single];
  if (list.length === 0) {
    if (one !== undefined && one !== null && one !== '') validateIP(one, `status.${plural}[0]`, errs);
    return;
  }
  const ips = list.map((x) => (isObj(x) ? x.ip : undefined));
  let valid = true;
  ips.forEach((ip, i) => (valid = validateIP(ip, `status.${plural}[${i}]`, errs) && valid));
  if (one !== undefined && one !== null && one !== '' && one !== ips[0]) {
    if (plural === 'hostIPs') errs.push({ type: 'FieldValueInvalid', field: 'status.hostIPs[0].ip', value: ips[0], detail: 'must be equal to `hostIP`' });
    else if (validateIP(one, `status.${single}`, errs)) errs.push({ type: 'FieldValueInvalid', field: `status.${single}`, value: one, detail: `must match the first value of \`${plural}\`` });
  }
  if (valid && ips.length > 1) {
    const fams = ips.map((ip) => ipFamily(ip));
    if (ips.length > 2 || fams[0] === fams[1]) errs.push({ type: 'FieldValueInvalid', field: `status.${plural}`, value: list, detail: 'may specify no more than one IP for each IP family' });
    const seen = new Set<unknown>();
    ips.forEach((ip, i) => {
      if (seen.has(ip)) errs.push({ type: 'FieldValueDuplicate', field: `status.${plural}[${i}]`, value: ip });
      seen.add(ip);
    });
  }
}

function validatePod(o: Obj, errs: FieldError[]): void {
  if (!isObj(o.status)) return;
  validateStatusIPs(o.status, 'podIP', 'podIPs', errs);
  validateStatusIPs(o.status, 'hostIP', 'hostIPs', errs);
}

// ---------------------------------------------------------------- Nodes

/** The node's pod CIDRs as the internal API sees them: podCIDRs, or [podCIDR]. */
function podCidrsOf(spec: Obj): string[] {
  const list = Array.isArray(spec.podCIDRs) ? (spec.podCIDRs as unknown[]).map((x) => (typeof x === 'string' ? x : String(x))) : [];
  if (list.length > 0) return list;
  return typeof spec.podCIDR === 'string' && spec.podCIDR ? [spec.podCIDR] : [];
}

function checkPodCidr(value: unknown, field: string, service: Cidr | undefined, range: string | undefined, errs: FieldError[]): Cidr | undefined {
  const c = validateCIDR(value, field, errs);
  if (!c) return undefined;
  if (c.bits === 0) {
    errs.push({ type: 'FieldValueInvalid', field, value, detail: 'may not be the whole address space (0.0.0.0/0, ::/0)' });
  } else if (service && cidrsOverlap(c, service)) {
    errs.push({ type: 'FieldValueInvalid', field, value, detail: `may not overlap the service cluster IP range (${range})` });
  }
  return c;
}

function validateNode(o: Obj, errs: FieldError[], ctx: NetworkValidationContext): void {
  const spec = isObj(o.spec) ? o.spec : {};
  const range = ctx.serviceClusterIpRange;
  const service = range ? parseCidr(range) : undefined;
  const cidrs = podCidrsOf(spec);
  const parsed = cidrs.map((c, i) => checkPodCidr(c, `spec.podCIDRs[${i}]`, service, range, errs));
  if (typeof spec.podCIDR === 'string' && spec.podCIDR && Array.isArray(spec.podCIDRs) && spec.podCIDRs.length > 0 && spec.podCIDR !== cidrs[0]) {
    if (checkPodCidr(spec.podCIDR, 'spec.podCIDR', service, range, errs)) {
      errs.push({ type: 'FieldValueInvalid', field: 'spec.podCIDR', value: spec.podCIDR, detail: 'must match the first value of `podCIDRs`' });
    }
  } else if (spec.podCIDR !== undefined && spec.podCIDR !== null && spec.podCIDR !== '' && typeof spec.podCIDR !== 'string') {
    errs.push({ type: 'FieldValueInvalid', field: 'spec.podCIDR', value: spec.podCIDR, detail: 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)' });
  }
  if (cidrs.length > 1 && parsed.every((c) => c)) {
    if (cidrs.length > 2 || parsed[0]!.family === parsed[1]!.family) errs.push({ type: 'FieldValueInvalid', field: 'spec.podCIDRs', value: cidrs, detail: 'may specify no more than one CIDR for each IP family' });
    const seen = new Set<string>();
    cidrs.forEach((c, i) => {
      if (seen.has(c)) errs.push({ type: 'FieldValueDuplicate', field: `spec.podCIDRs[${i}]`, value: c });
      seen.add(c);
    });
  }
  const status = isObj(o.status) ? o.status : {};
  arr(status.addresses).forEach((a, i) => {
    if (a.type === 'InternalIP' || a.type === 'ExternalIP') validateIP(a.address, `status.addresses[${i}].address`, errs);
  });
}

// ---------------------------------------------------------------- Services

function validateService(o: Obj, errs: FieldError[]): void {
  const spec = isObj(o.spec) ? o.spec : {};
  const clusterIP = spec.clusterIP;
  const clusterIPs = Array.isArray(spec.clusterIPs) ? (spec.clusterIPs as unknown[]) : [];
  if (clusterIPs.length === 0) {
    // The strategy syncs clusterIPs from clusterIP before validation: its errors are on clusterIPs[0].
    if (clusterIP !== undefined && clusterIP !== null && clusterIP !== '' && clusterIP !== 'None') validateIP(clusterIP, 'spec.clusterIPs[0]', errs);
  } else {
    clusterIPs.forEach((ip, i) => {
      if (i === 0 && ip === 'None') {
        if (clusterIPs.length > 1) errs.push({ type: 'FieldValueInvalid', field: 'spec.clusterIPs', value: clusterIPs, detail: "'None' must be the first and only value" });
        return;
      }
      validateIP(ip, `spec.clusterIPs[${i}]`, errs);
    });
    if (clusterIPs.length > 2) errs.push({ type: 'FieldValueInvalid', field: 'spec.clusterIPs', value: clusterIPs, detail: 'may only hold up to 2 values' });
    // A clusterIP that differs from clusterIPs[0] is not an error here: the registry allocates from clusterIP and
    // rewrites clusterIPs (as upstream's strategy syncs them), and a changed one is refused by validateUpdate.
    if (clusterIP !== undefined && clusterIP !== null && clusterIP !== '' && clusterIP !== 'None' && clusterIPs[0] !== clusterIP) validateIP(clusterIP, 'spec.clusterIP', errs);
  }
  (Array.isArray(spec.externalIPs) ? (spec.externalIPs as unknown[]) : []).forEach((ip, i) => {
    const field = `spec.externalIPs[${i}]`;
    if (validateIP(ip, field, errs)) validateNonSpecialIP(ip, field, errs);
  });
  if (spec.loadBalancerIP !== undefined && spec.loadBalancerIP !== null && spec.loadBalancerIP !== '') validateIP(spec.loadBalancerIP, 'spec.loadBalancerIP', errs);
  arr(spec.ports).forEach((p, i) => {
    const tp = p.targetPort;
    const field = `spec.ports[${i}].targetPort`;
    if (typeof tp === 'string') portName(tp, field, errs);
    else if (tp !== undefined && tp !== null && typeof tp !== 'number') errs.push({ type: 'FieldValueInvalid', field, value: tp, detail: PORT_MSG });
  });
  const status = isObj(o.status) ? o.status : {};
  const lb = isObj(status.loadBalancer) ? status.loadBalancer : {};
  arr(lb.ingress).forEach((ing, i) => {
    const at = `status.loadBalancer.ingress[${i}]`;
    if (ing.ip !== undefined && ing.ip !== null && ing.ip !== '') validateIP(ing.ip, `${at}.ip`, errs);
    if (ing.hostname !== undefined && ing.hostname !== null && ing.hostname !== '') {
      subdomain(ing.hostname, `${at}.hostname`, errs);
      if (ipFamily(ing.hostname) !== 0) errs.push({ type: 'FieldValueInvalid', field: `${at}.hostname`, value: ing.hostname, detail: 'must be a DNS name, not an IP address' });
    }
  });
}

/** The network checks of `resource` (appended to errs). */
export function validateNetworkFields(resource: string, o: Obj, errs: FieldError[], ctx: NetworkValidationContext = {}): void {
  switch (resource) {
    case 'endpoints':
      validateEndpoints(o, errs);
      break;
    case 'endpointslices':
      validateEndpointSlice(o, errs);
      break;
    case 'pods':
      validatePod(o, errs);
      break;
    case 'nodes':
      validateNode(o, errs, ctx);
      break;
    case 'services':
      validateService(o, errs);
      break;
  }
}

/** Update-only checks: a Node's pod CIDRs may not change once set; an EndpointSlice's addressType is immutable. */
export function validateNetworkUpdate(resource: string, next: Obj, prev: Obj, errs: FieldError[]): void {
  if (resource === 'nodes') {
    const before = podCidrsOf(isObj(prev.spec) ? prev.spec : {});
    const after = podCidrsOf(isObj(next.spec) ? next.spec : {});
    if (before.length > 0 && (before.length !== after.length || before.some((c, i) => c !== after[i]))) {
      errs.push({ type: 'FieldValueForbidden', field: 'spec.podCIDRs', detail: 'node updates may not change podCIDR except from "" to valid' });
    }
  }
  if (resource === 'endpointslices' && next.addressType !== prev.addressType) {
    errs.push({ type: 'FieldValueInvalid', field: 'addressType', value: next.addressType ?? null, detail: 'field is immutable' });
  }
}
