#!/usr/bin/env node
// `npm start`: brings up what mkube has so far — a 3-member mkube-store cluster on
// loopback, with its data under .mkube/store — and keeps it running until Ctrl-C.
// Flags: --members N (1, 3 or 5; default 3), --data-dir DIR (default .mkube).
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { members: { type: 'string', default: '3' }, 'data-dir': { type: 'string', default: '.mkube' } } });
const n = Number(values.members);
if (![1, 3, 5].includes(n)) {
  console.error('mkube: --members must be 1, 3 or 5');
  process.exit(2);
}
const dataDir = resolve(values['data-dir'], 'store');
mkdirSync(dataDir, { recursive: true });
const bin = join(root, 'packages', 'store', 'dist', 'src', 'bin', 'mkube-store.js');
const members = Array.from({ length: n }, (_, i) => ({
  name: `m${i + 1}`,
  client: `http://127.0.0.1:${23790 + i * 10}`,
  peer: `http://127.0.0.1:${23800 + i * 10}`,
  metrics: `http://127.0.0.1:${23801 + i * 10}`,
}));
const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(',');
const children = members.map((m) => {
  const child = spawn(process.execPath, [bin,
    '--name', m.name, '--data-dir', join(dataDir, m.name),
    '--listen-client-urls', m.client, '--advertise-client-urls', m.client,
    '--listen-peer-urls', m.peer, '--initial-advertise-peer-urls', m.peer,
    '--listen-metrics-urls', m.metrics,
    '--initial-cluster', initialCluster, '--initial-cluster-token', 'mkube-local',
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  child.on('exit', (code, sig) => console.error(`mkube: member ${m.name} exited (${sig ?? code})`));
  return child;
});
const endpoints = members.map((m) => m.client.replace('http://', '')).join(',');
console.log(`mkube: a ${n}-member mkube-store cluster is starting (data in ${dataDir}).
Try:
  ETCDCTL_API=3 etcdctl --endpoints=${endpoints} endpoint status -w table
  ETCDCTL_API=3 etcdctl --endpoints=${endpoints} put greeting hello
  curl ${members[0].metrics}/health
Ctrl-C stops it (leadership is handed over on the way down).`);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(0), 5000).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.on('exit', r))))).then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
