// Test fixture: a real etcd 3.4 (/usr/bin/etcd) on free ports plus an
// in-process API server with a fresh data dir; `stop()` removes everything.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdClient } from '@mkube/store/client';
import { pino } from 'pino';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../src/server.js';
import { freePort } from '@mkube/store';

export { freePort };


export interface Fixture {
  dir: string;
  etcdEndpoint: string;
  /** What another API server needs to reach that store (the embedded store's client certificate). */
  etcdTls: Pick<ApiServerOptions, 'etcdCAFile' | 'etcdCertFile' | 'etcdKeyFile'>;
  server: ApiServer;
  tokenFile: string;
  stop(): Promise<void>;
}

/** A single-member etcd 3.4 on `dir`/etcd; `ports` restarts one on the ports it had. */
export async function startEtcd(dir: string, ports?: { client: number; peer: number }): Promise<{ endpoint: string; proc: ChildProcess; ports: { client: number; peer: number } }> {
  const [client, peer] = ports ? [ports.client, ports.peer] : [await freePort(), await freePort()];
  const endpoint = `127.0.0.1:${client}`;
  const proc = spawn('/usr/bin/etcd', [
    '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://${endpoint}`, '--advertise-client-urls', `http://${endpoint}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `default=http://127.0.0.1:${peer}`,
  ], { stdio: 'ignore' });
  const c = new EtcdClient({ endpoints: [endpoint], dialTimeoutMs: 500 });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await c.status();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  c.close();
  return { endpoint, proc, ports: { client, peer } };
}

export const TOKENS = 'alice-token,alice,1001,"devs"\nbob-token,bob,1002\n';

/**
 * The store under the API server: a real etcd 3.4 process by default, or with MKUBE_TEST_STORE=mkube
 * the API server's embedded mkube-store member (the same tests run against both).
 */
export async function startFixture(extra: Partial<ApiServerOptions> = {}): Promise<Fixture> {
  if (process.env.MKUBE_TEST_STORE === 'mkube') return startFixtureOnEmbeddedStore(extra);
  const dir = await mkdtemp(join(tmpdir(), 'mkube-apiserver-test-'));
  let etcd: { endpoint: string; proc: ChildProcess } | undefined;
  try {
    etcd = await startEtcd(dir);
    const tokenFile = join(dir, 'tokens.csv');
    await writeFile(tokenFile, TOKENS);
    const server = await startApiServer({
      dataDir: join(dir, 'data'),
      etcdServers: [etcd.endpoint],
      securePort: 0,
      tokenAuthFile: tokenFile,
      compactionIntervalMs: 0,
      logger: pino({ level: 'silent' }),
      ...extra,
    });
    const proc = etcd.proc;
    return {
      dir,
      etcdEndpoint: etcd.endpoint,
      etcdTls: {},
      server,
      tokenFile,
      async stop() {
        await server.stop().catch(() => undefined);
        proc.kill('SIGKILL');
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    etcd?.proc.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function startFixtureOnEmbeddedStore(extra: Partial<ApiServerOptions>): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-apiserver-test-'));
  try {
    const tokenFile = join(dir, 'tokens.csv');
    await writeFile(tokenFile, TOKENS);
    const server = await startApiServer({
      dataDir: join(dir, 'data'),
      securePort: 0,
      tokenAuthFile: tokenFile,
      compactionIntervalMs: 0,
      logger: pino({ level: 'silent' }),
      ...extra,
    });
    const ports = JSON.parse(await readFile(join(dir, 'data', 'store', 'embedded.json'), 'utf8')) as { client: number };
    return {
      dir,
      // The embedded listener is https with client-certificate authentication (DIR/pki/etcd).
      etcdEndpoint: `https://127.0.0.1:${ports.client}`,
      etcdTls: { etcdCAFile: join(dir, 'data', 'pki', 'etcd', 'ca.crt'), etcdCertFile: join(dir, 'data', 'pki', 'etcd', 'client.crt'), etcdKeyFile: join(dir, 'data', 'pki', 'etcd', 'client.key') },
      server,
      tokenFile,
      async stop() {
        await server.stop().catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

/** One HTTPS request as the admin (client certificate), as another certificate's identity, or with a bearer token. */
export function api(s: ApiServer, method: string, path: string, body?: unknown, opts: { token?: string; contentType?: string; accept?: string; anonymous?: boolean; identity?: { cert: string; key: string } } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, s.url);
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const headers: Record<string, string> = { Accept: opts.accept ?? 'application/json' };
    if (payload !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
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
export function watchEvents(s: ApiServer, path: string, until: (events: any[]) => boolean, timeoutMs = 5000): Promise<any[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((resolve, reject) => {
    const events: unknown[] = [];
    const req = request(new URL(path, s.url), { ca: s.pki.caCert, cert: s.pki.adminCert, key: s.pki.adminKey, headers: { Accept: 'application/json' } }, (res) => {
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
        }
        if (until(events as any[])) { // eslint-disable-line @typescript-eslint/no-explicit-any
          clearTimeout(timer);
          req.destroy();
          resolve(events as any[]); // eslint-disable-line @typescript-eslint/no-explicit-any
        }
      });
      res.on('end', () => resolve(events as any[])); // eslint-disable-line @typescript-eslint/no-explicit-any
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve(events as any[]); // eslint-disable-line @typescript-eslint/no-explicit-any
    }, timeoutMs);
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
}
