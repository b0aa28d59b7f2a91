/**
 * The gRPC listener of the API server: TLS with the serving certificate,
 * client certificates requested (verified against the cluster CA, optional,
 * so bearer tokens work too), mkube.api.v1.Resources and server reflection.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Metrics } from '../http/metrics.js';
import type { Authenticator } from '../auth/authn.js';
import type { Pki } from '../auth/pki.js';
import type { Registry } from '../registry/registry.js';
import { REFLECTION_SERVICES, RESOURCES_SERVICE, serviceMethods } from './proto.js';
import { reflectionImplementation } from './reflection.js';
import { MAX_REQUEST_BYTES, ResourcesService } from './resources_service.js';

export interface GrpcServerOptions {
  registry: Registry;
  authenticator: Authenticator;
  pki: Pki;
  log: Logger;
  /** 0 picks a free port. */
  port: number;
  bindAddress: string;
  bookmarkIntervalMs?: number;
  metrics?: Metrics;
}

export interface GrpcApiServer {
  port: number;
  /** host:port for grpc clients. */
  address: string;
  service: ResourcesService;
  stop(): Promise<void>;
}

type CertificateProvider = grpc.experimental.CertificateProvider;

const identity = (b: Buffer) => b;

/** A bytes-in/bytes-out service definition: (de)serialization happens in the handlers. */
function rawDefinition(service: string, methods: { name: string; requestStream: boolean; responseStream: boolean }[]): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  for (const m of methods) {
    def[m.name] = {
      path: `/${service}/${m.name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
      originalName: m.name,
    };
  }
  return def as grpc.ServiceDefinition;
}

/**
 * Fixed certificates for grpc-js' certificate-provider credentials (the only
 * ones with optional client certificates). Updates are delivered on the next
 * tick: grpc-js registers its watcher only after adding the listeners.
 */
function staticCertificates(pki: Pki): { ca: CertificateProvider; identity: CertificateProvider } {
  const ca: CertificateProvider = {
    addCaCertificateListener: (l) => setImmediate(() => l({ caCertificate: Buffer.from(pki.caCert) })),
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: () => undefined,
    removeIdentityCertificateListener: () => undefined,
  };
  const identity: CertificateProvider = {
    addCaCertificateListener: () => undefined,
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: (l) => setImmediate(() => l({ certificate: Buffer.from(pki.serverCert), privateKey: Buffer.from(pki.serverKey) })),
    removeIdentityCertificateListener: () => undefined,
  };
  return { ca, identity };
}

export async function startGrpcServer(o: GrpcServerOptions): Promise<GrpcApiServer> {
  const server = new grpc.Server({
  // No channelz bookkeeping (per-call counters and timestamps): nothing here reads it.
    'grpc.enable_channelz': 0,
    // Requests up to MAX_REQUEST_BYTES are served; larger ones (below this cap) get a
    // Kubernetes "request is too large" status rather than grpc-js' generic error.
    'grpc.max_receive_message_length': 4 * MAX_REQUEST_BYTES,
    'grpc.max_send_message_length': -1,
  });
  const service = new ResourcesService({ registry: o.registry, authenticator: o.authenticator, log: o.log, bookmarkIntervalMs: o.bookmarkIntervalMs, metrics: o.metrics });
  const methods = serviceMethods(RESOURCES_SERVICE).map((m) => ({ name: m.name, requestStream: m.requestStream === true, responseStream: m.responseStream === true }));
  server.addService(rawDefinition(RESOURCES_SERVICE, methods), service.implementation());
  const served = [RESOURCES_SERVICE, ...REFLECTION_SERVICES];
  const reflection = reflectionImplementation(() => served);
  for (const name of REFLECTION_SERVICES) {
    server.addService(rawDefinition(name, [{ name: 'ServerReflectionInfo', requestStream: true, responseStream: true }]), reflection);
  }
  const certs = staticCertificates(o.pki);
  const creds = grpc.experimental.createCertificateProviderServerCredentials(certs.identity, certs.ca, false);
  const host = o.bindAddress.includes(':') ? `[${o.bindAddress}]` : o.bindAddress;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${o.port}`, creds, (err, p) => (err ? reject(err) : resolve(p)));
  });
  await new Promise((r) => setImmediate(r)); // the certificates are in place
  o.log.info({ port }, 'gRPC API listening');
  return {
    port,
    address: `${host}:${port}`,
    service,
    async stop() {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
