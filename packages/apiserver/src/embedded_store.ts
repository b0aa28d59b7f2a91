// The API server's default store: one mkube-store member embedded in the API
// server's process, data under DIR/store, on loopback ports chosen at first start
// and kept (the member's identity depends on its peer URL). The member runs in a
// worker thread (its Raft, LevelDB and MVCC work on a core of its own), or, with
// `inThread`, on the API server's own event loop.
//
// Its client listener is https on 127.0.0.1 only, with client-certificate authentication against
// the store's own CA (auth/etcd_pki.ts): no local user can read or write /registry through it
// without DIR/pki/etcd/client.key. It has no peer listener: a single member has no peers, and a
// peer port would take Raft messages and snapshots from anyone. (The peer URL stays http://... as
// recorded: it only names the member, whose id is derived from it.)
import { ensureEtcdPki, type EtcdPki } from './auth/etcd_pki.js';
import { ensurePrivateDir, freePort, restoreSnapshot, startStore, startStoreInWorker, parseFlags, type RestoreResult, type StoreConnection } from '@mkube/store';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

export interface EmbeddedStore {
  endpoints: string[];
  /** Certificates a gRPC client (the API server over its listener, etcdctl) needs. */
  pki: EtcdPki;
  /** A connection that reaches the member without its gRPC listener. */
  connect(): StoreConnection;
  /** Resolves if the member stops on an unrecoverable error. */
  failed: Promise<Error>;
  stop(): Promise<void>;
}


/** The embedded member's name and cluster token (its identity derives from them and its peer URL). */
const MEMBER_NAME = 'embedded';
const CLUSTER_TOKEN = 'mkube-embedded';

export async function startEmbeddedStore(dataDir: string, log: Logger, opts: { inThread?: boolean } = {}): Promise<EmbeddedStore> {
  const dir = join(dataDir, 'store');
  ensurePrivateDir(dir, log);
  const portsFile = join(dir, 'embedded.json');
  let ports: { client: number; peer: number };
  if (existsSync(portsFile)) ports = JSON.parse(readFileSync(portsFile, 'utf8')) as typeof ports;
  else {
    ports = { client: await freePort(), peer: await freePort() };
    writeFileSync(portsFile, JSON.stringify(ports));
  }
  const pki = ensureEtcdPki(dataDir);
  const client = `https://127.0.0.1:${ports.client}`;
  const peer = `http://127.0.0.1:${ports.peer}`;
  const args = [
    '--name', MEMBER_NAME, '--data-dir', join(dir, 'member'),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--cert-file', pki.serverCertFile, '--key-file', pki.serverKeyFile, '--trusted-ca-file', pki.caFile, '--client-cert-auth',
    '--listen-peer-urls', '', '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${MEMBER_NAME}=${peer}`, '--initial-cluster-token', CLUSTER_TOKEN,
  ];
  const endpoint = `127.0.0.1:${ports.client}`;
  if (!opts.inThread) {
    const store = await startStoreInWorker(args, { logLevel: log.level, logBindings: { component: 'mkube-store' } });
    log.info({ endpoint: client, dataDir: dir, thread: store.threadId }, 'embedded mkube-store started in a worker thread');
    void store.failed.then((err) => log.error({ err: err.message }, 'embedded mkube-store failed'));
    return { endpoints: [client], pki, connect: () => store.connect(endpoint), failed: store.failed, stop: () => store.stop(true) };
  }
  const parsed = parseFlags(args);
  if (parsed.kind !== 'run') throw new Error('embedded store: unexpected flags');
  const store = await startStore(parsed.config, log.child({ component: 'mkube-store' }));
  // Wait until the single member has elected itself.
  for (let i = 0; i < 200 && store.member.unhealthyReason(); i++) await new Promise((r) => setTimeout(r, 25));
  log.info({ endpoint: client, dataDir: dir }, 'embedded mkube-store started');
  return { endpoints: [client], pki, connect: () => store.connectInProcess(), failed: store.failed, stop: () => store.stop(true) };
}

/**
 * Disaster recovery (`mkube restore`): the embedded store of DIR made from a snapshot file
 * (`mkube-store snapshot restore`: checksum verified, a new single-member cluster whose key space
 * is the snapshot's, revisions continuing from it), on loopback ports chosen now. DIR/store must
 * not hold a member yet; the API server started on DIR afterwards serves the restored objects.
 */
export async function restoreEmbeddedStore(dataDir: string, snapshotPath: string, bump: { bumpRevision?: number; markCompacted?: boolean } = {}): Promise<RestoreResult> {
  const dir = join(dataDir, 'store');
  ensurePrivateDir(dir);
  const ports = { client: await freePort(), peer: await freePort() };
  const peer = `http://127.0.0.1:${ports.peer}`;
  const result = await restoreSnapshot({
    snapshotPath, dataDir: join(dir, 'member'), name: MEMBER_NAME,
    initialCluster: `${MEMBER_NAME}=${peer}`, initialClusterToken: CLUSTER_TOKEN, initialAdvertisePeerURLs: peer, ...bump,
  });
  writeFileSync(join(dir, 'embedded.json'), JSON.stringify(ports));
  return result;
}
