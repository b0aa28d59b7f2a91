#!/usr/bin/env node
// Makes a fresh clone ready: npm packages, Debian packages the tests need, and the TypeScript build.
// Usage: node scripts/ensure.mjs [--test] [--start]
// Stops with a clear message (exit 1) when something cannot be installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const log = (msg) => process.stderr.write(`[ensure] ${msg}\n`);

function fail(msg) {
  process.stderr.write(`\nmkube: cannot continue: ${msg}\n\n`);
  process.exit(1);
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) fail(`${cmd} ${argv.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${argv.join(' ')} exited with ${r.status}`);
}

function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

const [major] = process.versions.node.split('.').map(Number);
if (major < 20) fail(`Node.js 20 or newer is required, this is ${process.version}`);

// 1. npm packages (npm ci when node_modules is missing or older than the lockfile).
const lock = join(root, 'package-lock.json');
const marker = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  log('installing npm packages (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// 2. Debian packages.
function installed(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

// etcd 3.4 and etcdctl: the peer the store is compared with and a real client of it;
// python3-kubernetes: the official Python client the API server's tests drive.
// containerd, runc, CNI plugins, busybox-static, iproute2, nftables/iptables: the node agent's runtime
// and the lab hosts (images are built locally from busybox-static and Debian's nginx).
const wanted = new Set();
if (args.has('--test')) for (const p of ['etcd-server', 'etcd-client', 'python3-kubernetes']) wanted.add(p);
if (args.has('--test') || args.has('--start')) {
  for (const p of ['containerd', 'runc', 'containernetworking-plugins', 'busybox-static', 'iproute2', 'nftables', 'iptables', 'openssl', 'iputils-arping']) wanted.add(p);
}
const debs = have('dpkg-query') ? [...wanted].filter((p) => !installed(p)) : [];
if (!have('dpkg-query') && wanted.size > 0) {
  const missingBins = ['etcd', 'etcdctl', 'containerd', 'runc'].filter((b) => !have(b));
  if (missingBins.length > 0) fail(`this is not a Debian system and ${missingBins.join(', ')} are missing; install them (see README)`);
}
if (debs.length > 0) {
  if (process.getuid?.() !== 0) {
    fail(`missing Debian packages ${debs.join(', ')}; install them as root: apt-get install -y ${debs.join(' ')}`);
  }
  if (!have('apt-get')) fail(`missing ${debs.join(', ')} and no apt-get on this machine to install them`);
  log(`installing Debian packages: ${debs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const first = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...debs], { cwd: root, stdio: 'inherit', env });
  if (first.status !== 0) {
    run('apt-get', ['update', '-qq'], { env });
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...debs], { env });
  }
  // Debian's etcd-server package enables a system etcd on 2379; the project starts its own.
  if (have('systemctl')) spawnSync('systemctl', ['disable', '--now', 'etcd'], { stdio: 'ignore' });
}

// 3. Build (TypeScript project references; incremental).
log('building (tsc -b)');
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
