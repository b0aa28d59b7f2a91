// The API server under benchmark, in its own process: embedded mkube-store
// member, HTTPS on a free port and gRPC on a free port. Prints one JSON line
// {url, grpcPort, caCert, adminCert, adminKey} and runs until SIGTERM.
//
//   node --import tsx bench/apiserver/server.ts DATA_DIR
import { reportLoopStats } from './loop_stats.js';
import { pino } from 'pino';
import { startApiServer } from '../../packages/apiserver/src/server.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: server.ts DATA_DIR');
// BENCH_EMBEDDED_STORE_GRPC=1: reach the embedded member over its gRPC listener (the transport before in-process calls).
// BENCH_EMBEDDED_STORE_IN_THREAD=1: run the embedded member on the API server's event loop instead of a worker thread.
const s = await startApiServer({ dataDir, securePort: 0, grpcPort: 0, compactionIntervalMs: 0, logger: pino({ level: 'warn' }), embeddedStoreOverGrpc: process.env.BENCH_EMBEDDED_STORE_GRPC === '1', embeddedStoreInThread: process.env.BENCH_EMBEDDED_STORE_IN_THREAD === '1' });
process.stdout.write(`${JSON.stringify({ url: s.url, grpcPort: s.grpc!.port, caCert: s.pki.caCert, adminCert: s.pki.adminCert, adminKey: s.pki.adminKey })}\n`);
// Event-loop figures for the benchmark's report (stderr, once a second with BENCH_LOOP_STATS=1).
if (process.env.BENCH_LOOP_STATS === '1') reportLoopStats('server');
const stop = () => {
  void s.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
