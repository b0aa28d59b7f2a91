// Bad input against real mkube-store processes: corrupt, foreign and busy data
// directories, malformed peer messages, a full disk. Each gets a precise error
// and nothing acknowledged is lost.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RaftPeerClient } from '../../src/server/peer/wire.js';
import { RecordType } from '../../src/wal/record.js';
import { recordsOf } from '../wal/wal_helpers.js';
import { STORE_BIN, StoreCluster, freePort } from '@mkube/testing';

const run = promisify(execFile);

async function etcdctl(endpoint: string, args: string[]): Promise<string> {
  const { stdout } = await run('etcdctl', [`--endpoints=${endpoint}`, '--command-timeout=5s', ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
  return stdout;
}

/** Runs mkube-store expecting it to exit; returns its exit code and stderr. */
function runToExit(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [STORE_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`mkube-store did not exit within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

async function stoppedSingleMember(t: { teardown(fn: () => unknown): void }, keys = 20) {
  const c = await StoreCluster.start({ members: 1 });
  t.teardown(() => c.stop());
  for (let i = 0; i < keys; i++) await etcdctl(c.endpoints[0]!, ['put', `k${i}`, `v${i}`]);
  await c.kill(0, 'SIGTERM');
  return c;
}

test.serial('a corrupt Raft log entry stops start-up with DATA_CORRUPT', async (t) => {
  const c = await stoppedSingleMember(t);
  const m = c.members[0]!;
  // An entry record in the middle of the WAL's segment (more records follow it): one byte of its data flipped.
  const segment = join(m.dataDir, 'wal', readdirSync(join(m.dataDir, 'wal')).filter((n) => n.endsWith('.wal')).sort().at(-1)!);
  const entryRecords = recordsOf(segment).filter((r) => r.type === RecordType.Entry && r.end - r.offset > 60);
  const victim = entryRecords[Math.floor(entryRecords.length / 2)];
  t.truthy(victim, 'found an entry to corrupt');
  const bytes = readFileSync(segment);
  bytes[victim!.offset + 40] ^= 0xff;
  writeFileSync(segment, bytes);
  const r = await runToExit(c.args(m));
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`data directory is corrupt: WAL segment [0-9a-f]{16}-[0-9a-f]{16}\\.wal \\(.*\\) at offset ${victim!.offset}: crc mismatch.*\\[DATA_CORRUPT\\]`));
});

test.serial('a data directory of another cluster or another member is refused', async (t) => {
  const c = await stoppedSingleMember(t, 1);
  const m = c.members[0]!;
  const foreign = c.args(m).map((a) => (a === 'mkube-test' ? 'another-cluster' : a));
  const r1 = await runToExit(foreign);
  t.is(r1.code, 1);
  t.regex(r1.stderr, /belongs to cluster [0-9a-f]+ \(member [0-9a-f]+\), but --initial-cluster\/--initial-cluster-token describe cluster [0-9a-f]+.*refusing to start \[DATA_DIR_FOREIGN\]/);
  const renamed = c.args(m).map((a) => (a === 'm1' ? 'other' : a.replace('m1=', 'other=')));
  const r2 = await runToExit(renamed);
  t.is(r2.code, 1);
  t.regex(r2.stderr, /belongs to member "m1", not to "other"; refusing to start \[DATA_DIR_FOREIGN\]/);
  // The data is untouched: the right member starts and has it.
  c.restart(0);
  await c.waitHealthy();
  t.is(await etcdctl(c.endpoints[0]!, ['get', 'k0', '--print-value-only']), 'v0\n');
});

test.serial('a data directory in use by a running member is refused', async (t) => {
  const c = await StoreCluster.start({ members: 1 });
  t.teardown(() => c.stop());
  const m = c.members[0]!;
  const args = c.args(m).map((a) => a);
  // Same data dir, other ports.
  const clientIdx = args.indexOf('--listen-client-urls');
  args[clientIdx + 1] = `http://127.0.0.1:${await freePort()}`;
  args[args.indexOf('--listen-metrics-urls') + 1] = `http://127.0.0.1:${await freePort()}`;
  const r = await runToExit(args);
  t.is(r.code, 1);
  t.regex(r.stderr, /is in use by another mkube-store process \[DATA_DIR_IN_USE\]/);
  t.is((await c.health(m))?.health, 'true');
});

test.serial('malformed peer messages are refused and the member keeps serving', async (t) => {
  const c = await StoreCluster.start({ members: 1 });
  t.teardown(() => c.stop());
  const m = c.members[0]!;
  const peerAddr = m.peerURL.replace('http://', '');
  const client = new RaftPeerClient(peerAddr, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
  t.teardown(() => client.close());
  const send = (batch: object) =>
    new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.Send!((err: grpc.ServiceError | null) => resolve(err)) as grpc.ClientWritableStream<object>;
      call.write(batch);
      call.end();
    });
  const info = await new Promise<{ clusterId: number }>((resolve, reject) => client.ClusterInfo!({}, (e: Error | null, r: { clusterId: number }) => (e ? reject(e) : resolve(r))));
  const wrongCluster = await send({ clusterId: info.clusterId + 1, from: 5, messages: [] });
  t.is(wrongCluster?.code, grpc.status.FAILED_PRECONDITION);
  t.regex(wrongCluster?.details ?? '', /cluster ID mismatch/);
  const localType = await send({ clusterId: info.clusterId, from: 5, messages: [{ type: 0, from: 5, to: 1, term: 99 }] });
  t.is(localType?.code, grpc.status.INVALID_ARGUMENT);
  t.regex(localType?.details ?? '', /malformed peer message: message type 0 is not accepted from a peer/);
  const badSnap = await send({ clusterId: info.clusterId, from: 5, messages: [{ type: 9, from: 5, to: 1, term: 99 }] });
  t.is(badSnap?.code, grpc.status.INVALID_ARGUMENT);
  // Bytes that are not a protobuf message at all.
  const raw = new grpc.Client(peerAddr, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
  const garbage = await new Promise<grpc.ServiceError | null>((resolve) => {
    const call = raw.makeClientStreamRequest('/mkube.store.peer.v1.RaftPeer/Send', (b: Buffer) => b, (b: Buffer) => b, (err) => resolve(err));
    call.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
    call.end();
  });
  t.truthy(garbage, 'garbage is refused');
  t.not(garbage?.code, grpc.status.OK);
  // Still the same leader, term not bumped by the bogus term-99 messages, and serving.
  t.is(await etcdctl(c.endpoints[0]!, ['put', 'after', 'ok']), 'OK\n');
  const status = JSON.parse(await etcdctl(c.endpoints[0]!, ['endpoint', 'status', '-w', 'json'])) as Array<{ Status: { raftTerm: number; leader: number } }>;
  t.true(status[0]!.Status.raftTerm > 0 && status[0]!.Status.raftTerm < 99, `term ${status[0]!.Status.raftTerm}`);
  t.regex(await c.metrics(m), /mkube_store_peer_malformed_messages_total [1-9]/);
});

test.serial('a full disk fails writes with an error and loses nothing acknowledged', async (t) => {
  if (process.getuid?.() !== 0) {
    t.fail('this test mounts a small tmpfs and must run as root');
    return;
  }
  const mnt = mkdtempSync(join(tmpdir(), 'mkube-fulldisk-'));
  await run('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt]);
  t.teardown(async () => {
    await run('umount', ['-l', mnt]).catch(() => undefined);
    rmSync(mnt, { recursive: true, force: true });
  });
  const dataDir = join(mnt, 'member');
  const [client, peer] = [await freePort(), await freePort()];
  // WAL segments of 1 MiB: the default 64 MiB (preallocated) would not fit the 6 MiB disk at all.
  const args = ['--name', 'full', '--data-dir', dataDir, '--listen-client-urls', `http://127.0.0.1:${client}`, '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--log-level', 'error', '--wal-segment-bytes', String(1 << 20)];
  const p = spawn(process.execPath, [STORE_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  t.teardown(() => p.kill('SIGKILL'));
  const ep = `127.0.0.1:${client}`;
  for (let i = 0; i < 50; i++) {
    try {
      await etcdctl(ep, ['put', 'probe', 'x']);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const acked: string[] = [];
  let failure = '';
  const value = 'x'.repeat(100_000);
  for (let i = 0; i < 200 && !failure; i++) {
    try {
      await etcdctl(ep, ['put', `big${i}`, value]);
      acked.push(`big${i}`);
    } catch (err) {
      failure = (err as { stderr?: string }).stderr ?? String(err);
    }
  }
  t.truthy(failure, 'writes fail once the disk is full');
  t.true(acked.length > 0);
  const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 5000))]);
  t.log(`after ${acked.length} writes: ${failure.trim().split('\n').pop()}; member ${code === 'running' ? 'still running' : `exited ${code}`}`);
  if (code === 'running') p.kill('SIGKILL');
  else t.regex(stderr, /stopped on an unrecoverable error: .*(space|IO error)/i);
  await exited;
  // Move the data to a disk with room: everything acknowledged is there.
  const moved = mkdtempSync(join(tmpdir(), 'mkube-moved-'));
  t.teardown(() => rmSync(moved, { recursive: true, force: true }));
  cpSync(dataDir, join(moved, 'member'), { recursive: true });
  const args2 = args.map((a) => (a === dataDir ? join(moved, 'member') : a));
  const p2 = spawn(process.execPath, [STORE_BIN, ...args2], { stdio: ['ignore', 'ignore', 'inherit'] });
  t.teardown(() => p2.kill('SIGKILL'));
  let count = '';
  for (let i = 0; i < 100; i++) {
    try {
      count = await etcdctl(ep, ['get', 'big', '--prefix', '--keys-only']);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const present = count.split('\n').filter((l) => l.startsWith('big'));
  for (const k of acked) t.true(present.includes(k), `${k} was acknowledged and must be present`);
});
