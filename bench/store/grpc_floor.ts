// What grpc-js itself costs here: a server whose Put handler does nothing but
// answer (in a child process), driven like the store benchmark (256 in flight over
// 8 connections), and one call at a time. Prints the CPU per call of the server and
// of the client, and the idle round trip — the floor under any Node.js member's
// client-facing gRPC path on this machine. Not a test: it measures.
//
//   npx tsx bench/store/grpc_floor.ts            # BENCH_SECONDS=5
//   GRPC_FLOOR_SERVER=http2 npx tsx bench/store/grpc_floor.ts   # the store's own node:http2 server (server/grpc)
//   GRPC_FLOOR_SERVER_ARGS='--cpu-prof --cpu-prof-dir=/tmp/p' ...  # node flags of the server process
import * as grpc from '@grpc/grpc-js';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { loadEtcdProto } from '@mkube/store';
import { Http2GrpcServer } from '../../packages/store/src/server/grpc/server.js';
import { freePort } from '@mkube/testing';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
type Cb = (err: grpc.ServiceError | null, res: unknown) => void;
interface KV extends grpc.Client {
  Put(req: object, cb: Cb): void;
}

function cpuMs(pid: number): number {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

if (process.env.GRPC_FLOOR_SERVER_PORT) {
  // The child: an etcd KV service whose Put answers at once with a header.
  const proto = loadEtcdProto().etcdserverpb;
  const impl = {
    Put: (call: grpc.ServerUnaryCall<{ key: Buffer }, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { header: { clusterId: 1, memberId: 2, revision: call.request.key.length, raftTerm: 2 } }),
  };
  const def = (proto.KV as unknown as { service: grpc.ServiceDefinition }).service;
  const port = Number(process.env.GRPC_FLOOR_SERVER_PORT);
  process.on('message', (m) => m === 'stop' && process.exit(0)); // a normal exit (a CPU profile is written)
  if (process.env.GRPC_FLOOR_SERVER === 'http2') {
    const server = new Http2GrpcServer({ maxReceiveMessageBytes: 4 << 20, maxSendMessageBytes: 2 ** 31 - 1 });
    server.addService(def, impl);
    await server.bind({ scheme: 'http', host: '127.0.0.1', port, address: `127.0.0.1:${port}` });
    process.send!('ready');
  } else {
    const server = new grpc.Server({ 'grpc.enable_channelz': 0 });
    server.addService(def, impl);
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
      if (err) throw err;
      process.send!('ready');
    });
  }
} else {
  const port = await freePort();
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, GRPC_FLOOR_SERVER_PORT: String(port) }, execArgv: ['--import', 'tsx', ...(process.env.GRPC_FLOOR_SERVER_ARGS ?? '').split(' ').filter(Boolean)] });
  await new Promise((r) => child.once('message', r));
  const proto = loadEtcdProto().etcdserverpb;
  const KVC = proto.KV as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => KV;
  const kvs = Array.from({ length: 8 }, (_, i) => new KVC(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'mkube.bench.channel': i }));
  const value = Buffer.alloc(256, 'v');
  const put = (w: number) => new Promise((resolve, reject) => kvs[w % 8]!.Put({ key: Buffer.from(`bench/${w}`), value }, (e, r) => (e ? reject(e) : resolve(r))));
  await Promise.all(Array.from({ length: 64 }, (_, w) => put(w)));
  const lat: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const t = performance.now();
    await put(0);
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  const s0 = cpuMs(child.pid!);
  const c0 = cpuMs(process.pid);
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: 256 }, async (_, w) => {
      while (performance.now() < end) {
        await put(w);
        n++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const server = ((cpuMs(child.pid!) - s0) / n) * 1000;
  const client = ((cpuMs(process.pid) - c0) / n) * 1000;
  console.log(`${process.env.GRPC_FLOOR_SERVER === 'http2' ? 'server/grpc (node:http2)' : 'grpc-js'} server, no-op Put handler (load ${loadavg()[0]!.toFixed(1)}): one call at a time, round trip p50 ${lat[500]!.toFixed(2)} ms, p99 ${lat[990]!.toFixed(2)} ms`);
  console.log(`256 in flight: ${(n / elapsed).toFixed(0)} calls/s; CPU per call: server ${server.toFixed(0)} µs, client ${client.toFixed(0)} µs`);
  for (const c of kvs) c.close();
  child.send('stop');
  await new Promise((r) => child.once('exit', r));
  process.exit(0);
}
