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
const stop = () => {
  void s.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
