// The set-up the whole-cluster tests repeated (test/e2e/*): a versioned kubectl against a control
// plane with manifests written to its directory, a node agent in each lab worker's namespace, the
// scheduler process, stopping a child process, and the wait for every node Ready. Takes what it
// needs as arguments (no mkube package import).
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent, tmpRoot, type AgentControlPlane, type AgentProcess } from './agent.js';
import { removeTree, run, type LabNode } from './lab.js';
import { REPO_ROOT } from './repo_root.js';
import { waitFor } from './wait.js';

/** The machine's kubectl of one minor version (google-cloud-sdk ships 1.27 … 1.33). */
export const kubectlBin = (minor: string): string => `/usr/lib/google-cloud-sdk/bin/kubectl.${minor}`;
/** The newest kubectl the tests use by default. */
export const KUBECTL = kubectlBin('1.33');

export interface KubectlTarget {
  kubeconfigPath: string;
  /** Where manifests are written. */
  dir: string;
}

export interface KubectlRunner {
  /** kubectl ARGS with the target's kubeconfig; its stdout (rejects on a non-zero exit, with stderr). */
  k(args: string[], timeoutMs?: number): Promise<string>;
  /** The same with another kubectl binary. */
  kWith(bin: string, args: string[], timeoutMs?: number): Promise<string>;
  /** `kubectl apply -f` of YAML written to DIR/NAME.yaml. */
  apply(name: string, yaml: string): Promise<string>;
}

/**
 * kubectl against `target()`, read when a command runs (a control plane started in test.before).
 * Every command has a hard timeout (60 s unless given).
 */
export function kubectlFor(target: () => KubectlTarget, bin = KUBECTL): KubectlRunner {
  const kWith = async (b: string, args: string[], timeoutMs = 60_000) => (await run(b, ['--kubeconfig', target().kubeconfigPath, ...args], timeoutMs)).stdout;
  const k = (args: string[], timeoutMs?: number) => kWith(bin, args, timeoutMs);
  return {
    k,
    kWith,
    async apply(name, yaml) {
      const file = join(target().dir, `${name}.yaml`);
      writeFileSync(file, yaml);
      return k(['apply', '-f', file]);
    },
  };
}

export interface LabAgents {
  agents: AgentProcess[];
  /** The agents' root directories (temp dirs). */
  roots: string[];
  /** SIGKILLs every agent. */
  kill(): Promise<void>;
  /** Removes the roots (unmounting what the agents left mounted below them): after the lab is down. */
  remove(): void;
}

/**
 * A node agent in each lab worker's network namespace, as the e2e tests run them: a temp root
 * named LAB-NODE, `--pod-cidr` of the worker plus `args(worker)`. Started one after the other;
 * on a failure the ones started are stopped.
 */
export async function startLabAgents(cp: AgentControlPlane, lab: string, workers: LabNode[], args: (w: LabNode) => string[] = () => []): Promise<LabAgents> {
  const agents: AgentProcess[] = [];
  const roots: string[] = [];
  const kill = async () => {
    for (const a of agents) await a.kill('SIGKILL');
  };
  const remove = () => {
    for (const r of roots) removeTree(r);
  };
  try {
    for (const w of workers) {
      const root = tmpRoot(`${lab}-${w.name}`);
      roots.push(root);
      agents.push(await startAgent(cp, w, root, ['--pod-cidr', w.podCIDR, ...args(w)], { netns: true }));
    }
  } catch (err) {
    await kill();
    remove();
    throw err;
  }
  return { agents, roots, kill, remove };
}

interface NodeLike {
  status?: { conditions?: Array<{ type?: string; status?: string }> };
}

/** Waits until `listNodes()` gives `count` nodes, every one Ready=True. */
export async function waitNodesReady(listNodes: () => Promise<{ items: unknown[] }>, count: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(`${count} nodes Ready`, timeoutMs, async () => {
    const nodes = (await listNodes()).items as NodeLike[];
    return nodes.length === count && nodes.every((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? true : undefined;
  });
}

const SCHEDULER_BIN = join(REPO_ROOT, 'packages', 'scheduler', 'src', 'bin', 'mkube-scheduler.ts');

/** mkube-scheduler from its sources (tsx) with `kubeconfigPath`, no leader election, metrics on a free port. */
export function startScheduler(kubeconfigPath: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', SCHEDULER_BIN, '--kubeconfig', kubeconfigPath, '--metrics-port', '0', '--leader-elect=false'], { cwd: REPO_ROOT, stdio: 'ignore' });
}

/** SIGKILLs a child process and waits for its exit (at once when it has exited). */
export async function killChild(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
}
