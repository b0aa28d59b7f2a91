/** Parses an etcd-style URL list ("http://127.0.0.1:2379,https://10.0.0.1:2379"). */
export interface ListenURL {
  scheme: 'http' | 'https' | 'unix';
  host: string;
  port: number;
  /** The gRPC target/bind address: "host:port" or "unix:/path". */
  address: string;
  raw: string;
}

export class InvalidURLError extends Error {
  readonly code = 'INVALID_URL';
}

export function parseURL(raw: string): ListenURL {
  const s = raw.trim();
  if (s.startsWith('unix://') || s.startsWith('unixs://')) {
    const path = s.replace(/^unixs?:\/\//, '');
    return { scheme: 'unix', host: path, port: 0, address: `unix:${path}`, raw: s };
  }
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new InvalidURLError(`invalid URL ${JSON.stringify(raw)}: expected scheme://host:port`);
  }
  const scheme = u.protocol.replace(':', '');
  if (scheme !== 'http' && scheme !== 'https') throw new InvalidURLError(`URL ${JSON.stringify(raw)}: scheme must be http or https`);
  if (!u.port) throw new InvalidURLError(`URL ${JSON.stringify(raw)}: a port is required`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port);
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { scheme, host, port, address, raw: s };
}

export function parseURLs(list: string): ListenURL[] {
  return list
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0)
    .map(parseURL);
}
