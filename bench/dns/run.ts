// Cluster DNS benchmark: queries per second and latency of mkube-dns's server against NSD (Debian's
// authoritative DNS server, installed here with apt-get as scripts/ensure.mjs installs the test
// packages) serving the same zone — BENCH_SERVICES ClusterIP services with their A and SRV records —
// on the same machine, each in its own process, loaded by our own UDP generator (load.ts: random
// service A queries, BENCH_OUTSTANDING in flight). Prints both results and their ratio.
// Not a test: it measures.
//
//   node --import tsx bench/dns/run.ts
//   BENCH_SECONDS=10 BENCH_OUTSTANDING=32 BENCH_SERVICES=1000 node --import tsx bench/dns/run.ts
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Resolver } from 'node:dns/promises';
import { services, zoneFile } from './zone.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);

interface Result {
  qps: number;
  answered: number;
  lost: number;
  rcodes: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
}

function have(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** NSD from Debian's package, installed when missing (its service left stopped: we run our own). */
function ensureNsd(): string {
  if (!have('nsd')) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'nsd'], { stdio: 'inherit', env }).status === 0;
    if (!install()) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      if (!install()) throw new Error('cannot install Debian package nsd (apt-get install nsd failed)');
    }
    if (have('systemctl')) spawnSync('systemctl', ['disable', '--now', 'nsd'], { stdio: 'ignore' });
  }
  return spawnSync('sh', ['-c', 'command -v nsd'], { encoding: 'utf8' }).stdout.trim();
}

function freeUdpTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function firstJsonLine<T>(child: ChildProcess, what: string, timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no result within ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as T);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}`));
    });
  });
}

async function load(port: number, what: string): Promise<Result> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'load.ts'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_SERVICES: String(SERVICES) } });
  return firstJsonLine<Result>(child, `load against ${what}`, 120_000);
}

async function answers(port: number, name: string): Promise<string[]> {
  const r = new Resolver({ timeout: 1000, tries: 3 });
  r.setServers([`127.0.0.1:${port}`]);
  return r.resolve4(name);
}

const fmt = (r: Result) => `${r.qps.toFixed(0).padStart(7)} q/s   p50 ${r.p50.toFixed(3)} ms   p99 ${r.p99.toFixed(3)} ms   max ${r.max.toFixed(1)} ms   lost ${r.lost}   rcodes ${JSON.stringify(r.rcodes)}`;

const dir = mkdtempSync(join(tmpdir(), 'mkube-bench-dns-'));
const children: ChildProcess[] = [];
try {
  const nsdBin = ensureNsd();
  const svcs = services(SERVICES);
  const probe = `svc-${SERVICES - 1}.bench.svc.cluster.local`;

  // mkube-dns's server.
  const mk = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'mkube_dns_server.ts')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_SERVICES: String(SERVICES) } });
  children.push(mk);
  const { port: mkPort } = await firstJsonLine<{ port: number }>(mk, 'mkube-dns server');

  // NSD on the same zone.
  const nsdPort = await freeUdpTcpPort();
  writeFileSync(join(dir, 'cluster.local.zone'), zoneFile(svcs));
  writeFileSync(join(dir, 'nsd.conf'), [
    'server:',
    `  ip-address: 127.0.0.1@${nsdPort}`,
    '  server-count: 1',
    '  username: ""',
    '  chroot: ""',
    `  zonesdir: "${dir}"`,
    `  pidfile: "${join(dir, 'nsd.pid')}"`,
    '  database: ""',
    `  xfrdfile: "${join(dir, 'xfrd.state')}"`,
    `  zonelistfile: "${join(dir, 'zone.list')}"`,
    `  logfile: "${join(dir, 'nsd.log')}"`,
    '  verbosity: 0',
    'remote-control:',
    '  control-enable: no',
    'zone:',
    '  name: cluster.local',
    '  zonefile: cluster.local.zone',
    '',
  ].join('\n'));
  const nsd = spawn(nsdBin, ['-d', '-c', join(dir, 'nsd.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(nsd);
  const nsdVersion = spawnSync(nsdBin, ['-v'], { encoding: 'utf8' }).stderr.trim().split('\n')[0];
  for (let i = 0; ; i++) {
    const got = await answers(nsdPort, probe).catch(() => []);
    if (got.length) break;
    if (i > 50) throw new Error(`nsd does not answer (see ${join(dir, 'nsd.log')})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // Both answer the same.
  const [a, b] = [await answers(mkPort, probe), await answers(nsdPort, probe)];
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`the servers disagree on ${probe}: ${String(a)} vs ${String(b)}`);

  process.stdout.write(`# cluster DNS: ${SERVICES} services, UDP A queries, ${process.env.BENCH_OUTSTANDING ?? 32} outstanding, ${process.env.BENCH_SECONDS ?? 10} s per server\n`);
  process.stdout.write(`# ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}, ${nsdVersion}\n`);
  const mkResult = await load(mkPort, 'mkube-dns');
  process.stdout.write(`mkube-dns  ${fmt(mkResult)}\n`);
  const nsdResult = await load(nsdPort, 'nsd');
  process.stdout.write(`nsd        ${fmt(nsdResult)}\n`);
  process.stdout.write(`ratio mkube-dns/nsd: throughput ${(mkResult.qps / nsdResult.qps).toFixed(2)}, p99 latency ${(mkResult.p99 / nsdResult.p99).toFixed(2)}\n`);
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
