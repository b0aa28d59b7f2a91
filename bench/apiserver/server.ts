// The API server under benchmark, in its own process: embedded mkube-store
// member, HTTPS on a free port and gRPC on a free port. Prints one JSON line
// {url, grpcPort, caCert, adminCert, adminKey} and runs until SIGTERM.
//
//   node --import tsx bench/apiserver/server.ts DATA_DIR
import { pino } from 'pino';
import { startApiServer } from '../../packages/apiserver/src/server.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: server.ts DATA_DIR');
const s = await startApiServer({ dataDir, securePort: 0, grpcPort: 0, compactionIntervalMs: 0, logger: pino({ level: 'warn' }) });
process.stdout.write(`${JSON.stringify({ url: s.url, grpcPort: s.grpc!.port, caCert: s.pki.caCert, adminCert: s.pki.adminCert, adminKey: s.pki.adminKey })}\n`);
const stop = () => {
  void s.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
