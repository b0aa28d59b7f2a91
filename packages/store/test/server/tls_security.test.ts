// The store on the network (issue 10, hole 8), against real mkube-store processes: an https:// URL
// without certificates is refused at start-up with etcd's message; with --client-cert-auth a client
// needs a certificate of the trusted CA (real gRPC and real etcdctl); with --peer-client-cert-auth
// every peer call (ClusterInfo included) needs a peer certificate; a snapshot stream from a member
// that is not the leader, or larger than --max-snapshot-bytes, is refused, its temp file removed,
// and the member keeps serving.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EtcdClient } from '../../src/client/index.js';
import { RaftPeerClient, type SnapshotChunk, type WireMessage } from '../../src/server/peer/wire.js';
import { STORE_BIN, StoreCluster, freePort } from '@mkube/testing';

const run = promisify(execFile);

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

/** Two CAs (the trusted one and a stranger), a member certificate and client certificates of both. */
async function makeCerts(dir: string): Promise<(n: string) => string> {
  for (const ca of ['ca', 'other-ca']) {
    await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '1', '-subj', `/CN=${ca}`], dir);
  }
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  for (const [name, ca] of [['member', 'ca'], ['client', 'ca'], ['intruder', 'other-ca']]) {
    await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', 'san.cnf'], dir);
  }
  return (n: string) => join(dir, n);
}

function tlsArgs(f: (n: string) => string): string[] {
  return [
    '--cert-file', f('member.crt'), '--key-file', f('member.key'), '--trusted-ca-file', f('ca.crt'), '--client-cert-auth',
    '--peer-cert-file', f('member.crt'), '--peer-key-file', f('member.key'), '--peer-trusted-ca-file', f('ca.crt'), '--peer-client-cert-auth',
  ];
}

/** Runs mkube-store to its exit (expected at once: a configuration error). */
function storeExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [STORE_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

async function etcdctl(endpoint: string, args: string[], tls: string[]): Promise<string> {
  const { stdout } = await run('etcdctl', [`--endpoints=${endpoint}`, '--dial-timeout=2s', '--command-timeout=4s', ...tls, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
  return stdout;
}

function errorOf(p: Promise<unknown>): Promise<Error & { code?: number }> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: Error & { code?: number }) => e,
  );
}

type PeerClient = grpc.Client & Record<string, Function>;

function peerClient(peerURL: string, creds: grpc.ChannelCredentials): PeerClient {
  return new RaftPeerClient(peerURL.replace(/^https:\/\//, ''), creds) as PeerClient;
}

function clusterInfo(c: PeerClient): Promise<{ clusterId: number; members: unknown[] }> {
  return new Promise((resolve, reject) => {
    c.ClusterInfo!({}, { deadline: Date.now() + 4000 }, (err: Error | null, res: { clusterId: number; members: unknown[] }) => (err ? reject(err) : resolve(res)));
  });
}

function snapMessage(from: number, to: number, term: number, index: number): WireMessage {
  return {
    type: 9, // Snap in the wire's type table
    from, to, term, logTerm: term, index: 0, entries: [], commit: 0,
    snapshot: { metadata: { index, term, confState: { voters: [from, to], learners: [] } }, data: Buffer.alloc(0) },
    reject: false, rejectHint: 0, context: Buffer.alloc(0),
  };
}

/** Streams a snapshot: the Snap message, then `bytes` of data in 32 KiB chunks. Resolves with the call's status. */
function sendSnapshot(c: PeerClient, clusterId: number, m: WireMessage, bytes: number): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    const call = c.SendSnapshot!((err: grpc.ServiceError | null) => resolve(err)) as grpc.ClientWritableStream<SnapshotChunk>;
    call.on('error', () => undefined);
    call.write({ clusterId, message: m, data: Buffer.alloc(0), last: false });
    const chunk = 32 * 1024;
    for (let sent = 0; sent < bytes; sent += chunk) {
      call.write({ clusterId, message: null, data: Buffer.alloc(Math.min(chunk, bytes - sent), 7), last: sent + chunk >= bytes });
    }
    call.end();
  });
}

test('an https:// client or peer URL without certificates is refused at start-up with etcd\'s message', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-tls-sec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [c, p] = [await freePort(), await freePort()];
  const client = await storeExit(['--data-dir', join(dir, 'a'), '--listen-client-urls', `https://127.0.0.1:${c}`, '--listen-peer-urls', `http://127.0.0.1:${p}`]);
  t.is(client.code, 2);
  t.true(client.stderr.includes(`TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:${c} with HTTPS scheme`), client.stderr);
  const peer = await storeExit(['--data-dir', join(dir, 'b'), '--listen-client-urls', `http://127.0.0.1:${c}`, '--listen-peer-urls', `https://127.0.0.1:${p}`]);
  t.is(peer.code, 2);
  t.true(peer.stderr.includes(`cannot listen on TLS for 127.0.0.1:${p}: KeyFile and CertFile are not presented`), peer.stderr);
  // Nothing was created or served.
  t.deepEqual(readdirSync(dir), []);
});

test.serial('client and peer certificate authentication, snapshot streams refused unless from the leader and within the cap', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-tls-sec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = await makeCerts(dir);
  const cluster = await StoreCluster.start({ members: 3, scheme: 'https', extraArgs: [...tlsArgs(f), '--max-snapshot-bytes', String(64 * 1024)] });
  t.teardown(() => cluster.stop());
  const ep = cluster.members.map((m) => m.clientURL);

  // Real gRPC: a client certificate of the trusted CA works; none, or one of another CA, is refused.
  const good = new EtcdClient({ endpoints: ep, tls: { ca: f('ca.crt'), cert: f('client.crt'), key: f('client.key') }, dialTimeoutMs: 3000 });
  t.teardown(() => good.close());
  await good.put('/registry/secure', 'yes');
  t.is((await good.get('/registry/secure')).kvs[0]?.value.toString(), 'yes');
  for (const tls of [{ ca: f('ca.crt') }, { ca: f('ca.crt'), cert: f('intruder.crt'), key: f('intruder.key') }]) {
    const bad = new EtcdClient({ endpoints: [ep[0]!], tls, dialTimeoutMs: 1500, requestTimeoutMs: 3000 });
    const err = await errorOf(bad.put('/registry/evil', 'x'));
    bad.close();
    t.is(err.code, grpc.status.UNAVAILABLE, `refused at the TLS handshake: ${err.message}`);
  }
  // A plaintext client to the https listener gets nothing either.
  const plain = new EtcdClient({ endpoints: [`http://${cluster.endpoints[0]}`], dialTimeoutMs: 1500 });
  t.is((await errorOf(plain.get('/registry/secure'))).code, grpc.status.UNAVAILABLE);
  plain.close();

  // Real etcdctl.
  const withCert = ['--cacert', f('ca.crt'), '--cert', f('client.crt'), '--key', f('client.key')];
  t.is(await etcdctl(ep[1]!, ['get', '/registry/secure', '--print-value-only'], withCert), 'yes\n');
  for (const tls of [['--cacert', f('ca.crt')], ['--cacert', f('ca.crt'), '--cert', f('intruder.crt'), '--key', f('intruder.key')]]) {
    const out = await etcdctl(ep[1]!, ['put', '/registry/evil', 'x'], tls).then(() => 'succeeded', (e: { stderr?: string }) => e.stderr ?? 'failed');
    t.not(out, 'succeeded');
  }
  t.is((await good.get('/registry/evil')).kvs.length, 0, 'no refused write landed');

  // Peer listener: ClusterInfo (and every peer call) needs a peer certificate of the trusted CA.
  const peerURL = cluster.members[0]!.peerURL;
  const anon = peerClient(peerURL, grpc.credentials.createSsl(readFileSync(f('ca.crt'))));
  const stranger = peerClient(peerURL, grpc.credentials.createSsl(readFileSync(f('ca.crt')), readFileSync(f('intruder.key')), readFileSync(f('intruder.crt'))));
  const insecure = peerClient(peerURL.replace('https://', 'http://'), grpc.credentials.createInsecure());
  const trusted = peerClient(peerURL, grpc.credentials.createSsl(readFileSync(f('ca.crt')), readFileSync(f('member.key')), readFileSync(f('member.crt'))));
  t.teardown(() => [anon, stranger, insecure, trusted].forEach((c) => c.close()));
  for (const [name, c] of [['no certificate', anon], ['another CA', stranger], ['plaintext', insecure]] as const) {
    const err = await errorOf(clusterInfo(c));
    t.true([grpc.status.UNAVAILABLE, grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED].includes(err.code!), `${name}: ${err.message}`);
    t.false('members' in err, name);
  }
  const info = await clusterInfo(trusted);
  t.is(info.members.length, 3, 'a peer with a trusted certificate is served');

  // Snapshot streams to a follower (with a trusted peer certificate, as a compromised peer would have).
  const leaderIdx = await cluster.leaderIndex();
  const followerIdx = (leaderIdx + 1) % 3;
  const otherIdx = (leaderIdx + 2) % 3;
  const st = await good.status(cluster.endpoints[followerIdx]!);
  const members = (await good.memberList()).members;
  const idOf = (i: number) => Number(members.find((m) => m.peerURLs.includes(cluster.members[i]!.peerURL))!.id);
  const [leaderId, followerId, otherId] = [idOf(leaderIdx), idOf(followerIdx), idOf(otherIdx)];
  t.is(String(st.leader), String(leaderId));
  const toFollower = peerClient(cluster.members[followerIdx]!.peerURL, grpc.credentials.createSsl(readFileSync(f('ca.crt')), readFileSync(f('member.key')), readFileSync(f('member.crt'))));
  t.teardown(() => toFollower.close());
  const recvDir = join(cluster.members[followerIdx]!.dataDir, 'snap-recv');

  // From a member that is not the leader: refused before any data is taken.
  const notLeader = await sendSnapshot(toFollower, info.clusterId, snapMessage(otherId, followerId, st.raftTerm, st.raftIndex + 1000), 16 * 1024);
  t.is(notLeader?.code, grpc.status.FAILED_PRECONDITION, notLeader?.message);
  t.regex(notLeader?.details ?? '', /snapshot from member [0-9a-f]+ at term \d+ refused: this member's leader is [0-9a-f]+/);
  // Claiming to be the leader at the current term, but larger than --max-snapshot-bytes (64 KiB).
  const tooBig = await sendSnapshot(toFollower, info.clusterId, snapMessage(leaderId, followerId, st.raftTerm, st.raftIndex + 1000), 256 * 1024);
  t.is(tooBig?.code, grpc.status.RESOURCE_EXHAUSTED, tooBig?.message);
  t.regex(tooBig?.details ?? '', /snapshot exceeds --max-snapshot-bytes \(65536 bytes/);
  // Within the cap but not a key-space snapshot (no valid trailer): refused before Raft sees it.
  const garbage = await sendSnapshot(toFollower, info.clusterId, snapMessage(leaderId, followerId, st.raftTerm, st.raftIndex + 1000), 40 * 1024);
  t.is(garbage?.code, grpc.status.DATA_LOSS, garbage?.message);
  // A Snap message on the plain Raft stream (without its data) is refused as malformed.
  const viaSend = await new Promise<grpc.ServiceError | null>((resolve) => {
    const call = toFollower.Send!((err: grpc.ServiceError | null) => resolve(err)) as grpc.ClientWritableStream<unknown>;
    call.on('error', () => undefined);
    call.write({ clusterId: info.clusterId, from: leaderId, messages: [snapMessage(leaderId, followerId, st.raftTerm, st.raftIndex + 1000)] });
    call.end();
  });
  t.is(viaSend?.code, grpc.status.INVALID_ARGUMENT, viaSend?.message);

  // Nothing was kept, the follower did not move, and it keeps serving with the same leader.
  t.deepEqual(readdirSync(recvDir), []);
  const fromFollower = new EtcdClient({ endpoints: [ep[followerIdx]!], tls: { ca: f('ca.crt'), cert: f('client.crt'), key: f('client.key') } });
  t.teardown(() => fromFollower.close());
  await fromFollower.put('/registry/after', 'ok');
  t.is((await fromFollower.get('/registry/secure')).kvs[0]?.value.toString(), 'yes');
  const after = await good.status(cluster.endpoints[followerIdx]!);
  t.is(String(after.leader), String(leaderId));
  t.is(after.raftTerm, st.raftTerm, 'no election was caused');
  t.is((await cluster.health(cluster.members[followerIdx]!))?.health, 'true');
});
