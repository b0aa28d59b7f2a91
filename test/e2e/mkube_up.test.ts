// End to end on a fresh `mkube up` (one node on this host, real containerd, real kubectl): the
// seed's `kubectl run nginx --image=nginx`, a Deployment applied from a manifest, scaling, a
// rolling update and its undo, a deleted pod replaced, a namespace deleted with all it holds;
// then `mkube down` leaves nothing running.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, waitFor } from '@mkube/testing';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MKUBE = join(root, 'packages', 'cli', 'dist', 'src', 'bin', 'mkube.js');


let dataDir = '';
let kubeconfig = '';
let upOutput = '';

async function kubectl(args: string[], input?: string): Promise<string> {
  if (input !== undefined) {
    const file = join(dataDir, `manifest-${Date.now()}.yaml`);
    writeFileSync(file, input);
    args = args.map((a) => (a === '-' ? file : a));
  }
  const { stdout } = await run('kubectl', ['--kubeconfig', kubeconfig, ...args], { timeout: 60_000 });
  return stdout;
}

/** @mkube/testing's waitFor, polling every 500 ms (each probe runs kubectl). */
const until = <T>(what: string, timeoutMs: number, probe: () => Promise<T>) => waitFor(what, timeoutMs, probe, 500);

interface PodList {
  items: Array<{ metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string }; status: { phase: string; podIP?: string; containerStatuses?: Array<{ ready: boolean; image: string }> } }>;
}

async function pods(selector: string, ns = 'default'): Promise<PodList['items']> {
  return (JSON.parse(await kubectl(['get', 'pods', '-n', ns, '-l', selector, '-o', 'json'])) as PodList).items;
}

test.before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'mkube-e2e-'));
  kubeconfig = join(dataDir, 'admin.kubeconfig');
  upOutput = (await run(process.execPath, [MKUBE, 'up', '--data-dir', dataDir, '--api-port', String(await freePort())], { timeout: 240_000 })).stdout;
});

test.after.always(async () => {
  if (dataDir) {
    await run(process.execPath, [MKUBE, 'down', '--data-dir', dataDir], { timeout: 120_000 }).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.serial('mkube up showed each step with its duration; mkube status says all is healthy (exit 0)', async (t) => {
  const steps = [/✓ Lab network and containerd up \(1 node\)/, /✓ Cluster PKI (created|found) in /, /✓ API server started \(pid \d+\)/, /✓ API server ready on https:\/\/127\.0\.0\.1:\d+/,
    /✓ Scheduler healthy/, /✓ Controller manager healthy/, /✓ Node agent running, \S+ registered/, /✓ Node \S+ is Ready/];
  for (const step of steps) t.regex(upOutput, new RegExp(`${step.source}.* \\(\\d+\\.\\d s\\)\n`), upOutput);
  t.false(/\x1b/.test(upOutput), 'plain text when stdout is not a terminal');
  // Rejects unless the exit status is 0.
  const { stdout } = await run(process.execPath, [MKUBE, 'status', '--data-dir', dataDir], { timeout: 30_000 });
  t.regex(stdout, /: healthy\n/);
  for (const c of ['apiserver', 'controller-manager', 'scheduler']) t.regex(stdout, new RegExp(`\\n${c}\\s+\\d+\\s+running\\s+\\S+ ok\\n`), stdout);
  t.regex(stdout, /\nnode-agent-\S+\s+\d+\s+running\s+http:\/\/127\.0\.0\.1:\d+\/healthz ok\n/);
  t.regex(stdout, /Store \(embedded in the API server, https:\/\/127\.0\.0\.1:\d+\): leader [0-9a-f]+, revision \d+/);
  t.regex(stdout, /\n\S+\s+True\s+KubeletReady/);
});

test.serial('no node agent is handed the cluster CA private key; it serves with a certificate issued for its node', async (t) => {
  const state = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { components: Array<{ name: string; command: string[] }> };
  const agents = state.components.filter((c) => c.name.startsWith('node-agent-'));
  t.true(agents.length > 0);
  for (const a of agents) {
    t.false(a.command.some((arg) => arg.endsWith('ca.key') || arg === '--cluster-ca-key'), a.command.join(' '));
    const cert = a.command[a.command.indexOf('--tls-cert-file') + 1]!;
    const { stdout } = await run('openssl', ['x509', '-in', cert, '-noout', '-subject', '-ext', 'subjectAltName']);
    t.regex(stdout, new RegExp(`CN ?= ?system:node:${a.name.slice('node-agent-'.length)}`));
  }
});

test.serial('the node is Ready and `kubectl run nginx --image=nginx` serves pages', async (t) => {
  const nodes = await kubectl(['get', 'nodes']);
  t.regex(nodes, /\sReady\s/);
  t.regex(await kubectl(['run', 'nginx', '--image=nginx']), /pod\/nginx created/);
  const ip = await until('nginx Running', 60_000, async () => {
    const [p] = await pods('run=nginx');
    return p?.status.phase === 'Running' && p.status.containerStatuses?.[0]?.ready ? p.status.podIP : undefined;
  });
  const { stdout } = await run('curl', ['-s', '-m', '5', `http://${ip}/`]);
  t.regex(stdout, /Welcome to nginx!/);
  t.regex(await kubectl(['logs', 'nginx']), /GET \/ HTTP\/1.1" 200/);
  t.is((await kubectl(['exec', 'nginx', '--', 'cat', '/etc/hostname'])).trim(), 'nginx');
  // Exposed as a Service: its cluster IP answers from this machine (the host node's service proxy).
  await kubectl(['expose', 'pod', 'nginx', '--port', '80']);
  const clusterIP = (await kubectl(['get', 'service', 'nginx', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  const page = await until(`service ${clusterIP} answering`, 30_000, async () => {
    const out = await run('curl', ['-s', '-m', '3', `http://${clusterIP}/`]).then((r) => r.stdout, () => '');
    return /Welcome to nginx!/.test(out) ? out : undefined;
  });
  t.regex(page, /Welcome to nginx!/);
});

const DEPLOYMENT = (image: string, replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: e2e
spec:
  replicas: ${replicas}
  selector:
    matchLabels: { app: web }
  strategy:
    type: RollingUpdate
    rollingUpdate: { maxSurge: 1, maxUnavailable: 0 }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
      - name: web
        image: ${image}
        command: ["sh", "-c", "echo started; exec httpd -f -p 8080"]
        ports: [{ containerPort: 8080 }]
        readinessProbe:
          tcpSocket: { port: 8080 }
          periodSeconds: 1
`;

test.serial('kubectl apply -f deployment.yaml, scale, rolling update within limits, undo, replacement, namespace deletion', async (t) => {
  await kubectl(['create', 'namespace', 'e2e']);
  t.regex(await kubectl(['apply', '-f', '-'], DEPLOYMENT('busybox', 3)), /deployment.apps\/web created/);
  await kubectl(['rollout', 'status', 'deployment/web', '-n', 'e2e', '--timeout=90s']);
  t.is((await pods('app=web', 'e2e')).filter((p) => p.status.phase === 'Running').length, 3);

  await kubectl(['scale', 'deployment/web', '-n', 'e2e', '--replicas=4']);
  await until('4 ready pods', 60_000, async () => ((await pods('app=web', 'e2e')).filter((p) => p.status.containerStatuses?.[0]?.ready).length === 4 ? true : undefined));

  // A rolling update with maxSurge 1 / maxUnavailable 0: never more than 5 pods, never fewer than 4 ready.
  let maxPods = 0;
  let minReady = Infinity;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const ps = await pods('app=web', 'e2e').catch(() => undefined);
      if (ps) {
        // As the Deployment controller counts: terminating pods are no longer replicas.
        const live = ps.filter((p) => !p.metadata.deletionTimestamp && p.status.phase !== 'Succeeded' && p.status.phase !== 'Failed');
        maxPods = Math.max(maxPods, live.length);
        minReady = Math.min(minReady, live.filter((p) => p.status.containerStatuses?.[0]?.ready).length);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  await kubectl(['set', 'image', 'deployment/web', '-n', 'e2e', 'web=docker.io/library/busybox:latest']);
  await kubectl(['rollout', 'status', 'deployment/web', '-n', 'e2e', '--timeout=120s']);
  sampling = false;
  await sampler;
  t.log(`rolling update: at most ${maxPods} pods, at least ${minReady} ready`);
  t.true(maxPods <= 5, `surge limit: saw ${maxPods} pods`);
  t.true(minReady >= 4, `unavailability limit: saw ${minReady} ready`);

  await kubectl(['rollout', 'undo', 'deployment/web', '-n', 'e2e']);
  await kubectl(['rollout', 'status', 'deployment/web', '-n', 'e2e', '--timeout=120s']);
  t.is(await kubectl(['get', 'deployment', 'web', '-n', 'e2e', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']), 'busybox');
  t.regex(await kubectl(['rollout', 'history', 'deployment/web', '-n', 'e2e']), /REVISION/);

  const victim = (await pods('app=web', 'e2e'))[0]!.metadata.name;
  await kubectl(['delete', 'pod', victim, '-n', 'e2e', '--wait=false']);
  await until('the deleted pod replaced', 60_000, async () => {
    const ps = await pods('app=web', 'e2e');
    return !ps.some((p) => p.metadata.name === victim) && ps.filter((p) => p.status.containerStatuses?.[0]?.ready).length === 4 ? true : undefined;
  });

  // Cascading deletion through the garbage collector: orphan keeps the ReplicaSets (without owner),
  // foreground removes the dependents before the Deployment itself.
  await kubectl(['delete', 'deployment', 'web', '-n', 'e2e', '--cascade=orphan']);
  const orphaned = await until('ReplicaSets released by the orphaning delete', 60_000, async () => {
    const rs = JSON.parse(await kubectl(['get', 'rs', '-n', 'e2e', '-l', 'app=web', '-o', 'json'])) as { items: Array<{ metadata: { ownerReferences?: unknown[] } }> };
    const gone = (await kubectl(['get', 'deployment', 'web', '-n', 'e2e', '--ignore-not-found'])) === '';
    return gone && rs.items.length > 0 && rs.items.every((r) => !r.metadata.ownerReferences?.length) ? rs.items.length : undefined;
  });
  t.true(orphaned >= 1);
  await kubectl(['delete', 'rs', '-n', 'e2e', '-l', 'app=web', '--cascade=foreground', '--timeout=90s']);
  t.is((await kubectl(['get', 'rs', '-n', 'e2e', '-l', 'app=web', '--ignore-not-found'])), '');

  await kubectl(['delete', 'namespace', 'e2e', '--timeout=120s']);
  const left = await kubectl(['get', 'namespace', 'e2e', '--ignore-not-found']);
  t.is(left, '');
  t.is((await pods('app=web', 'e2e').catch(() => [])).length, 0);
});

test.serial('mkube down leaves nothing running', async (t) => {
  await run(process.execPath, [MKUBE, 'down', '--data-dir', dataDir], { timeout: 120_000 });
  t.false(existsSync(join(dataDir, 'cluster.json')));
  const { stdout: links } = await run('ip', ['-o', 'link', 'show']);
  t.notRegex(links, /\bmk-cni0\b/);
  const { stdout: ps } = await run('ps', ['-eo', 'args']);
  t.notRegex(ps, new RegExp(`${dataDir.replace(/[/.]/g, '\\$&')}/apiserver`));
  t.notRegex(ps, /mkube-lab\/mk\/host\/containerd\.toml/);
  // The host node's service proxy rules are gone too.
  const { stdout: rules } = await run('iptables-save', []);
  t.notRegex(rules, /MKUBE-/);
});

// Two worker hosts (network namespaces with their own containerd and node agent). Runs after the
// single-node cluster is down: both use the lab name of `mkube up`.
test.serial('mkube up --workers 2: pods spread over both nodes talk across them, and move when a node dies', async (t) => {
  t.timeout(420_000);
  const dir = mkdtempSync(join(tmpdir(), 'mkube-e2e-workers-'));
  const kc = join(dir, 'admin.kubeconfig');
  const k = async (args: string[]) => (await run('kubectl', ['--kubeconfig', kc, ...args], { timeout: 60_000 })).stdout;
  t.teardown(async () => {
    await run(process.execPath, [MKUBE, 'down', '--data-dir', dir], { timeout: 120_000 }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  await run(process.execPath, [MKUBE, 'up', '--data-dir', dir, '--workers', '2', '--api-port', String(await freePort()), '--node-monitor-grace-period', '10s', '--default-unreachable-toleration-seconds', '5'], { timeout: 300_000 });
  t.regex(await k(['get', 'nodes']), /mk-w1\s+Ready[\s\S]*mk-w2\s+Ready/);
  const manifest = join(dir, 'web.yaml');
  writeFileSync(manifest, DEPLOYMENT('busybox', 4).replace('namespace: e2e', 'namespace: default'));
  await k(['apply', '-f', manifest]);
  await k(['rollout', 'status', 'deployment/web', '--timeout=120s']);
  type P = { metadata: { name: string; deletionTimestamp?: string }; spec: { nodeName: string }; status: { podIP?: string; containerStatuses?: Array<{ ready: boolean }> } };
  const list = async () => (JSON.parse(await k(['get', 'pods', '-l', 'app=web', '-o', 'json'])) as { items: P[] }).items;
  const placed = await list();
  const nodesUsed = new Set(placed.map((p) => p.spec.nodeName));
  t.deepEqual([...nodesUsed].sort(), ['mk-w1', 'mk-w2'], 'replicas spread over both nodes');
  // A pod on one node reaches a pod on the other by pod IP (host-gw routes, no NAT).
  const a = placed.find((p) => p.spec.nodeName === 'mk-w1')!;
  const b = placed.find((p) => p.spec.nodeName === 'mk-w2')!;
  // busybox httpd serves the container's / : /etc/hostname of the pod on w2 is its pod name.
  const fetched = await k(['exec', a.metadata.name, '--', 'timeout', '5', 'wget', '-qO-', `http://${b.status.podIP}:8080/etc/hostname`]);
  t.log(`w1 (${a.status.podIP}) → w2 (${b.status.podIP}): ${JSON.stringify(fetched)}`);
  t.is(fetched.trim(), b.metadata.name);
  // A Service's cluster IP: the agents' proxies DNAT it to the ready pods of both nodes (from a pod that is
  // itself a backend, so hairpin traffic is covered too).
  await k(['expose', 'deployment', 'web', '--type', 'NodePort', '--port', '80', '--target-port', '8080']);
  const clusterIP = (await k(['get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  const names = new Set(placed.map((p) => p.metadata.name));
  const viaService = () => k(['exec', a.metadata.name, '--', 'timeout', '3', 'wget', '-qO-', `http://${clusterIP}/etc/hostname`]).then((o) => o.trim());
  await until(`service ${clusterIP} answering`, 30_000, async () => (names.has(await viaService().catch(() => '')) ? true : undefined));
  const answers: string[] = [];
  for (let i = 0; i < 16; i++) answers.push(await viaService());
  t.log(`${clusterIP}:80 answered by ${[...new Set(answers)].join(', ')}`);
  t.true(answers.every((n) => names.has(n)), `every answer from a backend: ${answers.join(', ')}`);
  t.true(new Set(answers).size >= 2, 'spread over more than one backend');
  // Its node port on the other node's address: DNATed there (and masqueraded, the backend may be anywhere).
  const nodePort = (await k(['get', 'service', 'web', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).trim();
  const w2IP = (await k(['get', 'node', 'mk-w2', '-o', 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}'])).trim();
  const viaNodePort = await k(['exec', a.metadata.name, '--', 'timeout', '3', 'wget', '-qO-', `http://${w2IP}:${nodePort}/etc/hostname`]);
  t.log(`${w2IP}:${nodePort} (node port on mk-w2) answered by ${viaNodePort.trim()}`);
  t.true(names.has(viaNodePort.trim()));
  // A Service without endpoints refuses at once instead of leaving the client to time out.
  await k(['create', 'service', 'clusterip', 'nobody', '--tcp', '80:8080']);
  const nobodyIP = (await k(['get', 'service', 'nobody', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  await until(`service ${nobodyIP} refusing`, 30_000, async () => {
    const t0 = Date.now();
    const out = await run('kubectl', ['--kubeconfig', kc, 'exec', a.metadata.name, '--', 'timeout', '3', 'wget', '-qO-', `http://${nobodyIP}/`], { timeout: 30_000 }).then(
      () => 'answered',
      (err: { stderr?: string }) => String(err.stderr ?? ''),
    );
    return /refused/i.test(out) && Date.now() - t0 < 2500 ? true : undefined;
  });
  // Kill w2's node agent and containerd: the node goes NotReady/Unknown and its pods are replaced on w1.
  const state = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { components: Array<{ name: string; pid: number }> };
  const agent = state.components.find((c) => c.name === 'node-agent-mk-w2')!;
  process.kill(agent.pid, 'SIGKILL');
  const containerdPid = Number(readFileSync('/var/lib/mkube-lab/mk/w2/containerd.pid', 'utf8').trim());
  process.kill(containerdPid, 'SIGKILL');
  await until('mk-w2 not ready', 90_000, async () => (/mk-w2\s+NotReady/.test(await k(['get', 'nodes'])) ? true : undefined));
  await until('4 ready replicas on mk-w1', 150_000, async () => {
    const live = (await list()).filter((p) => !p.metadata.deletionTimestamp && p.spec.nodeName === 'mk-w1' && p.status.containerStatuses?.[0]?.ready);
    return live.length === 4 ? true : undefined;
  });
  t.pass('the pods of the dead node were replaced on the live one');
  // The Service follows its endpoints: only the pods now running on mk-w1 answer.
  const liveNames = new Set((await list()).filter((p) => !p.metadata.deletionTimestamp && p.spec.nodeName === 'mk-w1' && p.status.containerStatuses?.[0]?.ready).map((p) => p.metadata.name));
  const client = [...liveNames][0]!;
  const ask = () => k(['exec', client, '--', 'timeout', '3', 'wget', '-qO-', `http://${clusterIP}/etc/hostname`]).then((o) => o.trim());
  await until('the service answering from mk-w1 only', 60_000, async () => {
    const got: string[] = [];
    for (let i = 0; i < 8; i++) got.push(await ask().catch(() => ''));
    return got.every((n) => liveNames.has(n)) ? true : undefined;
  });
});
