/**
 * The hosts file of `mkube chaos --hosts-file FILE` (a cluster on machines reached by a command):
 * one host per line, `NAME ROLE ADDRESS DATA-DIR COMMAND...` — ROLE control-plane or worker,
 * ADDRESS its IPv4 address on the cluster network, DATA-DIR the absolute data directory of mkube
 * init/join on it, COMMAND... the argv prefix that runs a command on it (`ssh root@10.0.0.11`,
 * `nsenter --net=/run/netns/mkcht-cp1`), split on blanks without a shell (no quoting, no
 * expansion). `#` starts a comment; blank lines are skipped. Errors name the line.
 */
import { isIPv4 } from 'node:net';
import { isAbsolute } from 'node:path';
import type { HostRole } from './cluster.js';

export interface HostsFileEntry {
  name: string;
  role: HostRole;
  address: string;
  dataDir: string;
  /** The argv prefix that runs a command on the host. */
  command: string[];
}

const NAME = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;
const PATH_CHARS = /^[A-Za-z0-9._\/-]+$/;

function fail(file: string, line: number, message: string): never {
  throw Object.assign(new Error(`${file}:${line}: ${message}`), { code: 'BAD_HOSTS_FILE' });
}

export function parseHostsFile(text: string, file = 'hosts file'): HostsFileEntry[] {
  const out: HostsFileEntry[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const n = i + 1;
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const [name, role, address, dataDir, ...command] = line.split(/\s+/);
    if (command.length === 0) fail(file, n, `expected NAME ROLE ADDRESS DATA-DIR COMMAND..., got ${JSON.stringify(line)}`);
    if (!NAME.test(name!)) fail(file, n, `host name ${JSON.stringify(name)} is not a DNS label or subdomain (lower-case letters, digits, '-', '.')`);
    if (role !== 'control-plane' && role !== 'worker') fail(file, n, `role ${JSON.stringify(role)} must be control-plane or worker`);
    if (!isIPv4(address!)) fail(file, n, `address ${JSON.stringify(address)} is not an IPv4 address`);
    if (!isAbsolute(dataDir!) || !PATH_CHARS.test(dataDir!) || dataDir!.split('/').includes('..')) fail(file, n, `data directory ${JSON.stringify(dataDir)} must be an absolute path of letters, digits, '.', '_', '-', '/' without '..'`);
    if (out.some((h) => h.name === name)) fail(file, n, `host ${name} is listed twice`);
    if (out.some((h) => h.address === address)) fail(file, n, `address ${address} is listed twice`);
    out.push({ name: name!, role, address: address!, dataDir: dataDir!, command });
  }
  if (out.length === 0) throw Object.assign(new Error(`${file}: no hosts`), { code: 'BAD_HOSTS_FILE' });
  return out;
}
