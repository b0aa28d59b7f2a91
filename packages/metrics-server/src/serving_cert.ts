// The serving certificate when none is given (--tls-cert-file): a self-signed
// one made once under --cert-dir with the openssl command line, as upstream's
// metrics-server generates apiserver.local.config/certificates (the
// APIService then says insecureSkipTLSVerify, as upstream's manifests do).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function selfSignedServingCert(dir: string, names: string[]): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cert = join(dir, 'apiserver.crt');
  const key = join(dir, 'apiserver.key');
  if (!existsSync(cert) || !existsSync(key)) {
    const san = names.map((n) => (/^[0-9.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '365', '-subj', `/CN=${names[0] ?? 'localhost'}@${Math.floor(Date.now() / 1000)}`, '-addext', `subjectAltName=${san}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    chmodSync(key, 0o600);
  }
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}
