// The API server's store connection (issue 10, hole 8): on a real etcd 3.4 that requires client
// certificates (--client-cert-auth --trusted-ca-file, https URLs) through --etcd-cafile,
// --etcd-certfile, --etcd-keyfile; an https etcd without --etcd-cafile is a start-up error; the
// embedded store's listener refuses plaintext clients, TLS clients without a certificate and
// certificates of the cluster CA, serves etcdctl with DIR/pki/etcd's client certificate, and has
// no peer port.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { EtcdClient } from '@mkube/store/client';
import { startApiServer } from '../src/server.js';
import { api, freePort } from './helpers/cluster.js';

const run = promisify(execFile);
const quiet = pino({ level: 'silent' });

async function makeCerts(dir: string): Promise<(n: string) => string> {
  const o = (args: string[]) => run('openssl', args, { cwd: dir });
  await o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=etcd-test-ca']);
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  for (const name of ['etcd', 'apiserver-etcd-client']) {
    await o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    await o(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', 'san.cnf']);
  }
  return (n: string) => join(dir, n);
}

async function errorOf(p: Promise<unknown>): Promise<Error & { code?: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: number };
  }
  throw new Error('expected a failure');
}

test.serial('the API server on etcd 3.4 with client certificate authentication, through --etcd-cafile/--etcd-certfile/--etcd-keyfile', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-etcd-tls-'));
  let etcd: ChildProcess | undefined;
  t.teardown(() => {
    etcd?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const f = await makeCerts(dir);
  const [client, peer] = [await freePort(), await freePort()];
  const url = `https://127.0.0.1:${client}`;
  etcd = spawn('/usr/bin/etcd', [
    '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', url, '--advertise-client-urls', url,
    '--cert-file', f('etcd.crt'), '--key-file', f('etcd.key'), '--trusted-ca-file', f('ca.crt'), '--client-cert-auth',
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `default=http://127.0.0.1:${peer}`,
  ], { stdio: 'ignore' });
  const probe = new EtcdClient({ endpoints: [url], tls: { ca: f('ca.crt'), cert: f('apiserver-etcd-client.crt'), key: f('apiserver-etcd-client.key') }, dialTimeoutMs: 500 });
  t.teardown(() => probe.close());
  for (const deadline = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 200))) {
    try {
      await probe.status();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }

  // https:// without a CA: a start-up error (in-process and from the binary, exit 2), before anything is served.
  const noCa = await errorOf(startApiServer({ dataDir: join(dir, 'x'), etcdServers: [url], securePort: 0, grpcPort: -1, logger: quiet }));
  t.regex(noCa.message, /--etcd-servers https:\/\/127\.0\.0\.1:\d+ use https: --etcd-cafile is required/);
  const bin = await run(process.execPath, ['--import', 'tsx', join('packages', 'apiserver', 'src', 'bin', 'mkube-apiserver.ts'), '--data-dir', join(dir, 'y'), '--etcd-servers', url, '--etcd-certfile', f('apiserver-etcd-client.crt'), '--etcd-keyfile', f('apiserver-etcd-client.key')]).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  t.is(bin.code, 2);
  t.regex(bin.stderr, /mkube-apiserver: --etcd-servers https:\/\/127\.0\.0\.1:\d+ use https: --etcd-cafile is required/);
  // Without a client certificate etcd refuses the connection: the API server cannot start on it.
  const noCert = await errorOf(startApiServer({ dataDir: join(dir, 'z'), etcdServers: [url], etcdCAFile: f('ca.crt'), securePort: 0, grpcPort: -1, compactionIntervalMs: 0, logger: quiet }));
  t.truthy(noCert.message);

  // With the flags: it serves, and what it writes is in etcd under /registry.
  const server = await startApiServer({
    dataDir: join(dir, 'data'), etcdServers: [url], etcdCAFile: f('ca.crt'), etcdCertFile: f('apiserver-etcd-client.crt'), etcdKeyFile: f('apiserver-etcd-client.key'),
    securePort: 0, grpcPort: -1, compactionIntervalMs: 0, logger: quiet,
  });
  t.teardown(() => server.stop());
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'over-tls' }, data: { a: '1' } };
  t.is((await api(server, 'POST', '/api/v1/namespaces/default/configmaps', cm)).status, 201);
  t.is((await api(server, 'GET', '/api/v1/namespaces/default/configmaps/over-tls')).body.data.a, '1');
  t.is((await probe.get('/registry/configmaps/default/over-tls')).kvs.length, 1);
  t.is((await api(server, 'GET', '/readyz')).status, 200);
});

test.serial('the embedded store listens only with TLS and client certificates of its own CA, and has no peer port', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-embedded-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startApiServer({ dataDir: join(dir, 'data'), securePort: 0, grpcPort: -1, compactionIntervalMs: 0, logger: quiet });
  t.teardown(() => server.stop());
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'embedded' }, data: { a: '1' } };
  t.is((await api(server, 'POST', '/api/v1/namespaces/default/configmaps', cm)).status, 201);
  const ports = JSON.parse(readFileSync(join(dir, 'data', 'store', 'embedded.json'), 'utf8')) as { client: number; peer: number };
  const pki = join(dir, 'data', 'pki');
  const endpoint = `https://127.0.0.1:${ports.client}`;

  // Refused: plaintext, TLS without a client certificate, a certificate of the cluster CA (the admin's).
  const refused: Array<[string, EtcdClient]> = [
    ['plaintext', new EtcdClient({ endpoints: [`http://127.0.0.1:${ports.client}`], dialTimeoutMs: 1000 })],
    ['no client certificate', new EtcdClient({ endpoints: [endpoint], tls: { ca: join(pki, 'etcd', 'ca.crt') }, dialTimeoutMs: 1000 })],
    ['cluster CA certificate', new EtcdClient({ endpoints: [endpoint], tls: { ca: join(pki, 'etcd', 'ca.crt'), cert: join(pki, 'admin.crt'), key: join(pki, 'admin.key') }, dialTimeoutMs: 1000 })],
  ];
  for (const [name, c] of refused) {
    const err = await errorOf(c.put('/registry/configmaps/default/evil', 'x'));
    c.close();
    t.is(err.code, grpc.status.UNAVAILABLE, `${name}: ${err.message}`);
  }
  // Allowed: the store's client certificate, by gRPC and by etcdctl (the documented command).
  const ok = new EtcdClient({ endpoints: [endpoint], tls: { ca: join(pki, 'etcd', 'ca.crt'), cert: join(pki, 'etcd', 'client.crt'), key: join(pki, 'etcd', 'client.key') } });
  t.teardown(() => ok.close());
  t.is((await ok.get('/registry/configmaps/default/evil')).kvs.length, 0, 'no refused write landed');
  t.is((await ok.get('/registry/configmaps/default/embedded')).kvs.length, 1);
  const { stdout } = await run('etcdctl', [`--endpoints=${endpoint}`, '--cacert', join(pki, 'etcd', 'ca.crt'), '--cert', join(pki, 'etcd', 'client.crt'), '--key', join(pki, 'etcd', 'client.key'), 'get', '/registry/configmaps/default/', '--prefix', '--keys-only'], { env: { ...process.env, ETCDCTL_API: '3' } });
  t.regex(stdout, /\/registry\/configmaps\/default\/embedded/);
  // The peer port recorded for the member's identity is not listened on.
  const peerErr = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const s = connect(ports.peer, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (e) => resolve(e));
  });
  t.is(peerErr?.code, 'ECONNREFUSED');
});
