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
const debs = [];
if (args.has('--test')) {
  if (!have('etcd')) debs.push('etcd-server');
  if (!have('etcdctl')) debs.push('etcd-client');
}
if (debs.length > 0) {
  if (process.getuid?.() !== 0) {
    fail(`missing Debian packages ${debs.join(', ')}; install them as root: apt-get install -y ${debs.join(' ')}`);
  }
  if (!have('apt-get')) fail(`missing ${debs.join(', ')} and no apt-get on this machine to install them`);
  log(`installing Debian packages: ${debs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...debs], { env });
  // Debian's etcd-server package enables a system etcd on 2379; the project starts its own.
  if (have('systemctl')) spawnSync('systemctl', ['disable', '--now', 'etcd'], { stdio: 'ignore' });
}

// 3. Build (TypeScript project references; incremental).
log('building (tsc -b)');
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
