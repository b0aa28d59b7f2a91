/**
 * Keeps a running client's certificate in step with its kubeconfig file: a node's kubeconfig names the pem its
 * node agent rotates (kubelet-client-current.pem), an add-on's kubeconfig is rewritten when its identity is renewed.
 * Every intervalMs the kubeconfig is read again; when its client pair changed (and the new certificate is for the
 * new key: a pair caught half-written is skipped until the next read) the client switches to it
 * (setClientCertificate: later requests and reconnected watches present the new identity).
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import type { KubeClient } from './client.js';
import { loadKubeconfig } from './config.js';

export interface CertificateReloadOptions {
  /** How often the kubeconfig is read (default 5 s). */
  intervalMs?: number;
  /** The pair in use changed. */
  onReload?: (info: { serial: string; notAfter: string }) => void;
  /** The kubeconfig could not be read (the current pair stays in use). */
  onError?: (err: Error) => void;
}

const matches = (cert: Buffer, key: Buffer): boolean => {
  try {
    const a = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
    return a.equals(createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'der' }));
  } catch {
    return false;
  }
};

/** Follows the client pair of the kubeconfig at `path`; returns the function that stops following. */
export function followKubeconfigCertificate(client: KubeClient, path: string, o: CertificateReloadOptions = {}): () => void {
  let last = (() => {
    try {
      const c = loadKubeconfig(path);
      return { cert: c.cert, key: c.key };
    } catch {
      return { cert: undefined, key: undefined };
    }
  })();
  let reportedError = false;
  const timer = setInterval(() => {
    let cfg;
    try {
      cfg = loadKubeconfig(path);
      reportedError = false;
    } catch (err) {
      if (!reportedError) o.onError?.(err as Error);
      reportedError = true;
      return;
    }
    const { cert, key } = cfg;
    if (!cert || !key) return;
    if (last.cert?.equals(cert) && last.key?.equals(key)) return;
    if (!matches(cert, key)) return;
    last = { cert, key };
    client.setClientCertificate(cert, key);
    const x = new X509Certificate(cert);
    o.onReload?.({ serial: x.serialNumber, notAfter: x.validTo });
  }, o.intervalMs ?? 5000);
  timer.unref();
  return () => clearInterval(timer);
}
