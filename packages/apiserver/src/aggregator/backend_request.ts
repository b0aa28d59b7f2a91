/**
 * One HTTPS request from the API server to an aggregated API server, as
 * kube-aggregator's proxy transport: the front-proxy client certificate, the
 * user in X-Remote-User / X-Remote-Group / X-Remote-Extra-* (requestheader
 * authentication), the serving certificate checked against the APIService's
 * caBundle for the name <service>.<namespace>.svc (or not at all with
 * insecureSkipTLSVerify).
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { ClientRequest, IncomingHttpHeaders } from 'node:http';
import type { AuthenticatedUser } from '../auth/authn.js';
import type { ApiServiceView } from './apiservices.js';
import type { ServiceAddress } from './resolve.js';
import type { FrontProxyPki } from './front_proxy_pki.js';

/** Request headers never forwarded: credentials and identity headers a client could forge. */
const DROPPED = /^(authorization|impersonate-.*|x-remote-.*|connection|keep-alive|proxy-connection|transfer-encoding|upgrade|host)$/i;

export function backendHeaders(incoming: IncomingHttpHeaders, user: AuthenticatedUser): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(incoming)) if (v !== undefined && !DROPPED.test(k)) out[k] = v;
  out['X-Remote-User'] = user.name;
  if (user.groups.length) out['X-Remote-Group'] = [...user.groups];
  for (const [k, vs] of Object.entries(user.extra ?? {})) out[`X-Remote-Extra-${encodeURIComponent(k)}`] = [...vs];
  return out;
}

export function backendRequest(view: ApiServiceView, ep: ServiceAddress, pki: FrontProxyPki, method: string, path: string, headers: Record<string, string | string[]>, timeoutMs?: number): ClientRequest {
  const svc = view.service!;
  const opts: RequestOptions = {
    host: ep.host,
    port: ep.port,
    method,
    path,
    headers: { ...headers, Host: `${svc.name}.${svc.namespace}.svc:${svc.port}` },
    cert: pki.clientCert,
    key: pki.clientKey,
    servername: `${svc.name}.${svc.namespace}.svc`,
    rejectUnauthorized: !view.insecureSkipTLSVerify,
    agent: false,
    timeout: timeoutMs,
  };
  if (!view.insecureSkipTLSVerify && view.caBundle) opts.ca = view.caBundle;
  return httpsRequest(opts);
}
