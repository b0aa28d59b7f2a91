// The admin kubeconfig of a cluster with several control planes (kubectl and other admin clients): the
// `mkube` context on the first API server, whose cluster carries every API server in the mkube.io/servers
// extension (@mkube/client fails over between them; kubectl keeps and ignores it), and one context per control
// plane (`mkube-<name>`) so that kubectl can be pointed at any live API server with --context. Credentials: the
// admin client certificate of this control plane (O=system:masters), 0600.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePrivateFile } from '@mkube/apiserver';
import { SERVERS_EXTENSION } from '@mkube/client';
import { stringify } from 'yaml';

export interface ApiServerRef {
  name: string;
  server: string;
}

export function adminKubeconfigText(caPem: string, certPem: string, keyPem: string, servers: ApiServerRef[]): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const all = servers.map((s) => s.server);
  const cluster = (server: string) => ({ 'certificate-authority-data': b64(caPem), server, extensions: [{ name: SERVERS_EXTENSION, extension: { servers: [server, ...all.filter((s) => s !== server)] } }] });
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'mkube', cluster: cluster(all[0]!) }, ...servers.map((s) => ({ name: `mkube-${s.name}`, cluster: cluster(s.server) }))],
    contexts: [{ name: 'mkube', context: { cluster: 'mkube', user: 'kubernetes-admin' } }, ...servers.map((s) => ({ name: `mkube-${s.name}`, context: { cluster: `mkube-${s.name}`, user: 'kubernetes-admin' } }))],
    'current-context': 'mkube',
    preferences: {},
    users: [{ name: 'kubernetes-admin', user: { 'client-certificate-data': b64(certPem), 'client-key-data': b64(keyPem) } }],
  };
  return stringify(doc);
}

/** Writes DIR's admin kubeconfig from the API server's PKI (pkiDir/ca.crt, admin.crt, admin.key). */
export function writeAdminKubeconfig(path: string, pkiDir: string, servers: ApiServerRef[]): void {
  const read = (f: string) => readFileSync(join(pkiDir, f), 'utf8');
  writePrivateFile(path, adminKubeconfigText(read('ca.crt'), read('admin.crt'), read('admin.key'), servers));
}
