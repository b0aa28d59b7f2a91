/**
 * The certificates.k8s.io admission plugins, as upstream's
 * plugin/pkg/admission/certificates:
 *  - CertificateApproval: an update of certificatesigningrequests/approval
 *    needs the `approve` verb on `signers` (group certificates.k8s.io) named
 *    by the stored request's signerName, or by its `<domain>/*` wildcard;
 *  - CertificateSigning: an update of certificatesigningrequests/status that
 *    changes status.certificate or the conditions needs `sign` on the signer;
 *  - CertificateSubjectRestriction: a kubernetes.io/kube-apiserver-client
 *    request may not ask for the system:masters group (subject O).
 * Refusals are upstream's 403 messages.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { JsonObject } from '@mkube/api';
import type { AdmissionAttributes, ValidatingAdmission } from './admission.js';
import type { AuthenticatedUser } from '../auth/authn.js';
import { forbidden } from '../auth/node_restriction.js';
import type { RbacAuthorizer } from '../auth/rbac.js';
import { deepEqual } from '../registry/validation.js';
import { CSR_APPROVAL, CSR_RESOURCE, pemOf } from '../registry/csr_strategy.js';

x509.cryptoProvider.set(webcrypto as never);

const CERTIFICATES_GROUP = 'certificates.k8s.io';
export const KUBE_APISERVER_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client';
const PRIVILEGED_GROUP = 'system:masters';

const isObj = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const field = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((cur, k) => (isObj(cur) && Object.hasOwn(cur, k) ? cur[k] : undefined), o);
const signerOf = (csr: unknown): string => String(field(csr, 'spec', 'signerName') ?? '');
const isCsr = (a: AdmissionAttributes): boolean => a.info.group === CERTIFICATES_GROUP && a.info.resource === CSR_RESOURCE;

/** Who may decide on signers: the API server's authorizer. */
export type SignerAuthorizer = Pick<RbacAuthorizer, 'authorize'>;

/**
 * Whether the user may `verb` the signer: the exact name first, then the
 * `<domain>/*` wildcard (upstream's IsAuthorizedForSignerName).
 */
export function isAuthorizedForSignerName(authz: SignerAuthorizer, user: AuthenticatedUser | undefined, verb: 'approve' | 'sign', signerName: string): boolean {
  if (!user) return false;
  const attrs = (name: string) => ({ verb, apiGroup: CERTIFICATES_GROUP, resource: 'signers', name });
  if (authz.authorize(user, attrs(signerName))) return true;
  const domain = signerName.split('/')[0]!;
  return authz.authorize(user, attrs(`${domain}/*`));
}

export class CertificateApproval implements ValidatingAdmission {
  readonly name = 'CertificateApproval';
  constructor(private readonly authz: SignerAuthorizer) {}

  validate(a: AdmissionAttributes): void {
    if (a.operation !== 'UPDATE' || a.subresource !== CSR_APPROVAL || !isCsr(a)) return;
    // The stored object's signer: an update cannot dodge the check by changing spec.signerName.
    const signer = signerOf(a.oldObj ?? a.obj);
    if (!isAuthorizedForSignerName(this.authz, a.context?.user, 'approve', signer)) {
      throw forbidden(a.info, a.name, `user not permitted to approve requests with signerName ${JSON.stringify(signer)}`);
    }
  }
}

export class CertificateSigning implements ValidatingAdmission {
  readonly name = 'CertificateSigning';
  constructor(private readonly authz: SignerAuthorizer) {}

  validate(a: AdmissionAttributes): void {
    if (a.operation !== 'UPDATE' || a.subresource !== 'status' || !isCsr(a)) return;
    const before = a.oldObj ?? {};
    if (deepEqual(field(before, 'status', 'certificate'), field(a.obj, 'status', 'certificate'))
      && deepEqual(field(before, 'status', 'conditions') ?? [], field(a.obj, 'status', 'conditions') ?? [])) return;
    const signer = signerOf(before);
    if (!isAuthorizedForSignerName(this.authz, a.context?.user, 'sign', signer)) {
      throw forbidden(a.info, a.name, `user not permitted to sign requests with signerName ${JSON.stringify(signer)}`);
    }
  }
}

/** The subject's organizations of a PEM certificate request (throws when it does not parse). */
export function requestOrganizations(pem: string): string[] {
  const req = new x509.Pkcs10CertificateRequest(pem);
  return new x509.Name(req.subject).toJSON().flatMap((rdn) => rdn.O ?? []);
}

export class CertificateSubjectRestriction implements ValidatingAdmission {
  readonly name = 'CertificateSubjectRestriction';

  validate(a: AdmissionAttributes): void {
    if (a.operation !== 'CREATE' || !isCsr(a)) return;
    const signer = signerOf(a.obj);
    if (signer !== KUBE_APISERVER_CLIENT_SIGNER) return;
    let orgs: string[];
    try {
      orgs = requestOrganizations(pemOf(field(a.obj, 'spec', 'request')));
    } catch (err) {
      throw forbidden(a.info, a.name, `failed to parse CSR: ${(err as Error).message}`);
    }
    if (orgs.includes(PRIVILEGED_GROUP)) throw forbidden(a.info, a.name, `use of ${signer} signer with ${PRIVILEGED_GROUP} group is forbidden`);
  }
}
