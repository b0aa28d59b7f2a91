// LoadBalancer Services for `mkube up`: mkube-cloud-controller-manager (packages/cloud-controller-manager)
// runs on the control plane with the built-in provider; with lab workers it hands out the address pool
// 10.213.250.0/24 and the node agents (--lb-announce) put each address on the elected worker's interface
// with gratuitous ARP. The host reaches the pool on the lab bridge (a link route: it ARPs for the
// addresses, which is what the announcement answers); the route goes with the bridge at `lab.sh down`.
// The machines file lists the lab's workers (name, IP, network namespace): a worker whose namespace is
// gone is a machine gone, and its Node is deleted once not Ready.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LAB_LB_POOL = '10.213.250.0/24';
export const CLOUD_CONTROLLER_MANAGER_SUBJECT = '/CN=system:cloud-controller-manager';

export interface MachineLike {
  name: string;
  nodeIP: string;
  netns?: string;
}

/** Writes `NAME IP [NETNS]` per machine; returns the path. */
export function writeMachinesFile(dataDir: string, machines: MachineLike[]): string {
  const path = join(dataDir, 'machines');
  writeFileSync(path, machines.map((m) => [m.name, m.nodeIP, m.netns].filter(Boolean).join(' ')).join('\n') + '\n', { mode: 0o644 });
  return path;
}

/** Without a machines file (a join-flow cluster's machines are listed nowhere) no Node is deleted as a machine gone. */
export function ccmArgs(o: { kubeconfig: string; metricsPort: number; machinesFile?: string; pool?: string }): string[] {
  return ['--kubeconfig', o.kubeconfig, '--bind-address', '127.0.0.1', '--metrics-port', String(o.metricsPort), ...(o.machinesFile ? ['--machines-file', o.machinesFile] : []), ...(o.pool ? ['--lb-address-pool', o.pool] : [])];
}

/** Routes the pool onto the interface holding the lab gateway (a link route); returns that interface. */
export function routePoolToLab(pool: string, gateway: string): string {
  const out = execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' });
  const dev = out.split('\n').find((l) => l.split(/\s+/).some((w) => w.startsWith(`${gateway}/`)))?.split(/\s+/)[1];
  if (!dev || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/.test(dev)) throw new Error(`no interface holds the lab gateway ${gateway}`);
  execFileSync('ip', ['route', 'replace', pool, 'dev', dev, 'scope', 'link']);
  return dev;
}
