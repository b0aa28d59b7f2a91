// The API server fixture: a store (a real etcd 3.4 by default; with
// MKUBE_TEST_STORE=mkube the API server's embedded mkube-store member) and an
// in-process API server on a temp data dir with a static token file. The API
// server's start function is passed in (`startApiServer` from
// @mkube/apiserver, or its own sources in the API server's tests), so this
// package depends on no component and every package's tests may use it.
// Also: one HTTPS request as the admin/another identity/a token, and a watch
// collector. Register `stop()` with t.teardown.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startEtcdCluster, compactEtcd, type EtcdCluster } from './etcd.js';

/** What the fixture needs of a running API server (structurally @mkube/apiserver's ApiServer). */
export interface ApiServerLike {
  url: string;
  port: number;
  kubeconfigPath: string;
  pki: { caCert: string; adminCert: string; adminKey: string };
  stop(): Promise<void>;
}

/** The options the fixture sets (structurally a subset of @mkube/apiserver's ApiServerOptions). */
export interface FixtureApiServerOptions {
  dataDir?: string;
  etcdServers?: string[];
  securePort?: number;
  tokenAuthFile?: string;
  compactionIntervalMs?: number;
  logger?: unknown;
}

export const TOKENS = 'alice-token,alice,1001,"devs"\nbob-token,bob,1002\n';

export interface ApiFixtureOptions<O> {
  /** Temp dir prefix (default mkube-apiserver-test). */
  name?: string;
  /** Options merged over the fixture's (port, store, logger...). */
  extra?: Partial<O>;
  /** 'etcd' (default, or MKUBE_TEST_STORE=mkube → 'embedded'). */
  store?: 'etcd' | 'embedded';
  /** The API server's port (default: one the OS picks; restarts keep it). */
  port?: number;
  /** The API server's data dir under the fixture's dir (default 'data'; its PKI is DIR/<name>/pki). */
  dataDirName?: string;
}

export interface ApiFixture<S extends ApiServerLike> {
  dir: string;
  /** The etcd cluster (undefined on the embedded store). */
  etcd: EtcdCluster | undefined;
  /** host:port of etcd, or the embedded store's https URL. */
  etcdEndpoint: string;
  /** What another API server needs to reach that store (the embedded store's client certificate). */
  etcdTls: { etcdCAFile?: string; etcdCertFile?: string; etcdKeyFile?: string };
  /** The current API server. */
  server: S;
  tokenFile: string;
  /** Stops the API server and starts a new one on the same store, data dir and port (`between` runs while it is down). */
  restartApiServer(between?: () => Promise<void>): Promise<S>;
  /** Stops the API server (restartApiServer starts it again). */
  stopApiServer(): Promise<void>;
  /** Another API server on the same store and data dir (port 0); the caller stops it. */
  startExtraApiServer(): Promise<S>;
  /** Compacts etcd at its current revision; returns that revision. */
  compactEtcd(): Promise<number>;
  /** Stops the API server and the store, removes the dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts a store and an API server through `startApiServer`. */
export async function startApiFixture<S extends ApiServerLike, O extends FixtureApiServerOptions>(
  startApiServer: (opts: O) => Promise<S>,
  opts: ApiFixtureOptions<O> = {},
): Promise<ApiFixture<S>> {
  const store = opts.store ?? (process.env.MKUBE_TEST_STORE === 'mkube' ? 'embedded' : 'etcd');
  const dir = await mkdtemp(join(tmpdir(), `${opts.name ?? 'mkube-apiserver-test'}-`));
  const tokenFile = join(dir, 'tokens.csv');
  const dataDir = join(dir, opts.dataDirName ?? 'data');
  let etcd: EtcdCluster | undefined;
  let server: S | undefined;
  let stopped = false;
  const start = (port: number) =>
    startApiServer({
      dataDir,
      ...(etcd ? { etcdServers: etcd.endpoints } : {}),
      securePort: port,
      tokenAuthFile: tokenFile,
      compactionIntervalMs: 0,
      logger: pino({ level: process.env.MKUBE_TEST_LOG ?? 'silent' }),
      ...opts.extra,
    } as O);
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server?.stop().catch(() => undefined);
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await writeFile(tokenFile, TOKENS);
    if (store === 'etcd') etcd = await startEtcdCluster({ members: 1 });
    server = await start(opts.port ?? 0);
  } catch (err) {
    await stop();
    throw err;
  }
  let etcdEndpoint = etcd?.endpoints[0] ?? '';
  let etcdTls: ApiFixture<S>['etcdTls'] = {};
  if (!etcd) {
    const ports = JSON.parse(await readFile(join(dataDir, 'store', 'embedded.json'), 'utf8')) as { client: number };
    // The embedded listener is https with client-certificate authentication (DATA/pki/etcd).
    etcdEndpoint = `https://127.0.0.1:${ports.client}`;
    const pki = join(dataDir, 'pki', 'etcd');
    etcdTls = { etcdCAFile: join(pki, 'ca.crt'), etcdCertFile: join(pki, 'client.crt'), etcdKeyFile: join(pki, 'client.key') };
  }
  const port = server.port;
  const fx: ApiFixture<S> = {
    dir,
    etcd,
    etcdEndpoint,
    etcdTls,
    server,
    tokenFile,
    async restartApiServer(between) {
      await server?.stop();
      server = undefined;
      if (between) await between();
      // Same data dir (same PKI) and the same port, so existing clients reconnect.
      server = await start(port);
      fx.server = server;
      return server;
    },
    async stopApiServer() {
      await server?.stop();
      server = undefined;
    },
    startExtraApiServer: () => start(0),
    compactEtcd() {
      if (!etcd) throw new Error('compactEtcd: the fixture runs on the embedded store');
      return compactEtcd(etcd.members[0]!.clientURL);
    },
    stop,
  };
  return fx;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- a test reads any JSON field of the reply
  text: string;
}

export interface RequestOptions {
  token?: string;
  contentType?: string;
  accept?: string;
  anonymous?: boolean;
  identity?: { cert: string; key: string };
  /** More request headers (e.g. Impersonate-User, Impersonate-Group as a list). */
  headers?: Record<string, string | string[]>;
}

/** One HTTPS request as the admin (client certificate), as another certificate's identity, or with a bearer token. */
export function api(s: Pick<ApiServerLike, 'url' | 'pki'>, method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, s.url);
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const headers: Record<string, string | string[]> = { Accept: opts.accept ?? 'application/json' };
    if (payload !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    Object.assign(headers, opts.headers);
    const useCert = !opts.token && !opts.anonymous;
    const cert = useCert ? (opts.identity?.cert ?? s.pki.adminCert) : undefined;
    const key = useCert ? (opts.identity?.key ?? s.pki.adminKey) : undefined;
    const req = request(url, { method, headers, ca: s.pki.caCert, cert, key }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Opens a watch and collects events until `until` returns true or the timeout. */
export function watchEvents(s: Pick<ApiServerLike, 'url' | 'pki'>, path: string, until: (events: any[]) => boolean, timeoutMs = 5000): Promise<any[]> { // eslint-disable-line @typescript-eslint/no-explicit-any -- watch events are any JSON
  return new Promise((resolve, reject) => {
    const events: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any -- watch events are any JSON
    const req = request(new URL(path, s.url), { ca: s.pki.caCert, cert: s.pki.adminCert, key: s.pki.adminKey, headers: { Accept: 'application/json' } }, (res) => {
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
        }
        if (until(events)) {
          clearTimeout(timer);
          req.destroy();
          resolve(events);
        }
      });
      res.on('end', () => resolve(events));
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve(events);
    }, timeoutMs);
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
}
