// The `kubernetes` Service's endpoints with three API servers on one store
// (--endpoint-reconciler-type lease, the default): three mkube-apiserver
// processes, each bound to and advertising its own address (10.213.214.11-13
// added to lo: loopback-range addresses are not valid endpoints),
// sharing one PKI whose serving certificate names all three. Endpoints and
// EndpointSlice default/kubernetes list all three (sorted, port the secure
// port), each with a /registry/masterleases/<IP> key on a 15 s lease; a
// SIGKILLed server stays listed until its lease expires and is dropped at the
// next reconcile after that; a SIGTERMed one is dropped at once.
import test from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT, startEtcdCluster, waitFor } from '@mkube/testing';
import { ensurePki } from '../src/auth/pki.js';

const BIN = join(REPO_ROOT, 'packages', 'apiserver', 'dist', 'src', 'bin', 'mkube-apiserver.js');
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const IPS = ['10.213.214.11', '10.213.214.12', '10.213.214.13'];

function get(url: string, pki: { caCert: string; adminCert: string; adminKey: string }, path: string): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON replies
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { ca: pki.caCert, cert: pki.adminCert, key: pki.adminKey, timeout: 3000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('three API servers: the kubernetes endpoints follow their leases (SIGKILL: after the TTL; SIGTERM: at once)', async (t) => {
  t.timeout(180_000);
  const dir = await mkdtemp(join(tmpdir(), 'mkube-endpoint-lease-'));
  const etcd = await startEtcdCluster({ members: 1 });
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await new Promise((r) => c.once('exit', r));
      }
    }
    await etcd.stop();
    for (const ip of IPS) execFileSync('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo'], { stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  });
  // Host addresses of the lab range on lo (this kernel has no dummy links): real, non-loopback IPs to bind and advertise.
  for (const ip of IPS) execFileSync('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo']);

  const dataDir = join(dir, 'data');
  const pki = ensurePki(dataDir, { ips: ['127.0.0.1', ...IPS, '10.213.200.1'], dns: ['localhost', 'kubernetes', 'kubernetes.default'] });
  const port = await freePort();
  const logs: string[][] = [];
  const urls = IPS.map((ip) => `https://${ip}:${port}`);
  for (const [i, ip] of IPS.entries()) {
    const log: string[] = [];
    logs.push(log);
    const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, '--secure-port', String(port), '--grpc-port=-1', '--bind-address', ip, '--advertise-address', ip, '--etcd-servers', etcd.endpoints.join(','), '--compaction-interval', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c: Buffer) => log.push(c.toString()));
    child.stderr!.on('data', (c: Buffer) => log.push(c.toString()));
    children.push(child);
    await waitFor(`API server ${ip} ready`, 60_000, async () => {
      if (child.exitCode !== null) throw new Error(`exited: ${log.join('')}`);
      return (await get(urls[i]!, pki, '/readyz').catch(() => ({ status: 0 }))).status === 200;
    }, 200);
  }

  const endpointIps = async (via: string): Promise<string[]> => {
    const ep = await get(via, pki, '/api/v1/namespaces/default/endpoints/kubernetes');
    return (ep.body.subsets ?? []).flatMap((s: { addresses?: { ip: string }[] }) => (s.addresses ?? []).map((a) => a.ip));
  };
  const sliceIps = async (via: string): Promise<string[]> => {
    const s = await get(via, pki, '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes');
    return (s.body.endpoints ?? []).map((e: { addresses: string[] }) => e.addresses[0]);
  };
  const same = (a: string[], b: string[]) => JSON.stringify(a) === JSON.stringify(b);

  // All three listed (each reconciles at start); the last to start wrote the full list.
  await waitFor('all three endpoints', 15_000, async () => same(await endpointIps(urls[0]!), IPS) && same(await sliceIps(urls[0]!), IPS));
  const ep = (await get(urls[0]!, pki, '/api/v1/namespaces/default/endpoints/kubernetes')).body;
  t.deepEqual(ep.subsets[0].ports, [{ name: 'https', port, protocol: 'TCP' }]);
  const slice = (await get(urls[0]!, pki, '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes')).body;
  t.is(slice.addressType, 'IPv4');
  t.is(slice.metadata.labels['kubernetes.io/service-name'], 'kubernetes');
  t.deepEqual(slice.ports, [{ name: 'https', port, protocol: 'TCP' }]);
  const keys = execFileSync('etcdctl', ['--endpoints', etcd.endpoints.join(','), 'get', '--prefix', '--keys-only', '/registry/masterleases/'], { env: { ...process.env, ETCDCTL_API: '3' } }).toString().split('\n').filter(Boolean);
  t.deepEqual(keys, IPS.map((ip) => `/registry/masterleases/${ip}`));
  // The lease id is an int64: read it from the JSON text (a JS number would round it).
  const kvJson = execFileSync('etcdctl', ['--endpoints', etcd.endpoints[0]!, 'get', `/registry/masterleases/${IPS[0]}`, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' } }).toString();
  const leaseId = /"lease":(\d+)/.exec(kvJson)![1]!;
  const ttl = execFileSync('etcdctl', ['--endpoints', etcd.endpoints[0]!, 'lease', 'timetolive', BigInt(leaseId).toString(16)], { env: { ...process.env, ETCDCTL_API: '3' } }).toString();
  t.regex(ttl, /granted with TTL\(15s\)/);

  // kubectl sees the same.
  const kc = join(dataDir, 'admin.kubeconfig');
  const kubectlEp = execFileSync(KUBECTL, ['--kubeconfig', kc, '--server', urls[0]!, 'get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[0].addresses[*].ip}']).toString();
  t.is(kubectlEp, IPS.join(' '));

  // SIGKILL the third: its key lives on until the lease's TTL, then the next reconcile drops it.
  const killedAt = Date.now();
  children[2]!.kill('SIGKILL');
  await new Promise((r) => children[2]!.once('exit', r));
  t.deepEqual(await endpointIps(urls[0]!), IPS, 'still listed right after the kill (its lease is alive)');
  await waitFor('the killed API server dropped', 40_000, async () => same(await endpointIps(urls[0]!), IPS.slice(0, 2)) && same(await sliceIps(urls[0]!), IPS.slice(0, 2)), 200);
  const killDrop = Date.now() - killedAt;
  t.log(`SIGKILL: dropped from the endpoints ${killDrop} ms after the kill (TTL 15 s + up to one 10 s reconcile)`);
  t.true(killDrop >= 10_000, `dropped after ${killDrop} ms: before its lease could have expired`);

  // SIGTERM the second: it removes its key and reconciles before exiting.
  const stoppedAt = Date.now();
  children[1]!.kill('SIGTERM');
  await new Promise((r) => children[1]!.once('exit', r));
  const exitMs = Date.now() - stoppedAt;
  t.deepEqual(await endpointIps(urls[0]!), IPS.slice(0, 1), 'dropped by the time it exited');
  t.deepEqual(await sliceIps(urls[0]!), IPS.slice(0, 1));
  t.log(`SIGTERM: gone from the endpoints when it exited, ${exitMs} ms after the signal`);
  t.deepEqual(execFileSync('etcdctl', ['--endpoints', etcd.endpoints[0]!, 'get', '--prefix', '--keys-only', '/registry/masterleases/'], { env: { ...process.env, ETCDCTL_API: '3' } }).toString().split('\n').filter(Boolean), [`/registry/masterleases/${IPS[0]}`]);
});
