/**
 * The front-proxy PKI of the aggregation layer (kube-apiserver's
 * --requestheader-client-ca-file and --proxy-client-cert-file/-key-file): a
 * CA of its own (DIR/pki/front-proxy-ca.crt) and the client certificate
 * (CN=front-proxy-client) the API server presents to aggregated API servers,
 * which trust X-Remote-User / X-Remote-Group only from a peer with it.
 * Made with the openssl command line on first start, as the cluster PKI.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PRIVATE_FILE_MODE } from '@mkube/store';

export interface FrontProxyPki {
  caCert: string;
  clientCert: string;
  clientKey: string;
  /** The CN aggregated servers allow (--requestheader-allowed-names). */
  clientName: string;
}

export const FRONT_PROXY_CLIENT = 'front-proxy-client';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function ecKey(dir: string, file: string): void {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file], dir);
  chmodSync(join(dir, file), PRIVATE_FILE_MODE);
}

/** Loads the front-proxy CA and client certificate under pkiDir, creating what is missing. */
export function ensureFrontProxyPki(pkiDir: string): FrontProxyPki {
  if (!existsSync(join(pkiDir, 'front-proxy-ca.crt'))) {
    ecKey(pkiDir, 'front-proxy-ca.key');
    openssl(['req', '-x509', '-new', '-key', 'front-proxy-ca.key', '-subj', '/CN=front-proxy-ca', '-days', '3650', '-sha256', '-out', 'front-proxy-ca.crt',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], pkiDir);
  }
  if (!existsSync(join(pkiDir, 'front-proxy-client.crt'))) {
    ecKey(pkiDir, 'front-proxy-client.key');
    openssl(['req', '-new', '-key', 'front-proxy-client.key', '-subj', `/CN=${FRONT_PROXY_CLIENT}`, '-out', 'front-proxy-client.csr'], pkiDir);
    writeFileSync(join(pkiDir, 'front-proxy-client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
    openssl(['x509', '-req', '-in', 'front-proxy-client.csr', '-CA', 'front-proxy-ca.crt', '-CAkey', 'front-proxy-ca.key', '-CAcreateserial', '-days', '3650', '-sha256',
      '-extfile', 'front-proxy-client.ext', '-out', 'front-proxy-client.crt'], pkiDir);
  }
  const read = (f: string): string => readFileSync(join(pkiDir, f), 'utf8');
  return { caCert: read('front-proxy-ca.crt'), clientCert: read('front-proxy-client.crt'), clientKey: read('front-proxy-client.key'), clientName: FRONT_PROXY_CLIENT };
}
