// Runs a probe or lifecycle handler (exec through CRI ExecSync, httpGet with
// node's http, tcpSocket with net) against one container.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { CriClient } from '../cri/cri_client.js';
import type { Container, IntOrString, ProbeHandler } from '../api_types.js';

export interface HandlerTarget {
  containerId: string;
  podIP: string;
  container: Container;
}

export interface HandlerResult {
  ok: boolean;
  output: string;
}

export type ExecRuntime = Pick<CriClient, 'execSync'>;

export function resolvePort(port: IntOrString, container: Container): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const p = container.ports?.find((x) => x.name === port);
  if (!p) throw new Error(`couldn't find port ${port} in container ${container.name}`);
  return p.containerPort;
}

function httpGet(h: NonNullable<ProbeHandler['httpGet']>, target: HandlerTarget, timeoutMs: number): Promise<HandlerResult> {
  return new Promise((resolve) => {
    let port: number;
    try {
      port = resolvePort(h.port, target.container);
    } catch (err) {
      resolve({ ok: false, output: (err as Error).message });
      return;
    }
    const host = h.host || target.podIP;
    const https = h.scheme === 'HTTPS';
    const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.30', Accept: '*/*' };
    for (const hd of h.httpHeaders ?? []) headers[hd.name] = hd.value;
    const path = h.path ? (h.path.startsWith('/') ? h.path : `/${h.path}`) : '/';
    const url = `${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
    const req = (https ? httpsRequest : httpRequest)(
      url,
      { method: 'GET', headers, timeout: timeoutMs, ...(https ? { rejectUnauthorized: false } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 10_240) body += c;
        });
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          const ok = code >= 200 && code < 400;
          resolve({ ok, output: ok ? body : `HTTP probe failed with statuscode: ${code}` });
        });
        res.on('error', (err) => resolve({ ok: false, output: `Get "${url}": ${err.message}` }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('context deadline exceeded (Client.Timeout exceeded while awaiting headers)')));
    req.on('error', (err) => resolve({ ok: false, output: `Get "${url}": ${err.message}` }));
    req.end();
  });
}

function tcpSocket(h: NonNullable<ProbeHandler['tcpSocket']>, target: HandlerTarget, timeoutMs: number): Promise<HandlerResult> {
  return new Promise((resolve) => {
    let port: number;
    try {
      port = resolvePort(h.port, target.container);
    } catch (err) {
      resolve({ ok: false, output: (err as Error).message });
      return;
    }
    const host = h.host || target.podIP;
    const sock = connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ ok: false, output: `dial tcp ${host}:${port}: i/o timeout` });
    }, timeoutMs);
    sock.on('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ ok: true, output: '' });
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, output: `dial tcp ${host}:${port}: ${err.message}` });
    });
  });
}

async function exec(cmd: string[], cri: ExecRuntime, target: HandlerTarget, timeoutSeconds: number): Promise<HandlerResult> {
  try {
    const res = await cri.execSync(target.containerId, cmd, timeoutSeconds, { timeoutMs: timeoutSeconds * 1000 + 5_000 });
    const output = Buffer.concat([res.stdout, res.stderr]).toString('utf8');
    return { ok: res.exit_code === 0, output: res.exit_code === 0 ? output : output || `command exited with ${res.exit_code}` };
  } catch (err) {
    return { ok: false, output: `command ${JSON.stringify(cmd)} failed: ${(err as Error).message}` };
  }
}

/** Runs one handler with a timeout in seconds. */
export async function runHandler(
  handler: ProbeHandler & { sleep?: { seconds: number } },
  target: HandlerTarget,
  timeoutSeconds: number,
  cri: ExecRuntime,
): Promise<HandlerResult> {
  const timeoutMs = Math.max(1, timeoutSeconds) * 1000;
  if (handler.exec) return exec(handler.exec.command ?? [], cri, target, Math.max(1, timeoutSeconds));
  if (handler.httpGet) return httpGet(handler.httpGet, target, timeoutMs);
  if (handler.tcpSocket) return tcpSocket(handler.tcpSocket, target, timeoutMs);
  if (handler.sleep) {
    await new Promise((r) => setTimeout(r, Math.min(handler.sleep!.seconds * 1000, timeoutMs)));
    return { ok: true, output: '' };
  }
  return { ok: false, output: 'missing handler' };
}
