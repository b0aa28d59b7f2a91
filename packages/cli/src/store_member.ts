// A control plane's store member (a separate mkube-store process, as kubeadm's local etcd): its PKI under
// DIR/apiserver/pki/etcd (as kubeadm's /etc/kubernetes/pki/etcd) — the store CA (shared by every control plane,
// uploaded with the cluster PKI), this member's serving certificate (clients: the API servers, etcdctl) and peer
// certificate (server and client auth between members) with the advertise address in their SANs, and the API
// server's client certificate (apiserver-etcd-client, as kubeadm's); the member's flags; waiting for it to serve.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, issueCertificate } from '@mkube/apiserver';
import { EtcdClient } from '@mkube/store/client';

export const STORE_CLIENT_PORT = 2379;
export const STORE_PEER_PORT = 2380;
export const STORE_CLUSTER_TOKEN = 'mkube';

export interface StorePki {
  dir: string;
  caFile: string;
  caKeyFile: string;
  serverCert: string;
  serverKey: string;
  peerCert: string;
  peerKey: string;
  /** The API server's (and the CLI's) client certificate to the store. */
  clientCert: string;
  clientKey: string;
}

export function storePkiDir(apiDir: string): string {
  return join(apiDir, 'pki', 'etcd');
}

/** The store CA (made unless present: a joining control plane downloaded it) and this member's certificates. */
export function ensureStorePki(apiDir: string, memberName: string, advertiseAddress: string): StorePki {
  const dir = storePkiDir(apiDir);
  ensurePrivateDir(dir);
  if (!existsSync(join(dir, 'ca.crt'))) {
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
    run(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=etcd-ca', '-days', '3650', '-sha256', '-out', 'ca.crt',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  }
  const san = `subjectAltName=IP:${advertiseAddress},IP:127.0.0.1,DNS:localhost,DNS:${memberName}\n`;
  // Reissued when the address changes (the .ext file records the SANs it was issued for).
  const issue = (base: string, subject: string, usage: string) => {
    const ext = `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n${usage.includes('serverAuth') ? san : ''}`;
    const extFile = join(dir, `${base}.ext`);
    if (!existsSync(join(dir, `${base}.crt`)) || !existsSync(extFile) || readFileSync(extFile, 'utf8') !== ext) issueCertificate(dir, base, subject, ext);
  };
  issue('server', `/CN=${memberName}`, 'serverAuth,clientAuth');
  issue('peer', `/CN=${memberName}`, 'serverAuth,clientAuth');
  issue('apiserver-etcd-client', '/O=system:masters/CN=kube-apiserver-etcd-client', 'clientAuth');
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    caKeyFile: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    peerCert: join(dir, 'peer.crt'),
    peerKey: join(dir, 'peer.key'),
    clientCert: join(dir, 'apiserver-etcd-client.crt'),
    clientKey: join(dir, 'apiserver-etcd-client.key'),
  };
}

export const clientURL = (ip: string, port = STORE_CLIENT_PORT) => `https://${ip}:${port}`;
export const peerURL = (ip: string, port = STORE_PEER_PORT) => `https://${ip}:${port}`;

export interface StoreMemberOptions {
  name: string;
  dataDir: string;
  advertiseAddress: string;
  clientPort?: number;
  peerPort?: number;
  metricsPort: number;
  /** NAME=PEER_URL of every member (the new one included); default: this member alone. */
  initialCluster?: string;
  initialClusterState: 'new' | 'existing';
}

/** mkube-store's flags for a control plane's member (client and peer TLS from the store CA, client certificates required). */
export function storeArgs(pki: StorePki, o: StoreMemberOptions): string[] {
  const client = clientURL(o.advertiseAddress, o.clientPort);
  const peer = peerURL(o.advertiseAddress, o.peerPort);
  return [
    '--name', o.name, '--data-dir', o.dataDir,
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', o.initialCluster ?? `${o.name}=${peer}`, '--initial-cluster-state', o.initialClusterState, '--initial-cluster-token', STORE_CLUSTER_TOKEN,
    '--cert-file', pki.serverCert, '--key-file', pki.serverKey, '--trusted-ca-file', pki.caFile, '--client-cert-auth',
    '--peer-cert-file', pki.peerCert, '--peer-key-file', pki.peerKey, '--peer-trusted-ca-file', pki.caFile, '--peer-client-cert-auth',
    '--listen-metrics-urls', `http://127.0.0.1:${o.metricsPort}`,
  ];
}

/** A store client with this control plane's client certificate. */
export function storeClient(pki: Pick<StorePki, 'caFile' | 'clientCert' | 'clientKey'>, endpoints: string[]): EtcdClient {
  return new EtcdClient({ endpoints, tls: { ca: pki.caFile, cert: pki.clientCert, key: pki.clientKey }, dialTimeoutMs: 2000, requestTimeoutMs: 5000 });
}

/** Where a control plane records its store member (read by status, leave). */
export interface MemberRecord {
  name: string;
  clientURL: string;
  peerURL: string;
}

export function writeMemberRecord(apiDir: string, r: MemberRecord): void {
  writeFileSync(join(apiDir, 'store-member.json'), JSON.stringify(r, null, 2));
}

export function readMemberRecord(apiDir: string): MemberRecord | undefined {
  const p = join(apiDir, 'store-member.json');
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as MemberRecord) : undefined;
}

export function storePkiFiles(apiDir: string): Pick<StorePki, 'caFile' | 'clientCert' | 'clientKey'> {
  const dir = storePkiDir(apiDir);
  return { caFile: join(dir, 'ca.crt'), clientCert: join(dir, 'apiserver-etcd-client.crt'), clientKey: join(dir, 'apiserver-etcd-client.key') };
}
