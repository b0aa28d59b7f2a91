/**
 * The kubectl columns of CertificateSigningRequests as upstream's printer:
 * NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION, the condition
 * as extractCSRStatus (Denied over Approved over Pending, then ",Failed" and
 * ",Issued").
 */
import type { JsonObject } from '@mkube/api';
import { humanDuration } from './table.js';

type Obj = JsonObject;
const o = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const a = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

export function csrCondition(csr: Obj): string {
  const types = new Set(a(o(csr.status).conditions).map((c) => String(c.type)));
  let out = types.has('Denied') ? 'Denied' : types.has('Approved') ? 'Approved' : 'Pending';
  if (types.has('Failed')) out += ',Failed';
  if (o(csr.status).certificate) out += ',Issued';
  return out;
}

export function csrRequestedDuration(csr: Obj): string {
  const s = o(csr.spec).expirationSeconds;
  return typeof s === 'number' ? humanDuration(s * 1000) : '<none>';
}
