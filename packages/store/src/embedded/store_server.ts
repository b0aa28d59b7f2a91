// Runs one member with its listeners: client gRPC (etcd v3 API), peer gRPC, and HTTP /health + /metrics
// (etcd's embed.StartEtcd), plus in-process client connections to it. It sits above
// both server/ (the member) and client/ (InProcessConnection), so it lives here, not in server/.
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { pino, type Logger } from 'pino';
import { InProcessConnection } from '../client/in_process_connection.js';
import { endpointAddress } from '../client/connection.js';
import type { MemberConfig, TLSFiles } from '../server/config.js';
import { startHttpEndpoints } from '../server/http_endpoints.js';
import { Member } from '../server/member.js';
import { StoreMetrics } from '../server/metrics.js';
import { openMvccKeySpace } from '../server/mvcc_key_space.js';
import { addPeerService } from '../server/peer/peer_service.js';
import { addEtcdServices } from '../server/services/index.js';
import { Http2GrpcServer, type GrpcServerTLS } from '../server/grpc/server.js';
import { parseURL, type ListenURL } from '../server/urls.js';
import { CallDispatcher } from '../transport/call_dispatcher.js';
import type { ServerFrame } from '../transport/call_frames.js';

export interface RunningStore {
  member: Member;
  metrics: StoreMetrics;
  /** Resolves when the member stopped on an unrecoverable error. */
  failed: Promise<Error>;
  /**
   * A connection to this member that calls its etcd services in-process (no
   * socket, no HTTP/2), for an EtcdClient in the same process.
   */
  connectInProcess(): InProcessConnection;
  /** Serves one frame connection whose answers go to `send` (a worker's MessagePort). */
  serveFrames(send: (f: ServerFrame) => void): CallDispatcher;
  stop(graceful?: boolean): Promise<void>;
}

/** As etcd: the URL's scheme decides; https:// serves TLS (config.ts refuses one without certificates), http:// plaintext. */
function serverCredentials(url: ListenURL, tls: TLSFiles | undefined): grpc.ServerCredentials {
  if (url.scheme !== 'https' || !tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tls.trustedCAFile ? readFileSync(tls.trustedCAFile) : null,
    [{ cert_chain: readFileSync(tls.certFile), private_key: readFileSync(tls.keyFile) }],
    tls.clientCertAuth,
  );
}

function peerClientCredentials(tls: TLSFiles | undefined): grpc.ChannelCredentials | undefined {
  if (!tls) return undefined;
  return grpc.credentials.createSsl(
    tls.trustedCAFile ? readFileSync(tls.trustedCAFile) : null,
    readFileSync(tls.keyFile),
    readFileSync(tls.certFile),
  );
}

function bind(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => (err ? reject(new Error(`cannot listen on ${address}: ${err.message}`)) : resolve(port)));
  });
}

/** The same TLS for the node:http2 gRPC server (server/grpc): the URL's scheme decides, as serverCredentials. */
function serverTLS(url: ListenURL, tls: TLSFiles | undefined): GrpcServerTLS | undefined {
  if (url.scheme !== 'https' || !tls) return undefined;
  return {
    cert: readFileSync(tls.certFile),
    key: readFileSync(tls.keyFile),
    ...(tls.trustedCAFile ? { ca: readFileSync(tls.trustedCAFile) } : {}),
    clientCertAuth: tls.clientCertAuth,
  };
}

/**
 * The client and peer listeners are served by server/grpc's node:http2 gRPC server; MKUBE_STORE_GRPC_SERVER=grpc-js
 * serves them with grpc-js' server instead (kept for A/B measurements: bench/store/run.ts).
 */
interface Listener {
  addService: grpc.Server['addService'];
  listen(url: ListenURL, tls: TLSFiles | undefined): Promise<number>;
  forceShutdown(): void;
}

function makeListener(grpcOptions: Record<string, number>): Listener {
  if (process.env.MKUBE_STORE_GRPC_SERVER === 'grpc-js') {
    const server = new grpc.Server(grpcOptions);
    return {
      addService: server.addService.bind(server),
      listen: (url, tls) => bind(server, url.address, serverCredentials(url, tls)),
      forceShutdown: () => server.forceShutdown(),
    };
  }
  const server = new Http2GrpcServer({
    maxReceiveMessageBytes: grpcOptions['grpc.max_receive_message_length']!,
    maxSendMessageBytes: grpcOptions['grpc.max_send_message_length']!,
    keepaliveTimeMs: grpcOptions['grpc.keepalive_time_ms'],
  });
  return {
    addService: server.addService.bind(server),
    listen: (url, tls) => server.bind(url, serverTLS(url, tls)),
    forceShutdown: () => server.forceShutdown(),
  };
}

export async function startStore(cfg: MemberConfig, logger?: Logger): Promise<RunningStore> {
  const log = logger ?? pino({ level: cfg.logLevel, base: { component: 'mkube-store', member: cfg.name } });
  const metrics = new StoreMetrics();
  const peerCreds = peerClientCredentials(cfg.peerTLS);
  const member = await Member.open(cfg, {
    logger: log,
    metrics,
    peerCredentials: peerCreds,
    peerTLS: cfg.peerTLS ? { ...(cfg.peerTLS.trustedCAFile ? { ca: readFileSync(cfg.peerTLS.trustedCAFile) } : {}), cert: readFileSync(cfg.peerTLS.certFile), key: readFileSync(cfg.peerTLS.keyFile) } : undefined,
    openKeySpace: (dir, quota) => openMvccKeySpace(dir, quota, log),
  });
  let resolveFailed!: (e: Error) => void;
  const failed = new Promise<Error>((r) => (resolveFailed = r));
  member.onFatal = (err) => resolveFailed(err);

  const grpcOptions = {
  // No channelz bookkeeping (per-call counters and timestamps): nothing here reads it.
    'grpc.enable_channelz': 0,
    'grpc.max_receive_message_length': cfg.maxRequestBytes + 512 * 1024,
    'grpc.max_send_message_length': 2 ** 31 - 1,
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  };
  const peerServer = makeListener({ ...grpcOptions, 'grpc.max_receive_message_length': 256 * 1024 * 1024 });
  addPeerService(peerServer, member, log, () => metrics.peerMalformed.inc(), { requirePeerCertificate: cfg.peerTLS?.clientCertAuth === true });
  const clientServer = makeListener(grpcOptions);
  const services = addEtcdServices(clientServer, member, { maxRequestBytes: cfg.maxRequestBytes });
  const inProcess = new Set<InProcessConnection>();
  const dispatchers = new Set<CallDispatcher>();

  const httpServers: HttpServer[] = [];
  try {
    for (const u of cfg.listenPeerURLs) {
      const url = parseURL(u);
      if (url.scheme !== 'https' && cfg.peerTLS?.clientCertAuth) log.warn({ url: u }, `The scheme of peer url ${u} is HTTP while client cert auth (--peer-client-cert-auth) is enabled. Ignored client cert auth for this url.`);
      await peerServer.listen(url, cfg.peerTLS);
    }
    member.start();
    for (const u of cfg.listenClientURLs) {
      const url = parseURL(u);
      if (url.scheme !== 'https' && cfg.clientTLS?.clientCertAuth) log.warn({ url: u }, `The scheme of client url ${u} is HTTP while client cert auth (--client-cert-auth) is enabled. Ignored client cert auth for this url.`);
      await clientServer.listen(url, cfg.clientTLS);
    }
    for (const u of cfg.listenMetricsURLs) {
      const url = parseURL(u);
      httpServers.push(await startHttpEndpoints(url.host, url.port, metrics, { unhealthyReason: async () => member.unhealthyReason() }));
    }
  } catch (err) {
    peerServer.forceShutdown();
    clientServer.forceShutdown();
    for (const h of httpServers) h.close();
    await member.stop(false);
    throw err;
  }
  log.info({ client: cfg.listenClientURLs, peer: cfg.listenPeerURLs, metrics: cfg.listenMetricsURLs, member: member.id.toString(16) }, 'mkube-store serving');

  let stopping: Promise<void> | undefined;
  const stop = (graceful = true): Promise<void> =>
    (stopping ??= (async () => {
      await member.stop(graceful);
      for (const c of inProcess) c.close();
      for (const d of dispatchers) d.close();
      clientServer.forceShutdown();
      peerServer.forceShutdown();
      for (const h of httpServers) h.close();
      log.info({}, 'mkube-store stopped');
    })());
  const connectInProcess = (): InProcessConnection => {
    const c = new InProcessConnection(services, cfg.advertiseClientURLs[0] ? endpointAddress(cfg.advertiseClientURLs[0]) : 'in-process');
    inProcess.add(c);
    return c;
  };
  const serveFrames = (send: (f: ServerFrame) => void): CallDispatcher => {
    const d: CallDispatcher = new CallDispatcher(services, send, () => dispatchers.delete(d));
    dispatchers.add(d);
    return d;
  };
  return { member, metrics, failed, stop, connectInProcess, serveFrames };
}
