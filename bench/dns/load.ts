// A small dnsperf-like load generator: UDP queries from a pool of names, OUTSTANDING in flight at all
// times (a new one sent as each answer arrives, a lost one given up after 1 s), for SECONDS after a
// warm-up; reports queries per second, answers by rcode and latency percentiles. One socket, query ids
// matched to send times. Usage (a child of run.ts): node --import tsx load.ts PORT
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import { queryNames, services } from './zone.js';

const port = Number(process.argv[2]);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const OUTSTANDING = Number(process.env.BENCH_OUTSTANDING ?? 32);
const names = queryNames(services(Number(process.env.BENCH_SERVICES ?? 1000)));
// Pre-encoded queries; the id (bytes 0-1) is rewritten per send.
const packets = names.map((name) => dnsPacket.encode({ type: 'query', id: 0, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }));

const sock = createSocket('udp4');
const inflight = new Map<number, bigint>();
let nextId = 0;
let measuring = false;
let stopped = false;
const latencies: number[] = [];
const rcodes = new Map<number, number>();
let lost = 0;
let i = 0;

function send(): void {
  if (stopped) return;
  let id = (nextId = (nextId + 1) & 0xffff);
  while (inflight.has(id)) id = nextId = (nextId + 1) & 0xffff;
  const buf = Buffer.from(packets[i++ % packets.length]!);
  buf.writeUInt16BE(id, 0);
  inflight.set(id, process.hrtime.bigint());
  sock.send(buf, port, '127.0.0.1');
}

sock.on('message', (msg) => {
  const id = msg.readUInt16BE(0);
  const sent = inflight.get(id);
  if (sent === undefined) return;
  inflight.delete(id);
  if (measuring) {
    latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
    const rc = msg[3]! & 0xf;
    rcodes.set(rc, (rcodes.get(rc) ?? 0) + 1);
  }
  send();
});

// Queries unanswered for 1 s are lost: replaced so the window stays full.
const reaper = setInterval(() => {
  const limit = process.hrtime.bigint() - 1_000_000_000n;
  for (const [id, t] of inflight) {
    if (t < limit) {
      inflight.delete(id);
      if (measuring) lost++;
      send();
    }
  }
}, 200);

sock.bind(0, '127.0.0.1', () => {
  for (let k = 0; k < OUTSTANDING; k++) send();
  setTimeout(() => {
    measuring = true;
    const started = process.hrtime.bigint();
    setTimeout(() => {
      measuring = false;
      stopped = true;
      const secs = Number(process.hrtime.bigint() - started) / 1e9;
      clearInterval(reaper);
      sock.close();
      latencies.sort((a, b) => a - b);
      const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
      process.stdout.write(`${JSON.stringify({ qps: latencies.length / secs, answered: latencies.length, lost, rcodes: Object.fromEntries(rcodes), p50: pct(50), p99: pct(99), max: latencies[latencies.length - 1] ?? NaN })}\n`);
    }, SECONDS * 1000);
  }, WARMUP * 1000);
});
