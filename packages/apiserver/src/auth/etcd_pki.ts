/**
 * The embedded store's PKI, under DIR/pki/etcd (as kubeadm's /etc/kubernetes/pki/etcd): a CA of its
 * own, so that no certificate of the cluster CA (node agents, users, kubelet clients) is accepted
 * by the store; the store's serving certificate (127.0.0.1, localhost) and one client certificate
 * (CN=kube-apiserver-etcd-client) that the API server uses and etcdctl can use:
 *
 *   etcdctl --endpoints https://127.0.0.1:PORT --cacert DIR/pki/etcd/ca.crt \
 *     --cert DIR/pki/etcd/client.crt --key DIR/pki/etcd/client.key get /registry --prefix --keys-only
 *
 * Made with the openssl command line on first start; keys are 0600 in a 0700 directory.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { ensurePrivateDir } from '@mkube/store';
import { join } from 'node:path';
import { issueCertificate } from './pki.js';

export interface EtcdPki {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

export function ensureEtcdPki(dataDir: string): EtcdPki {
  const dir = join(dataDir, 'pki', 'etcd');
  ensurePrivateDir(dir);
  if (!existsSync(join(dir, 'ca.crt'))) {
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('openssl', ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=mkube-etcd-ca', '-days', '3650', '-sha256', '-out', 'ca.crt',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }
  if (!existsSync(join(dir, 'server.crt'))) {
    issueCertificate(dir, 'server', '/CN=mkube-embedded-store', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  }
  if (!existsSync(join(dir, 'client.crt'))) {
    issueCertificate(dir, 'client', '/O=system:masters/CN=kube-apiserver-etcd-client', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  }
  for (const f of readdirSync(dir)) if (f.endsWith('.key')) chmodSync(join(dir, f), 0o600);
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    serverCertFile: join(dir, 'server.crt'),
    serverKeyFile: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
  };
}
