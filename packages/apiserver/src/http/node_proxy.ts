/**
 * The proxy of pods/log, pods/exec and pods/attach to the node agent of the
 * pod's node: address = the Node's InternalIP and
 * status.daemonEndpoints.kubeletEndpoint.Port. The API server authenticates
 * to the agent with a client certificate CN=system:apiserver,
 * O=system:masters issued by the cluster CA (pki/apiserver-kubelet-client.*),
 * and verifies the agent's serving certificate against the cluster CA.
 * Logs are a plain HTTPS request streamed through; exec/attach upgrades
 * (WebSocket, or SPDY if the agent accepted it) are relayed byte for byte
 * after the agent's 101 response. SPDY/3.1 from kubectl before 1.30 is served
 * here and bridged to the agent's v4.channel.k8s.io WebSocket (spdy.ts,
 * spdy_exec_bridge.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { WebSocketConn, findResource, type JsonObject } from '@mkube/api';
import type { Logger } from 'pino';
import { issueCertificate, type Pki } from '../auth/pki.js';
import { ApiError, errors } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import { ChannelWebSocketError, handshakeWebSocket } from './channel_websocket.js';
import { bridgeSpdyToChannels, negotiateSpdyProtocol } from './spdy_exec_bridge.js';

type Obj = JsonObject;

export interface NodeTarget {
  host: string;
  port: number;
  container: string;
}

const LOG_PARAMS = ['follow', 'tailLines', 'sinceSeconds', 'sinceTime', 'timestamps', 'previous', 'limitBytes'];
const STREAM_PARAMS = ['command', 'stdin', 'stdout', 'stderr', 'tty'];

export class NodeProxy {
  private cred?: { cert: string; key: string };

  constructor(private readonly o: { registry: Registry; pki: Pki; log: Logger }) {}

  /** The API server's client certificate for node agents (issued on first use). */
  private credentials(): { cert: string; key: string } {
    if (this.cred) return this.cred;
    const dir = this.o.pki.dir;
    if (!existsSync(join(dir, 'apiserver-kubelet-client.crt'))) {
      issueCertificate(dir, 'apiserver-kubelet-client', '/O=system:masters/CN=system:apiserver', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
    }
    this.cred = { cert: readFileSync(join(dir, 'apiserver-kubelet-client.crt'), 'utf8'), key: readFileSync(join(dir, 'apiserver-kubelet-client.key'), 'utf8') };
    return this.cred;
  }

  async target(namespace: string, name: string, container: string | null): Promise<NodeTarget> {
    const pod = await this.o.registry.get(findResource('', 'v1', 'pods')!, namespace, name);
    const spec = (pod.spec ?? {}) as Obj;
    const nodeName = String(spec.nodeName ?? '');
    if (!nodeName) throw errors.badRequest(`pod ${name} does not have a host assigned`);
    const names = [...((spec.containers ?? []) as Obj[]), ...((spec.initContainers ?? []) as Obj[])].map((c) => String(c.name));
    let c = container ?? '';
    if (!c) {
      const annotations = (((pod.metadata ?? {}) as Obj).annotations ?? {}) as Record<string, string>;
      const regular = ((spec.containers ?? []) as Obj[]).map((x) => String(x.name));
      c = annotations['kubectl.kubernetes.io/default-container'] ?? (regular.length === 1 ? regular[0]! : '');
      if (!c) throw errors.badRequest(`a container name must be specified for pod ${name}, choose one of: [${regular.join(' ')}]`);
    } else if (!names.includes(c)) {
      throw errors.badRequest(`container ${c} is not valid for pod ${name}`);
    }
    const node = await this.o.registry.get(findResource('', 'v1', 'nodes')!, undefined, nodeName).catch((err: unknown) => {
      if (err instanceof ApiError && err.code === 404) throw errors.serviceUnavailable(`node ${nodeName} of pod ${name} is not registered`);
      throw err;
    });
    const status = (node.status ?? {}) as Obj;
    const addrs = (status.addresses ?? []) as { type: string; address: string }[];
    const host = addrs.find((a) => a.type === 'InternalIP')?.address ?? addrs.find((a) => a.type === 'Hostname')?.address;
    const port = Number((((status.daemonEndpoints ?? {}) as Obj).kubeletEndpoint as Obj | undefined)?.Port ?? 10250);
    if (!host) throw errors.serviceUnavailable(`node ${nodeName} has no address`);
    return { host, port, container: c };
  }

  private query(q: URLSearchParams, keys: string[]): string {
    const out = new URLSearchParams();
    for (const [k, v] of q) if (keys.includes(k)) out.append(k, v);
    const s = out.toString();
    return s ? `?${s}` : '';
  }

  /** GET pods/log: streams the agent's /containerLogs answer. */
  async logs(namespace: string, name: string, q: URLSearchParams, res: ServerResponse): Promise<void> {
    const t = await this.target(namespace, name, q.get('container'));
    const path = `/containerLogs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(t.container)}${this.query(q, LOG_PARAMS)}`;
    const { cert, key } = this.credentials();
    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest({ host: t.host, port: t.port, path, method: 'GET', cert, key, ca: this.o.pki.caCert, servername: undefined, timeout: 15_000 }, (up) => {
        req.setTimeout(0);
        if (up.statusCode !== 200) {
          let body = '';
          up.setEncoding('utf8');
          up.on('data', (d: string) => (body += d));
          up.on('end', () => {
            const code = up.statusCode ?? 500;
            const msg = body.trim() || `node agent answered ${code}`;
            reject(code === 404 ? new ApiError(404, 'NotFound', msg, {}) : code === 400 ? errors.badRequest(msg) : errors.internal(msg));
          });
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
        res.flushHeaders();
        up.pipe(res);
        up.on('end', resolve);
        up.on('error', resolve);
        res.on('close', () => {
          up.destroy();
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => reject(errors.serviceUnavailable(`node agent at ${t.host}:${t.port}: ${err.message}`)));
      req.end();
    });
  }

  /** exec/attach upgrade: forwards the handshake to the agent and relays both directions. */
  async upgrade(namespace: string, name: string, subresource: string, q: URLSearchParams, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const t = await this.target(namespace, name, q.get('container'));
    const path = `/${subresource}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(t.container)}${this.query(q, STREAM_PARAMS)}`;
    const { cert, key } = this.credentials();
    const up = tlsConnect({ host: t.host, port: t.port, cert, key, ca: this.o.pki.caCert, servername: /^[\d.]+$/.test(t.host) ? undefined : t.host });
    await new Promise<void>((resolve, reject) => {
      up.once('secureConnect', () => resolve());
      up.once('error', (err) => reject(errors.serviceUnavailable(`node agent at ${t.host}:${t.port}: ${err.message}`)));
    });
    if (/^spdy\//i.test(String(req.headers.upgrade ?? ''))) return this.spdy(t, path, req, socket, head, up);
    const pass = ['upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'x-stream-protocol-version'];
    let head1 = `${req.method ?? 'GET'} ${path} HTTP/1.1\r\nHost: ${t.host}:${t.port}\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const k = req.rawHeaders[i]!;
      if (pass.includes(k.toLowerCase())) head1 += `${k}: ${req.rawHeaders[i + 1]}\r\n`;
    }
    up.write(head1 + '\r\n');
    if (head.length) up.write(head);
    this.o.log.debug({ pod: `${namespace}/${name}`, subresource, node: `${t.host}:${t.port}` }, 'streaming upgrade proxied');
    up.pipe(socket);
    socket.pipe(up);
    const end = () => {
      up.destroy();
      socket.destroy();
    };
    up.on('error', end);
    socket.on('error', end);
    up.on('close', end);
    socket.on('close', end);
  }

  /** kubectl before 1.30: SPDY/3.1 towards the client, bridged to the agent's v4.channel.k8s.io WebSocket. */
  private async spdy(t: NodeTarget, path: string, req: IncomingMessage, socket: Duplex, head: Buffer, up: Duplex): Promise<void> {
    const offered = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const protocol = negotiateSpdyProtocol(offered);
    if (!protocol) {
      up.destroy();
      throw errors.badRequest(`unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server supports [v4.channel.k8s.io]`);
    }
    up.on('error', () => undefined); // a failure surfaces as 'close' (handshake) or ends the bridge
    let rest: Buffer;
    try {
      rest = await handshakeWebSocket(up, path, `${t.host}:${t.port}`, protocol);
    } catch (err) {
      up.destroy();
      const e = err as ChannelWebSocketError;
      const msg = (e.body ?? '').trim() || e.message;
      throw e.status === 404 ? new ApiError(404, 'NotFound', msg, {}) : e.status === 400 ? errors.badRequest(msg) : errors.serviceUnavailable(`node agent at ${t.host}:${t.port}: ${msg}`);
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    this.o.log.debug({ node: `${t.host}:${t.port}`, protocol }, 'SPDY exec bridged to the agent WebSocket');
    bridgeSpdyToChannels(socket, head, new WebSocketConn(up, protocol, true, rest), this.o.log);
  }
}
