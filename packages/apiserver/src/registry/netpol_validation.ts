/**
 * networking.k8s.io/v1 NetworkPolicy at the API: upstream's defaults
 * (SetDefaults_NetworkPolicy: policyTypes from the rules — Ingress always,
 * Egress when egress rules exist —, SetDefaults_NetworkPolicyPort: protocol
 * TCP; podSelector is a non-pointer struct, so `{}` when absent) and
 * upstream's ValidateNetworkPolicySpec with its field paths and messages:
 * ports (protocol, number or IANA name, endPort only after a numeric port and
 * not below it), peers (at least one selector or an ipBlock, an ipBlock
 * alone, CIDRs valid and every `except` a strict subset of `cidr`), label
 * selectors, and at most the two policyTypes Ingress and Egress. The node
 * agent writes these CIDRs and ports into iptables-restore input
 * (packages/node-agent/src/netpol), and re-checks them there.
 */
import type { JsonObject } from '@mkube/api';
import type { FieldError } from '../errors.js';
import { validateCIDR, type Cidr } from './ip_validation.js';
import { portName } from './network_validation.js';
import { validateSelector } from './pdb_validation.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export const NETPOL_PROTOCOLS = ['TCP', 'UDP', 'SCTP'];
export const POLICY_TYPES = ['Ingress', 'Egress'];
const PORT_MSG = 'must be between 1 and 65535, inclusive';

/** SetDefaults_NetworkPolicy and SetDefaults_NetworkPolicyPort (v1), applied before validation. */
export function defaultNetworkPolicy(o: Obj): void {
  if (!isObj(o.spec)) o.spec = {};
  const spec = o.spec as Obj;
  if (!isObj(spec.podSelector)) spec.podSelector = {};
  for (const rules of ['ingress', 'egress']) {
    for (const r of arr(spec[rules])) {
      for (const p of arr(isObj(r) ? r.ports : undefined)) if (isObj(p) && (p.protocol === undefined || p.protocol === null)) p.protocol = 'TCP';
    }
  }
  if (arr(spec.policyTypes).length === 0) {
    spec.policyTypes = arr(spec.egress).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  }
}

/** ValidateNetworkPolicyPort. */
function validatePort(p: Obj, field: string, errs: FieldError[]): void {
  if (p.protocol !== undefined && p.protocol !== null && (typeof p.protocol !== 'string' || !NETPOL_PROTOCOLS.includes(p.protocol))) {
    errs.push({ type: 'FieldValueNotSupported', field: `${field}.protocol`, value: p.protocol, supported: NETPOL_PROTOCOLS });
  }
  const hasEnd = p.endPort !== undefined && p.endPort !== null;
  if (p.port !== undefined && p.port !== null) {
    if (typeof p.port === 'number') {
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) errs.push({ type: 'FieldValueInvalid', field: `${field}.port`, value: p.port, detail: PORT_MSG });
      if (hasEnd) {
        const end = p.endPort;
        if (typeof end !== 'number' || end < p.port) errs.push({ type: 'FieldValueInvalid', field: `${field}.endPort`, value: end, detail: 'must be greater than or equal to `port`' });
        if (typeof end !== 'number' || !Number.isInteger(end) || end < 1 || end > 65535) errs.push({ type: 'FieldValueInvalid', field: `${field}.endPort`, value: end, detail: PORT_MSG });
      }
    } else {
      if (hasEnd) errs.push({ type: 'FieldValueInvalid', field: `${field}.endPort`, value: p.endPort, detail: 'may not be specified when `port` is non-numeric' });
      portName(String(p.port), `${field}.port`, errs);
    }
  } else if (hasEnd) {
    errs.push({ type: 'FieldValueInvalid', field: `${field}.endPort`, value: p.endPort, detail: 'may not be specified when `port` is not specified' });
  }
}

/** Whether `inner` is a strict subset of `outer` (same family, inside it, a longer prefix). */
export function strictSubset(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.bits128 >= inner.bits128) return false;
  const shift = BigInt(128 - outer.bits128);
  return outer.network >> shift === inner.network >> shift;
}

/** ValidateIPBlock. */
function validateIPBlock(b: Obj, field: string, errs: FieldError[]): void {
  if (b.cidr === undefined || b.cidr === null || b.cidr === '') {
    errs.push({ type: 'FieldValueRequired', field: `${field}.cidr`, detail: '' });
    return;
  }
  const cidr = validateCIDR(b.cidr, `${field}.cidr`, errs);
  if (!cidr) return;
  arr(b.except).forEach((e, i) => {
    const at = `${field}.except[${i}]`;
    const except = validateCIDR(e, at, errs);
    if (except && !strictSubset(cidr, except)) errs.push({ type: 'FieldValueInvalid', field: at, value: e, detail: 'must be a strict subset of `cidr`' });
  });
}

/** ValidateNetworkPolicyPeer. */
function validatePeer(p: unknown, field: string, errs: FieldError[]): void {
  const peer = isObj(p) ? p : {};
  let n = 0;
  if (isObj(peer.podSelector)) {
    n++;
    validateSelector(peer.podSelector, `${field}.podSelector`, errs);
  }
  if (isObj(peer.namespaceSelector)) {
    n++;
    validateSelector(peer.namespaceSelector, `${field}.namespaceSelector`, errs);
  }
  if (isObj(peer.ipBlock)) {
    n++;
    validateIPBlock(peer.ipBlock, `${field}.ipBlock`, errs);
  }
  if (n === 0) errs.push({ type: 'FieldValueRequired', field, detail: 'must specify a peer' });
  else if (n > 1 && isObj(peer.ipBlock)) errs.push({ type: 'FieldValueForbidden', field, detail: 'may not specify both ipBlock and another peer' });
}

/** ValidateNetworkPolicySpec (appended to errs). */
export function validateNetworkPolicy(o: Obj, errs: FieldError[]): void {
  const spec = isObj(o.spec) ? o.spec : {};
  validateSelector(spec.podSelector, 'spec.podSelector', errs);
  for (const [rules, peers] of [['ingress', 'from'], ['egress', 'to']] as const) {
    arr(spec[rules]).forEach((r, i) => {
      const rule = isObj(r) ? r : {};
      const at = `spec.${rules}[${i}]`;
      arr(rule.ports).forEach((p, j) => validatePort(isObj(p) ? p : {}, `${at}.ports[${j}]`, errs));
      arr(rule[peers]).forEach((p, j) => validatePeer(p, `${at}.${peers}[${j}]`, errs));
    });
  }
  const types = arr(spec.policyTypes);
  if (types.length > POLICY_TYPES.length) {
    errs.push({ type: 'FieldValueInvalid', field: 'spec.policyTypes', value: types, detail: 'may not specify more than two policyTypes' });
    return;
  }
  types.forEach((t, i) => {
    if (typeof t !== 'string' || !POLICY_TYPES.includes(t)) errs.push({ type: 'FieldValueNotSupported', field: `spec.policyTypes[${i}]`, value: t, supported: POLICY_TYPES });
  });
}
