/**
 * certificates.k8s.io/v1 CertificateSigningRequests at the API, as upstream's
 * registry strategy and validation: on create the requester's identity
 * (username, uid, groups, extra) is written into the spec and status is
 * cleared; the spec is immutable; the main resource never changes status,
 * `/status` changes the certificate and conditions other than
 * Approved/Denied, `/approval` changes only the conditions; condition
 * timestamps are filled in; validation of the request PEM, signer name,
 * usages, expirationSeconds, conditions and the issued certificate, with
 * upstream's paths and messages.
 */
import { X509Certificate } from 'node:crypto';
import { formatTime, type JsonObject } from '@mkube/api';
import type { AuthenticatedUser } from '../auth/authn.js';
import type { FieldError } from '../errors.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);

export const CSR_RESOURCE = 'certificatesigningrequests';
/** The subresource through which Approved/Denied conditions are set. */
export const CSR_APPROVAL = 'approval';

/** Key usages a CertificateSigningRequest may ask for (upstream's KeyUsage values). */
export const KEY_USAGES = [
  'signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement', 'data encipherment',
  'cert sign', 'crl sign', 'encipher only', 'decipher only', 'any', 'server auth', 'client auth', 'code signing',
  'email protection', 's/mime', 'ipsec end system', 'ipsec tunnel', 'ipsec user', 'timestamping', 'ocsp signing',
  'microsoft sgc', 'netscape sgc',
];

/** Whether a request addresses certificatesigningrequests/approval. */
export function isCsrApproval(rr: { info: { resource: string }; subresource?: string }): boolean {
  return rr.subresource === CSR_APPROVAL && rr.info.resource === CSR_RESOURCE;
}

const APPROVAL_TYPES = ['Approved', 'Denied'];
const FINAL_TYPES = ['Approved', 'Denied', 'Failed'];

/** The requester's identity into the spec (create). */
export function prepareCsrCreate(obj: Obj, user: AuthenticatedUser | undefined): void {
  if (!isObj(obj.spec)) obj.spec = {};
  const spec = obj.spec;
  delete spec.username;
  delete spec.uid;
  delete spec.groups;
  delete spec.extra;
  if (user) {
    spec.username = user.name;
    if (user.uid) spec.uid = user.uid;
    if (user.groups.length) spec.groups = [...user.groups];
    if (user.extra && Object.keys(user.extra).length) spec.extra = structuredClone(user.extra);
  }
  obj.status = {};
}

/**
 * The object an update stores, from the current one and the desired one:
 * the spec is always the current one; the main resource keeps the current
 * status, /status keeps the Approved/Denied conditions, /approval keeps all
 * but the conditions.
 */
export function prepareCsrUpdate(subresource: string | undefined, cur: Obj, desired: Obj, now: number = Date.now()): Obj {
  const next = desired;
  next.spec = structuredClone(cur.spec ?? {});
  const curStatus = isObj(cur.status) ? cur.status : {};
  const want = isObj(desired.status) ? desired.status : {};
  if (subresource === 'status') {
    const kept = arr(curStatus.conditions).filter((c) => APPROVAL_TYPES.includes(String(c.type)));
    const others = arr(want.conditions).filter((c) => !APPROVAL_TYPES.includes(String(c.type)));
    // Preserve the Approved/Denied instances in their places among the others.
    const conditions = [...kept, ...others];
    next.status = { ...want, ...(conditions.length ? { conditions } : {}) };
    if (!conditions.length) delete (next.status as Obj).conditions;
  } else if (subresource === CSR_APPROVAL) {
    next.status = { ...structuredClone(curStatus) };
    if (want.conditions !== undefined) (next.status as Obj).conditions = want.conditions;
    else delete (next.status as Obj).conditions;
  } else {
    next.status = structuredClone(curStatus);
  }
  populateConditionTimestamps(next, cur, now);
  return next;
}

/** lastUpdateTime/lastTransitionTime for new or changed conditions, as upstream's populateConditionTimestamps. */
function populateConditionTimestamps(next: Obj, cur: Obj, now: number): void {
  const old = new Map(arr((cur.status as Obj | undefined)?.conditions).map((c) => [String(c.type), c]));
  const ts = formatTime(now);
  for (const c of arr((next.status as Obj | undefined)?.conditions)) {
    if (!c.lastUpdateTime) c.lastUpdateTime = ts;
    if (!c.lastTransitionTime) {
      const prev = old.get(String(c.type));
      c.lastTransitionTime = prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : ts;
    }
  }
}

const QUALIFIED = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\/([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)(\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)*$/;

/** The PEM of a bytes field (base64 in JSON). */
export function pemOf(v: unknown): string {
  return typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : '';
}

function pemBlocks(text: string): { type: string; der: Buffer }[] {
  const out: { type: string; der: Buffer }[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push({ type: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64') });
  return out;
}

/** Checks a CSR PEM parses: one CERTIFICATE REQUEST block (the signature is checked by the signer). */
function requestError(pem: string): string | undefined {
  const blocks = pemBlocks(pem);
  if (blocks.length === 0 || blocks[0]!.type !== 'CERTIFICATE REQUEST') return 'PEM block type must be CERTIFICATE REQUEST';
  if (blocks[0]!.der.length < 16 || blocks[0]!.der[0] !== 0x30) return 'asn1: structure error: tags don\'t match';
  return undefined;
}

export function validateCsr(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const spec = isObj(o.spec) ? o.spec : {};
  const reqErr = requestError(pemOf(spec.request));
  if (reqErr) errs.push({ type: 'FieldValueInvalid', field: 'spec.request', value: '<request>', detail: reqErr });
  const usages = Array.isArray(spec.usages) ? (spec.usages as unknown[]) : [];
  if (usages.length === 0) errs.push({ type: 'FieldValueRequired', field: 'spec.usages', detail: 'usages must be provided' });
  const seen = new Set<string>();
  usages.forEach((u, i) => {
    if (typeof u !== 'string' || !KEY_USAGES.includes(u)) errs.push({ type: 'FieldValueNotSupported', field: `spec.usages[${i}]`, value: u, supported: KEY_USAGES });
    else if (seen.has(u)) errs.push({ type: 'FieldValueDuplicate', field: `spec.usages[${i}]`, value: u });
    else seen.add(u);
  });
  const signer = typeof spec.signerName === 'string' ? spec.signerName : '';
  if (!signer) errs.push({ type: 'FieldValueRequired', field: 'spec.signerName' });
  else if (!QUALIFIED.test(signer)) errs.push({ type: 'FieldValueInvalid', field: 'spec.signerName', value: signer, detail: 'must be a fully qualified domain and path of the form \'example.com/signer-name\'' });
  if (spec.expirationSeconds !== undefined && spec.expirationSeconds !== null) {
    const s = Number(spec.expirationSeconds);
    if (!Number.isInteger(s) || s < 600) errs.push({ type: 'FieldValueInvalid', field: 'spec.expirationSeconds', value: spec.expirationSeconds, detail: 'may not specify a duration less than 600 seconds (10 minutes)' });
  }
  const status = isObj(o.status) ? o.status : {};
  const types = new Set<string>();
  arr(status.conditions).forEach((c, i) => {
    const type = typeof c.type === 'string' ? c.type : '';
    if (!type) errs.push({ type: 'FieldValueRequired', field: `status.conditions[${i}].type` });
    if (types.has(type)) errs.push({ type: 'FieldValueDuplicate', field: `status.conditions[${i}].type`, value: type });
    types.add(type);
    if (FINAL_TYPES.includes(type) && c.status !== 'True') errs.push({ type: 'FieldValueNotSupported', field: `status.conditions[${i}].status`, value: c.status ?? '', supported: ['True'] });
    else if (!['True', 'False', 'Unknown'].includes(String(c.status))) errs.push({ type: 'FieldValueNotSupported', field: `status.conditions[${i}].status`, value: c.status ?? '', supported: ['False', 'True', 'Unknown'] });
  });
  if (types.has('Approved') && types.has('Denied')) errs.push({ type: 'FieldValueInvalid', field: 'status.conditions', value: arr(status.conditions), detail: 'Approved and Denied conditions are mutually exclusive' });
  if (status.certificate !== undefined && status.certificate !== null && status.certificate !== '') {
    const certErr = certificateError(pemOf(status.certificate));
    if (certErr) errs.push({ type: 'FieldValueInvalid', field: 'status.certificate', value: '<certificate data>', detail: certErr });
    else if (!types.has('Approved') || types.has('Failed')) errs.push({ type: 'FieldValueInvalid', field: 'status.certificate', value: '<certificate data>', detail: 'certificate can only be set if the Approved condition is present and the Failed condition is not' });
  }
  return errs;
}

function certificateError(pem: string): string | undefined {
  const blocks = pemBlocks(pem);
  if (blocks.length === 0) return 'must contain at least one CERTIFICATE PEM block';
  for (const [i, b] of blocks.entries()) {
    if (b.type !== 'CERTIFICATE') return `only CERTIFICATE PEM blocks are allowed, found "${b.type}"`;
    try {
      new X509Certificate(b.der);
    } catch (err) {
      return `block ${i}: ${(err as Error).message}`;
    }
  }
  return undefined;
}

export function validateCsrUpdate(next: Obj, prev: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const had = new Set(arr((prev.status as Obj | undefined)?.conditions).map((c) => String(c.type)));
  const has = new Set(arr((next.status as Obj | undefined)?.conditions).map((c) => String(c.type)));
  for (const t of FINAL_TYPES) {
    if (had.has(t) && !has.has(t)) errs.push({ type: 'FieldValueForbidden', field: 'status.conditions', detail: `updates may not remove a condition of type "${t}"` });
  }
  const oldCert = (prev.status as Obj | undefined)?.certificate;
  const newCert = (next.status as Obj | undefined)?.certificate;
  if (oldCert && newCert !== oldCert) errs.push({ type: 'FieldValueForbidden', field: 'status.certificate', detail: 'updates may not modify existing certificate content' });
  return errs;
}
