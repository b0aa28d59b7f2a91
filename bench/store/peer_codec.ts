// CPU of the peer MessageBatch codec: protobufjs (proto-loader's serializer/deserializer of
// raft_peer.proto) against the hand-written one (server/peer/batch_codec.ts), for an append
// batch of one message with N entries of 300 bytes and for a heartbeat response. Not a test.
//
//   npx tsx bench/store/peer_codec.ts            # BENCH_ITER=20000
import { loadavg } from 'node:os';
import { decodeBatch, encodeBatch } from '../../packages/store/src/server/peer/batch_codec.js';
import { RaftPeerClient, type MessageBatch, type WireMessage } from '../../packages/store/src/server/peer/wire.js';

const ITER = Number(process.env.BENCH_ITER ?? 20000);
const pb = RaftPeerClient.service['Send']!;

function msg(entries: number): WireMessage {
  return {
    type: entries > 0 ? 3 : 12, from: 0x1234567890ab, to: 0x0badc0ffee12, term: 7, logTerm: 7, index: 100_000,
    entries: Array.from({ length: entries }, (_, i) => ({ term: 7, index: 100_001 + i, type: 0, data: Buffer.alloc(300, i) })),
    commit: 99_999, snapshot: null, reject: false, rejectHint: 0, context: Buffer.alloc(0),
  };
}

function cpuPerOp(fn: () => void): number {
  for (let i = 0; i < ITER / 10; i++) fn();
  const t0 = process.cpuUsage();
  for (let i = 0; i < ITER; i++) fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / ITER;
}

console.log(`${ITER} iterations each, load ${loadavg()[0]!.toFixed(1)}; CPU µs per batch (encode / decode)`);
for (const entries of [0, 1, 16]) {
  const b: MessageBatch = { clusterId: 0x51aa7e, from: 0x1234567890ab, messages: [msg(entries)] };
  const bytes = encodeBatch(b);
  const pe = cpuPerOp(() => pb.requestSerialize(b));
  const pd = cpuPerOp(() => pb.requestDeserialize(bytes));
  const oe = cpuPerOp(() => encodeBatch(b, 5));
  const od = cpuPerOp(() => decodeBatch(bytes));
  console.log(`${String(entries).padStart(2)} entries (${bytes.length} B): protobufjs ${pe.toFixed(2)} / ${pd.toFixed(2)}, hand-written ${oe.toFixed(2)} / ${od.toFixed(2)}`);
}
