// `mkube backup` on a control plane whose store is a mkube-store member (mkube init / join): a real
// 3-member store with client and peer TLS from its own CA, the control plane's data dir as mkube init
// leaves it (apiserver/store-member.json, apiserver/pki/etcd with the API server's client certificate).
// The backup reaches the member over mutual TLS, holds the store's snapshot and the PKI; `mkube restore`
// without --control-plane refuses it (a control-plane store is restored member by member); no store, no cluster: clear errors.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueCertificate } from '@mkube/apiserver';
import { EtcdClient } from '@mkube/store/client';
import { StoreCluster } from '@mkube/testing';

const MKUBE = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'bin', 'mkube.js');

let base = '';
let dataDir = '';
let pki = '';
let cluster: StoreCluster | undefined;

function mkube(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MKUBE, ...args], { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

test.before(async () => {
  base = mkdtempSync(join(tmpdir(), 'mkube-backup-member-'));
  dataDir = join(base, 'cp1');
  pki = join(dataDir, 'apiserver', 'pki', 'etcd');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=etcd-ca', '-days', '2', '-out', 'ca.crt', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  const usage = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n';
  issueCertificate(pki, 'server', '/CN=cp1', `${usage}extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n`);
  issueCertificate(pki, 'apiserver-etcd-client', '/O=system:masters/CN=kube-apiserver-etcd-client', `${usage}extendedKeyUsage=clientAuth\n`);
  const f = (n: string) => join(pki, n);
  cluster = await StoreCluster.start({
    members: 3,
    scheme: 'https',
    extraArgs: ['--cert-file', f('server.crt'), '--key-file', f('server.key'), '--trusted-ca-file', f('ca.crt'), '--client-cert-auth',
      '--peer-cert-file', f('server.crt'), '--peer-key-file', f('server.key'), '--peer-trusted-ca-file', f('ca.crt'), '--peer-client-cert-auth',
      // Not a failover test: long election timeouts keep the loaded shared machine from electing in the middle of a put.
      '--heartbeat-interval', '100', '--election-timeout', '3000'],
  });
  const m = cluster.members[0]!;
  writeFileSync(join(dataDir, 'apiserver', 'store-member.json'), JSON.stringify({ name: m.name, clientURL: m.clientURL, peerURL: m.peerURL }));
  const client = new EtcdClient({ endpoints: [m.clientURL], tls: { ca: f('ca.crt'), cert: f('apiserver-etcd-client.crt'), key: f('apiserver-etcd-client.key') }, requestTimeoutMs: 30_000, dialTimeoutMs: 10_000 });
  try {
    for (let i = 0; i < 20; i++) await client.put(`/registry/configmaps/default/cm-${i}`, `value-${i}`);
  } finally {
    client.close();
  }
});

test.after.always(async () => {
  await cluster?.stop();
  if (base) rmSync(base, { recursive: true, force: true });
});

test.serial('mkube backup of a control plane: the member snapshot over mutual TLS and the PKI, 0600; mkube restore without --control-plane says how to restore them', async (t) => {
  const out = join(base, 'cp1-backup.tar');
  const r = await mkube(['backup', '--data-dir', dataDir, '--output', out]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^Backup written to .*cp1-backup\.tar \(store revision 21, snapshot sha256 [0-9a-f]{64}\)\.\nIt holds the cluster CA key and every Secret: keep it private \(it is 0600\)\.\n$/);
  t.is(statSync(out).mode & 0o777, 0o600);
  const files = execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const f of ['manifest.json', 'snapshot.db', 'apiserver/store-member.json', 'apiserver/pki/etcd/ca.key', 'apiserver/pki/etcd/apiserver-etcd-client.key']) t.true(files.includes(f), f);
  const x = join(base, 'x');
  mkdirSync(x);
  execFileSync('tar', ['-xf', out, '-C', x]);
  const manifest = JSON.parse(readFileSync(join(x, 'manifest.json'), 'utf8')) as { format: string; store: { kind: string; endpoint: string; revision: number } };
  t.like(manifest, { format: 'mkube-backup/v1', store: { kind: 'member', endpoint: cluster!.members[0]!.clientURL, revision: 21 } });

  const restored = await mkube(['restore', out, '--data-dir', join(base, 'restored')]);
  t.is(restored.code, 1);
  t.regex(restored.stderr, /^mkube restore: .* is the backup of a cluster whose store runs on its control planes: restore each control plane with mkube restore FILE --control-plane --advertise-address IP --initial-cluster .*\[UNSUPPORTED\]\n$/);
});

test.serial('mkube backup without a reachable store, or without a cluster, says so', async (t) => {
  const none = await mkube(['backup', '--data-dir', join(base, 'nothing-here'), '--output', join(base, 'none.tar')]);
  t.is(none.code, 1);
  t.regex(none.stderr, /^mkube backup: no cluster store found in .*nothing-here .*\[NO_CLUSTER\]\n$/);
  await cluster!.kill(0);
  const down = await mkube(['backup', '--data-dir', dataDir, '--output', join(base, 'down.tar')]);
  t.is(down.code, 1);
  t.regex(down.stderr, /^mkube backup: cannot take a snapshot of the store at https:\/\/127\.0\.0\.1:\d+ \(is the cluster running\?\): .*\[STORE_UNREACHABLE\]\n$/);
  t.throws(() => statSync(join(base, 'down.tar')));
});
