// The API server under benchmark, in its own process: embedded mkube-store
// member, HTTPS on a free port and gRPC on a free port. Prints one JSON line
// {url, grpcPort, caCert, adminCert, adminKey} and runs until SIGTERM.
//
//   node --import tsx bench/apiserver/server.ts DATA_DIR
import { pino } from 'pino';
import { startApiServer } from '../../packages/apiserver/src/server.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: server.ts DATA_DIR');
// BENCH_EMBEDDED_STORE_GRPC=1: reach the embedded member over its gRPC listener (the transport before in-process calls).
const s = await startApiServer({ dataDir, securePort: 0, grpcPort: 0, compactionIntervalMs: 0, logger: pino({ level: 'warn' }), embeddedStoreOverGrpc: process.env.BENCH_EMBEDDED_STORE_GRPC === '1' });
process.stdout.write(`${JSON.stringify({ url: s.url, grpcPort: s.grpc!.port, caCert: s.pki.caCert, adminCert: s.pki.adminCert, adminKey: s.pki.adminKey })}\n`);
// Event-loop figures for the benchmark's report (stderr, once a second with BENCH_LOOP_STATS=1).
if (process.env.BENCH_LOOP_STATS === '1') {
  const { monitorEventLoopDelay, performance } = await import('node:perf_hooks');
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  let last = performance.eventLoopUtilization();
  setInterval(() => {
    const now = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(now, last);
    last = now;
    process.stderr.write(`loop: utilization ${(elu.utilization * 100).toFixed(0)}%, delay p50 ${(h.percentile(50) / 1e6).toFixed(1)} ms p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms max ${(h.max / 1e6).toFixed(1)} ms\n`);
    h.reset();
  }, 1000).unref();
}
const stop = () => {
  void s.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
