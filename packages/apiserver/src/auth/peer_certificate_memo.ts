/**
 * Remembers each TLS connection's peer certificate after the first lookup.
 *
 * Every request authenticates by its client certificate, and both the REST
 * handler and grpc-js (`call.getAuthContext()`) ask the socket for it with
 * `getPeerCertificate()`, which re-parses the X.509 certificate into a new
 * object each time: about 5% of the API server's CPU at 500 requests/s. The
 * certificate a connection presented in its handshake does not change, so the
 * non-detailed lookup is memoized per socket (a WeakMap, gone with the socket).
 * Detailed lookups (`getPeerCertificate(true)`, used when verifying servers)
 * are passed through untouched. grpc-js owns its sockets, so this is installed
 * on the TLSSocket prototype, once per process.
 */
import { TLSSocket, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls';

const memo = new WeakMap<TLSSocket, PeerCertificate>();
let installed = false;

export function installPeerCertificateMemo(): void {
  if (installed) return;
  installed = true;
  const original = TLSSocket.prototype.getPeerCertificate;
  function getPeerCertificate(this: TLSSocket, detailed: true): DetailedPeerCertificate;
  function getPeerCertificate(this: TLSSocket, detailed?: false): PeerCertificate;
  function getPeerCertificate(this: TLSSocket, detailed?: boolean): PeerCertificate | DetailedPeerCertificate;
  function getPeerCertificate(this: TLSSocket, detailed?: boolean): PeerCertificate | DetailedPeerCertificate {
    if (detailed) return original.call(this, true);
    const known = memo.get(this);
    if (known) return known;
    const cert = original.call(this, false);
    // Only a completed handshake's certificate is final; an empty result may still change.
    if (cert && Object.keys(cert).length > 0) memo.set(this, cert);
    return cert;
  }
  TLSSocket.prototype.getPeerCertificate = getPeerCertificate;
}
