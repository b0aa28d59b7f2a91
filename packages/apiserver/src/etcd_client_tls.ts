/**
 * kube-apiserver's etcd client TLS flags (--etcd-cafile, --etcd-certfile, --etcd-keyfile) checked
 * against --etcd-servers: https:// servers need a CA to verify them (no silent fallback to the
 * system roots), a certificate needs its key; files must be readable at start-up.
 */
import { accessSync, constants } from 'node:fs';
import type { EtcdTlsOptions } from '@mkube/store/client';

export class EtcdTlsConfigError extends Error {
  readonly code = 'ETCD_TLS_CONFIG';
}

export function etcdClientTls(servers: string[], o: { etcdCAFile?: string; etcdCertFile?: string; etcdKeyFile?: string }): EtcdTlsOptions | undefined {
  const https = servers.filter((s) => /^https:\/\//i.test(s));
  if (Boolean(o.etcdCertFile) !== Boolean(o.etcdKeyFile)) {
    throw new EtcdTlsConfigError('--etcd-certfile and --etcd-keyfile must be given together');
  }
  if (https.length > 0 && !o.etcdCAFile) {
    throw new EtcdTlsConfigError(`--etcd-servers ${https.join(',')} use https: --etcd-cafile is required to verify them (with --etcd-certfile/--etcd-keyfile for a store that requires client certificates)`);
  }
  if (!o.etcdCAFile && !o.etcdCertFile) return undefined;
  for (const [flag, file] of [['--etcd-cafile', o.etcdCAFile], ['--etcd-certfile', o.etcdCertFile], ['--etcd-keyfile', o.etcdKeyFile]] as const) {
    if (!file) continue;
    try {
      accessSync(file, constants.R_OK);
    } catch (err) {
      throw new EtcdTlsConfigError(`${flag} ${file}: ${(err as Error).message}`);
    }
  }
  return { ca: o.etcdCAFile, cert: o.etcdCertFile, key: o.etcdKeyFile };
}
