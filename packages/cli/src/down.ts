// `mkube down`: stops every component of the local cluster and removes the lab (containerd, its
// containers, namespaces, links, routes, cgroups). The data directory stays, so `mkube up` resumes it.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { LAB_SCRIPT } from './paths.js';
import { readState, statePath, stopComponent } from './processes.js';
import { LAB_NAME } from './up.js';

export async function down(dataDirArg: string, log: (m: string) => void): Promise<void> {
  const dataDir = resolve(dataDirArg);
  const state = readState(dataDir);
  // A lab cluster of several hosts (mkube up --control-planes): workers first, then control planes, last first.
  const hosts = [...(state?.hosts ?? [])].reverse().sort((a, b) => (a.role === 'worker' ? 0 : 1) - (b.role === 'worker' ? 0 : 1));
  for (const h of hosts) {
    const hs = readState(h.dataDir);
    if (!hs) continue;
    for (const c of [...hs.components].sort((a, b) => rank(a.name) - rank(b.name))) {
      log(`mkube: stopping ${h.name} ${c.name} (pid ${c.pid})`);
      await stopComponent(c, c.name === 'apiserver' ? 10_000 : 5_000);
    }
    rmSync(statePath(h.dataDir), { force: true });
  }
  if (state) {
    // Node agents first (pods are removed with the lab), the API server (and its store) last.
    const order = [...state.components].sort((a, b) => rank(a.name) - rank(b.name));
    for (const c of order) {
      log(`mkube: stopping ${c.name} (pid ${c.pid})`);
      await stopComponent(c, c.name === 'apiserver' ? 10_000 : 5_000);
    }
  } else {
    log(`mkube: no cluster state in ${dataDir}; removing any lab leftovers`);
  }
  // A cluster of `mkube init` / `mkube join` has no lab (state.lab unset): its machine's networks stay.
  if (!state || state.lab) execFileSync('bash', [LAB_SCRIPT(), 'down', '--name', state?.lab ?? LAB_NAME], { stdio: ['ignore', 'ignore', 'inherit'] });
  // A machine of mkube init / mkube join keeps its state: `mkube start` brings the same processes back.
  if (!state || state.lab) rmSync(statePath(dataDir), { force: true });
  log('mkube: stopped');
}

function rank(name: string): number {
  if (name.startsWith('node-agent')) return 0;
  if (name === 'apiserver') return 2;
  if (name === 'store') return 3;
  return 1;
}
