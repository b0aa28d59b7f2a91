/**
 * The proxy of pods/log, pods/exec, pods/attach and pods/portforward to the
 * node agent of the pod's node: address = the Node's InternalIP and
 * status.daemonEndpoints.kubeletEndpoint.Port. The API server authenticates
 * to the agent with a client certificate CN=system:apiserver,
 * O=system:masters issued by the cluster CA (pki/apiserver-kubelet-client.*),
 * and verifies the agent's serving certificate against the cluster CA.
 * Logs are a plain HTTPS request streamed through. Upgrades are relayed byte
 * for byte (the agent's answer included: SPDY/3.1 from kubectl before 1.30,
 * v4 WebSockets), except two translated here as upstream does:
 * v5.channel.k8s.io exec/attach becomes SPDY towards the agent so stdin can
 * be half-closed (spdy_exec_bridge.ts), and port-forward's SPDY tunnelled in
 * a WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+) is unwrapped
 * into a plain SPDY upgrade (spdy_tunnel.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { findResource, type JsonObject } from '@mkube/api';
import type { Logger } from 'pino';
import { issueCertificate, type Pki } from '../auth/pki.js';
import { ApiError, errors } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import { acceptChannelWebSocket, isWebSocketRequest, offeredWebSocketProtocols } from './channel_websocket.js';
import { queryBool } from './query.js';
import { SPDY_REMOTECOMMAND_PROTOCOL, WEBSOCKET_CLOSE_PROTOCOL, bridgeChannelsToSpdy, type ExecStreams } from './spdy_exec_bridge.js';
import { SPDY_TUNNELING_PREFIX, tunnelSpdyOverWebSocket, tunneledSpdyProtocols } from './spdy_tunnel.js';
import { requestUpgrade, type UpgradeResponse } from './upgrade_client.js';

type Obj = JsonObject;

export interface NodeTarget {
  host: string;
  port: number;
  container: string;
}

const LOG_PARAMS = ['follow', 'tailLines', 'sinceSeconds', 'sinceTime', 'timestamps', 'previous', 'limitBytes'];
const STREAM_PARAMS = ['command', 'stdin', 'stdout', 'stderr', 'tty'];
const PORT_FORWARD_PARAMS = ['ports'];

/** A stream flag as upstream's parameter codec reads PodExecOptions/PodAttachOptions (`True` from the Python client is true). */
function truthy(q: URLSearchParams, name: string): boolean {
  return queryBool(q, name) ?? false;
}

/**
 * The exec/attach query towards the agent: `command` as given, the stream
 * flags normalized to "1"/"0" (upstream's streamLocation writes "1", and the
 * kubelet compares with "1"), so any spelling the API accepted reaches it.
 */
function streamQuery(q: URLSearchParams): string {
  const out = new URLSearchParams();
  for (const [k, v] of q) {
    if (k === 'command') out.append(k, v);
    else if (STREAM_PARAMS.includes(k) && !out.has(k)) out.set(k, truthy(q, k) ? '1' : '0');
  }
  const s = out.toString();
  return s ? `?${s}` : '';
}

/** The `ports` query parameters of a port-forward (comma-separated lists allowed), checked as kubelet does. */
function checkPorts(q: URLSearchParams): void {
  for (const v of q.getAll('ports')) {
    if (!v) throw errors.badRequest('query parameter "ports" cannot be empty');
    for (const p of v.split(',')) {
      const n = /^\d{1,5}$/.test(p) ? Number(p) : NaN;
      if (!(n <= 65535)) throw errors.badRequest(`unable to parse "${v}" as a port`);
      if (n < 1) throw errors.badRequest(`port "${v}" must be > 0`);
    }
  }
}

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

  /** The agent of the pod's node and the container addressed (`false`: no container, as for port-forward). */
  async target(namespace: string, name: string, container: string | null | false): Promise<NodeTarget> {
    const pod = await this.o.registry.get(findResource('', 'v1', 'pods')!, namespace, name);
    const spec = (pod.spec ?? {}) as Obj;
    const nodeName = String(spec.nodeName ?? '');
    if (!nodeName) throw errors.badRequest(`pod ${name} does not have a host assigned`);
    const c = container === false ? '' : this.containerOf(pod, name, container);
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

  private containerOf(pod: Obj, name: string, container: string | null): string {
    const spec = (pod.spec ?? {}) as Obj;
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
    return c;
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

  /**
   * exec/attach/portforward upgrade: relayed to the agent, or translated for
   * v5 WebSockets (exec/attach) and tunnelled SPDY (port-forward).
   */
  async upgrade(namespace: string, name: string, subresource: string, q: URLSearchParams, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const portForward = subresource === 'portforward';
    if (portForward) checkPorts(q);
    const t = await this.target(namespace, name, portForward ? false : q.get('container'));
    const base = portForward
      ? `/portForward/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`
      : `/${subresource}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(t.container)}`;
    const offered = isWebSocketRequest(req) ? offeredWebSocketProtocols(req) : [];
    const tunneled = portForward ? tunneledSpdyProtocols(offered) : [];
    const up = await this.connect(t);
    const log = this.o.log.child({ pod: `${namespace}/${name}`, subresource, node: `${t.host}:${t.port}` });
    if (tunneled.length) return this.tunnel(t, `${base}${this.query(q, PORT_FORWARD_PARAMS)}`, tunneled, req, socket, head, up, log);
    if (!portForward && offered.includes(WEBSOCKET_CLOSE_PROTOCOL)) return this.translateV5(t, base, q, req, socket, head, up, log);
    const path = `${base}${portForward ? this.query(q, PORT_FORWARD_PARAMS) : streamQuery(q)}`;
    const pass = ['upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'x-stream-protocol-version'];
    let head1 = `${req.method ?? 'GET'} ${path} HTTP/1.1\r\nHost: ${t.host}:${t.port}\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const k = req.rawHeaders[i]!;
      if (pass.includes(k.toLowerCase())) head1 += `${k}: ${req.rawHeaders[i + 1]}\r\n`;
    }
    up.write(head1 + '\r\n');
    if (head.length) up.write(head);
    log.debug({ upgrade: req.headers.upgrade }, 'streaming upgrade relayed');
    up.pipe(socket);
    socket.pipe(up);
    const kill = () => {
      up.destroy();
      socket.destroy();
    };
    const ended = (other: Duplex) => () => {
      if (other.destroyed) return;
      other.end(); // what is buffered still goes out
      setTimeout(() => other.destroy(), 5_000).unref();
    };
    up.on('error', kill);
    socket.on('error', kill);
    up.on('close', ended(socket));
    socket.on('close', ended(up));
  }

  /** A TLS connection to the agent, as the API server's kubelet client. */
  private async connect(t: NodeTarget): Promise<Duplex> {
    const { cert, key } = this.credentials();
    const up = tlsConnect({ host: t.host, port: t.port, cert, key, ca: this.o.pki.caCert, servername: /^[\d.]+$/.test(t.host) ? undefined : t.host });
    await new Promise<void>((resolve, reject) => {
      up.once('secureConnect', () => resolve());
      up.once('error', (err) => reject(errors.serviceUnavailable(`node agent at ${t.host}:${t.port}: ${err.message}`)));
    });
    up.setNoDelay(true);
    return up;
  }

  /** A SPDY/3.1 upgrade towards the agent; a refusal becomes an ApiError with the agent's message. */
  private async spdyUpgrade(t: NodeTarget, path: string, protocols: string[], up: Duplex): Promise<UpgradeResponse> {
    up.on('error', () => undefined); // a failure surfaces as 'close' (handshake) or ends the session
    const headers: [string, string][] = [['Host', `${t.host}:${t.port}`], ['Connection', 'Upgrade'], ['Upgrade', 'SPDY/3.1'], ...protocols.map((p): [string, string] => ['X-Stream-Protocol-Version', p])];
    let r: UpgradeResponse;
    try {
      r = await requestUpgrade(up, 'POST', path, headers);
    } catch (err) {
      up.destroy();
      throw errors.serviceUnavailable(`node agent at ${t.host}:${t.port}: ${(err as Error).message}`);
    }
    if (r.status === 101 && /spdy\/3\.1/i.test(r.headers.get('upgrade') ?? '')) return r;
    up.destroy();
    const msg = r.rest.toString('utf8').trim() || `node agent answered ${r.status}`;
    if (r.status === 404) throw new ApiError(404, 'NotFound', msg, {});
    if (r.status === 400 || r.status === 101) throw errors.badRequest(msg);
    throw errors.serviceUnavailable(`node agent at ${t.host}:${t.port}: ${msg}`);
  }

  /** kubectl 1.30+ exec/attach (v5.channel.k8s.io): SPDY towards the agent, so the CLOSE signal can end stdin. */
  private async translateV5(t: NodeTarget, base: string, q: URLSearchParams, req: IncomingMessage, socket: Duplex, head: Buffer, up: Duplex, log: Logger): Promise<void> {
    const flag = (a: string, b: string) => truthy(q, a) || truthy(q, b);
    const tty = truthy(q, 'tty');
    const streams: ExecStreams = {
      stdin: flag('stdin', 'input'),
      stdout: q.has('stdout') || q.has('output') ? flag('stdout', 'output') : true,
      stderr: q.has('stderr') || q.has('error') ? flag('stderr', 'error') : true,
      tty,
    };
    if (tty) streams.stderr = false; // a terminal merges stderr into stdout
    const out = new URLSearchParams();
    for (const c of q.getAll('command')) out.append('command', c);
    for (const k of ['stdin', 'stdout', 'stderr', 'tty'] as const) out.set(k, String(streams[k]));
    const r = await this.spdyUpgrade(t, `${base}?${out}`, [SPDY_REMOTECOMMAND_PROTOCOL], up);
    const client = acceptChannelWebSocket(req, socket, head, WEBSOCKET_CLOSE_PROTOCOL);
    if (!client) {
      up.destroy();
      return;
    }
    log.debug({ protocol: WEBSOCKET_CLOSE_PROTOCOL }, 'v5 WebSocket session bridged to SPDY towards the agent');
    bridgeChannelsToSpdy(client, up, r.rest, streams, log);
  }

  /** kubectl 1.31+ port-forward: SPDY tunnelled in a WebSocket, unwrapped into a plain SPDY upgrade to the agent. */
  private async tunnel(t: NodeTarget, path: string, protocols: string[], req: IncomingMessage, socket: Duplex, head: Buffer, up: Duplex, log: Logger): Promise<void> {
    const r = await this.spdyUpgrade(t, path, protocols, up);
    const chosen = (r.headers.get('x-stream-protocol-version') ?? '').trim();
    const client = acceptChannelWebSocket(req, socket, head, chosen ? SPDY_TUNNELING_PREFIX + chosen : '');
    if (!client) {
      up.destroy();
      return;
    }
    log.debug({ protocol: client.protocol }, 'tunnelled SPDY port-forward');
    tunnelSpdyOverWebSocket(client, up, r.rest, log);
  }
}
