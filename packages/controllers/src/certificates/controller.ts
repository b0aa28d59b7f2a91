/**
 * Wiring of the certificate controllers to the CSR (and Node) caches:
 * csrapproving (approve.ts: a SubjectAccessReview for the requester, then
 * the Approved condition through the approval subresource, reason
 * AutoApproved) and csrsigning (signer.ts: the certificate, or a Failed
 * condition, through /status; only with --cluster-signing-cert-file and
 * --cluster-signing-key-file, as kube-controller-manager).
 */
import { readFileSync } from 'node:fs';
import { objectKey, type CertificateSigningRequest, type CertificateSigningRequestCondition, type Named } from '@mkube/api';
import { ApiError } from '@mkube/client';
import { QueueController } from '../runtime/controller.js';
import type { ControllerContext, RunningController } from '../runtime/context.js';
import { R } from '../types.js';
import { planApproval, requestNodeName } from './approve.js';
import { CsrParseError, isApproved, isDenied, isFailed, parseRequest } from './csr_parse.js';
import { CSRS } from './resource.js';
import { issue, loadSigningCa, SIGNERS, signerValidation, type SigningCa } from './signer.js';

const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
/** --cluster-signing-duration's default (upstream: 1 year). */
export const DEFAULT_SIGNING_DURATION_S = 365 * 24 * 3600;

type Csr = Named<CertificateSigningRequest>;

function condition(type: string, reason: string, message: string, now: number): CertificateSigningRequestCondition {
  const ts = new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  return { type, status: 'True', reason, message, lastUpdateTime: ts, lastTransitionTime: ts };
}

export function csrApprovingController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'csrapproving' });
  const csrs = ctx.informers.for(CSRS);
  const nodes = ctx.informers.for(R.nodes);
  const c = new QueueController({
    name: 'csrapproving',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      const csr = csrs.get(key) as Csr | undefined;
      if (!csr || isApproved(csr) || isDenied(csr) || csr.status?.certificate) return;
      let req;
      try {
        req = await parseRequest(csr);
      } catch (err) {
        if (err instanceof CsrParseError) return log.info({ csr: key, err }, 'not approving an unparsable request');
        throw err;
      }
      const nodeName = requestNodeName(req);
      const plan = planApproval(csr, req, nodeName ? nodes.get(nodeName) : undefined);
      if (plan.kind === 'none') return;
      if (plan.kind === 'sar') {
        const review = await ctx.client.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: csr.spec?.username,
            uid: csr.spec?.uid,
            groups: csr.spec?.groups,
            extra: csr.spec?.extra,
            resourceAttributes: { group: 'certificates.k8s.io', resource: 'certificatesigningrequests', verb: 'create', subresource: plan.subresource },
          },
        });
        if (!review?.status?.allowed) return log.debug({ csr: key, subresource: plan.subresource }, 'requester may not have this request auto-approved');
      }
      const next: Csr = { ...csr, status: { ...(csr.status ?? {}), conditions: [...(csr.status?.conditions ?? []), condition('Approved', 'AutoApproved', plan.message, ctx.clock.now())] } };
      await ctx.client.request('PUT', `${CSR_PATH}/${encodeURIComponent(csr.metadata.name)}/approval`, next);
      log.info({ csr: key, requester: csr.spec?.username, signer: csr.spec?.signerName }, plan.message);
    },
  });
  const enqueue = (o: Csr) => c.enqueue(objectKey(o));
  csrs.addEventHandler({ add: enqueue, update: (_o, n) => enqueue(n) });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}

export function csrSigningController(ctx: ControllerContext): RunningController {
  const log = ctx.log.child({ controller: 'csrsigning' });
  const csrs = ctx.informers.for(CSRS);
  const certFile = ctx.config.clusterSigningCertFile;
  const keyFile = ctx.config.clusterSigningKeyFile;
  const maxSeconds = ctx.config.clusterSigningDurationSeconds ?? DEFAULT_SIGNING_DURATION_S;
  let ca: Promise<SigningCa> | undefined;
  const c = new QueueController({
    name: 'csrsigning',
    workers: ctx.config.workers,
    log,
    metrics: ctx.metrics,
    reconcile: async (key) => {
      if (!certFile || !keyFile) return;
      const csr = csrs.get(key) as Csr | undefined;
      if (!csr || !isApproved(csr) || isFailed(csr) || isDenied(csr) || csr.status?.certificate) return;
      if (!SIGNERS.includes(csr.spec?.signerName ?? '')) return;
      ca ??= loadSigningCa(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'));
      let status: CertificateSigningRequest['status'];
      try {
        const req = await parseRequest(csr);
        const invalid = signerValidation(csr, req);
        if (invalid) {
          status = { ...(csr.status ?? {}), conditions: [...(csr.status?.conditions ?? []), condition('Failed', 'SignerValidationFailure', invalid, ctx.clock.now())] };
          log.info({ csr: key, reason: invalid }, 'signer validation failed');
        } else {
          const pem = await issue(await ca, csr, req, maxSeconds, ctx.clock.now());
          status = { ...(csr.status ?? {}), certificate: Buffer.from(pem).toString('base64') };
        }
      } catch (err) {
        if (!(err instanceof CsrParseError)) throw err;
        status = { ...(csr.status ?? {}), conditions: [...(csr.status?.conditions ?? []), condition('Failed', 'SignerValidationFailure', err.message, ctx.clock.now())] };
      }
      try {
        await ctx.client.request('PUT', `${CSR_PATH}/${encodeURIComponent(csr.metadata.name)}/status`, { ...csr, status });
      } catch (err) {
        if (ApiError.isNotFound(err)) return;
        throw err;
      }
      if (status?.certificate) log.info({ csr: key, signer: csr.spec?.signerName, requester: csr.spec?.username }, 'issued certificate');
    },
  });
  if (!certFile || !keyFile) log.info('no --cluster-signing-cert-file/--cluster-signing-key-file: certificates are not signed');
  const enqueue = (o: Csr) => c.enqueue(objectKey(o));
  csrs.addEventHandler({ add: enqueue, update: (_o, n) => enqueue(n) });
  return { name: c.name, start: () => c.start(), stop: () => c.stop() };
}
