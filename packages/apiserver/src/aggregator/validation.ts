/**
 * APIService validation as kube-aggregator's ValidateAPIService (name
 * version.group, group a DNS subdomain, version a DNS label, the priorities'
 * ranges, the service reference, caBundle vs insecureSkipTLSVerify), as a
 * validating admission plugin on create and update (not on status).
 */
import type { JsonObject } from '@mkube/api';
import type { AdmissionAttributes, ValidatingAdmission } from '../admission/admission.js';
import { invalid, type FieldError } from '../errors.js';

type Obj = JsonObject;
const o = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export function validateApiService(obj: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const spec = o(obj.spec);
  const group = String(spec.group ?? '');
  const version = String(spec.version ?? '');
  const name = String(o(obj.metadata).name ?? '');
  const required = `${version}.${group}`;
  if (name !== required) errs.push({ type: 'FieldValueInvalid', field: 'metadata.name', value: name, detail: `must be \`spec.version+"."+spec.group\`: "${required}"` });
  if (!group && version !== 'v1') errs.push({ type: 'FieldValueRequired', field: 'spec.group', detail: 'only v1 may have an empty group and it better be legacy kube' });
  if (group && (group.length > 253 || !DNS1123_SUBDOMAIN.test(group))) errs.push({ type: 'FieldValueInvalid', field: 'spec.group', value: group, detail: "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')" });
  if (version.length > 63 || !DNS1035_LABEL.test(version)) errs.push({ type: 'FieldValueInvalid', field: 'spec.version', value: version, detail: "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')" });
  const gpm = Number(spec.groupPriorityMinimum ?? 0);
  if (gpm <= 0 || gpm > 20000) errs.push({ type: 'FieldValueInvalid', field: 'spec.groupPriorityMinimum', value: gpm, detail: 'must be positive and less than 20000' });
  const vp = Number(spec.versionPriority ?? 0);
  if (vp <= 0 || vp > 1000) errs.push({ type: 'FieldValueInvalid', field: 'spec.versionPriority', value: vp, detail: 'must be positive and less than 1000' });
  const caLen = typeof spec.caBundle === 'string' ? Buffer.from(spec.caBundle, 'base64').length : 0;
  if (!spec.service) {
    if (caLen) errs.push({ type: 'FieldValueInvalid', field: 'spec.caBundle', value: `${caLen} bytes`, detail: 'local APIServices may not have a caBundle' });
    if (spec.insecureSkipTLSVerify === true) errs.push({ type: 'FieldValueInvalid', field: 'spec.insecureSkipTLSVerify', value: true, detail: 'local APIServices may not have insecureSkipTLSVerify' });
    return errs;
  }
  const svc = o(spec.service);
  if (!svc.namespace) errs.push({ type: 'FieldValueRequired', field: 'spec.service.namespace' });
  if (!svc.name) errs.push({ type: 'FieldValueRequired', field: 'spec.service.name' });
  const port = svc.port === undefined || svc.port === null ? 443 : Number(svc.port);
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) errs.push({ type: 'FieldValueInvalid', field: 'spec.service.port', value: port, detail: 'port is not valid: must be between 1 and 65535, inclusive' });
  if (spec.insecureSkipTLSVerify === true && caLen > 0) errs.push({ type: 'FieldValueInvalid', field: 'spec.insecureSkipTLSVerify', value: true, detail: 'may not be true if caBundle is present' });
  return errs;
}

export class ApiServiceValidation implements ValidatingAdmission {
  readonly name = 'APIServiceValidation';

  validate(attrs: AdmissionAttributes): void {
    if (attrs.info.group !== 'apiregistration.k8s.io' || attrs.info.resource !== 'apiservices' || attrs.subresource) return;
    const errs = validateApiService(attrs.obj);
    if (errs.length) throw invalid('APIService', 'apiregistration.k8s.io', attrs.name, errs);
  }
}
