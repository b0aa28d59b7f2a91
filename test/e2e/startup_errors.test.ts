// Every binary's start-up failures (issue 16, item 10): a port already taken (held by a listener of
// this test), a data dir locked by a running process, a missing containerd socket, an unreadable or
// invalid kubeconfig or certificate file — each is one line on stderr naming the thing, exit status 1,
// no stack trace. Spawns the built binaries (packages/*/dist/src/bin). Also `mkube status` against a
// real API server with its embedded store: unhealthy (1) without nodes or with a dead component,
// healthy (0) once a Ready node is registered.
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@mkube/store';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = (pkg: string, name: string) => join(root, 'packages', pkg, 'dist', 'src', 'bin', `${name}.js`);
const APISERVER = bin('apiserver', 'mkube-apiserver');
const STORE = bin('store', 'mkube-store');
const SCHEDULER = bin('scheduler', 'mkube-scheduler');
const CONTROLLER_MANAGER = bin('controllers', 'mkube-controller-manager');
const NODE_AGENT = bin('node-agent', 'mkube-node-agent');
const MKUBE = bin('cli', 'mkube');

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a binary to its exit (killed after timeoutMs, which then fails the assertions on its code). */
function runToExit(t: ExecutionContext, file: string, args: string[], timeoutMs = 60_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Asserts exit status 1 and exactly `line` on stderr (besides JSON log records), without a stack. */
function assertOneLine(t: ExecutionContext, r: Outcome, line: string): void {
  const plain = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{'));
  t.deepEqual(plain, [line], `stderr: ${r.stderr}\nstdout: ${r.stdout.slice(-2000)}`);
  t.is(r.code, 1);
  t.false(/^\s+at /m.test(r.stderr + r.stdout), 'no stack trace');
}

/** A TCP listener of this test holding a port. */
async function holdPort(t: ExecutionContext, host = '127.0.0.1'): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as { port: number }).port;
}

function tempDir(t: ExecutionContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A long-running binary, started until a line of its output matches `ready`. */
async function startUntil(t: ExecutionContext, file: string, args: string[], ready: RegExp, timeoutMs = 60_000): Promise<ChildProcess> {
  const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} not ready after ${timeoutMs} ms:\n${out.slice(-3000)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${code}:\n${out.slice(-3000)}`));
    });
  });
  return child;
}

interface RunningApiServer {
  dataDir: string;
  port: number;
  kubeconfig: string;
  child: ChildProcess;
}

async function startApiServer(t: ExecutionContext, dataDir: string): Promise<RunningApiServer> {
  const port = await freePort();
  const child = await startUntil(t, APISERVER, ['--data-dir', dataDir, '--secure-port', String(port), '--grpc-port=-1'], /API server listening/);
  return { dataDir, port, kubeconfig: join(dataDir, 'admin.kubeconfig'), child };
}

// ------------------------------------------------------------------ mkube-apiserver

test('mkube-apiserver: its gRPC port taken', async (t) => {
  const grpcPort = await holdPort(t);
  const r = await runToExit(t, APISERVER, ['--data-dir', tempDir(t, 'mkube-se-'), '--secure-port', String(await freePort()), '--grpc-port', String(grpcPort)]);
  assertOneLine(t, r, `mkube-apiserver: cannot listen on 127.0.0.1:${grpcPort} (gRPC API): address already in use`);
});

test('mkube-apiserver: its secure port taken', async (t) => {
  const port = await holdPort(t);
  const r = await runToExit(t, APISERVER, ['--data-dir', tempDir(t, 'mkube-se-'), '--secure-port', String(port), '--grpc-port', String(await freePort())]);
  assertOneLine(t, r, `mkube-apiserver: cannot listen on 127.0.0.1:${port} (secure port): address already in use`);
});

test('mkube-apiserver: a data dir in use by a running API server, and a missing token file', async (t) => {
  const dir = tempDir(t, 'mkube-se-');
  await startApiServer(t, dir);
  const second = await runToExit(t, APISERVER, ['--data-dir', dir, '--secure-port', String(await freePort()), '--grpc-port=-1']);
  assertOneLine(t, second, `mkube-apiserver: data directory ${join(dir, 'store', 'member')} is in use by another mkube-store process`);
  const missing = join(dir, 'no-such-tokens.csv');
  const r = await runToExit(t, APISERVER, ['--data-dir', tempDir(t, 'mkube-se-'), '--secure-port', String(await freePort()), '--grpc-port=-1', '--token-auth-file', missing]);
  assertOneLine(t, r, `mkube-apiserver: cannot read --token-auth-file ${missing}: no such file or directory`);
});

// ------------------------------------------------------------------ mkube-store

function storeArgs(dataDir: string, client: string, peer: string, extra: string[] = []): string[] {
  return ['--name', 'a', '--data-dir', dataDir, '--listen-client-urls', client, '--advertise-client-urls', client, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `a=${peer}`, ...extra];
}

test('mkube-store: its client, peer and metrics URLs taken', async (t) => {
  const held = await holdPort(t);
  const url = `http://127.0.0.1:${held}`;
  const client = `http://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  assertOneLine(t, await runToExit(t, STORE, storeArgs(tempDir(t, 'mkube-se-'), url, peer)), `mkube-store: cannot listen on 127.0.0.1:${held} (client URL ${url}): address already in use`);
  assertOneLine(t, await runToExit(t, STORE, storeArgs(tempDir(t, 'mkube-se-'), client, url)), `mkube-store: cannot listen on 127.0.0.1:${held} (peer URL ${url}): address already in use`);
  assertOneLine(t, await runToExit(t, STORE, storeArgs(tempDir(t, 'mkube-se-'), client, peer, ['--listen-metrics-urls', url])), `mkube-store: cannot listen on 127.0.0.1:${held} (metrics URL ${url}): address already in use`);
});

test('mkube-store: a data dir locked by a running member, and a missing certificate file', async (t) => {
  const dir = tempDir(t, 'mkube-se-');
  const peer = `http://127.0.0.1:${await freePort()}`;
  await startUntil(t, STORE, storeArgs(dir, `http://127.0.0.1:${await freePort()}`, peer), /mkube-store serving/);
  const r = await runToExit(t, STORE, storeArgs(dir, `http://127.0.0.1:${await freePort()}`, peer));
  assertOneLine(t, r, `mkube-store: data directory ${dir} is in use by another mkube-store process [DATA_DIR_IN_USE]`);
  const crt = join(dir, 'missing.crt');
  const c = await runToExit(t, STORE, storeArgs(tempDir(t, 'mkube-se-'), `https://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`, ['--cert-file', crt, '--key-file', join(dir, 'missing.key')]));
  assertOneLine(t, c, `mkube-store: cannot read --cert-file ${crt}: no such file or directory`);
});

// ------------------------------------------------------------------ scheduler, controller manager, node agent

test('mkube-scheduler and mkube-controller-manager: metrics/health port taken, missing or invalid kubeconfig', async (t) => {
  const api = await startApiServer(t, tempDir(t, 'mkube-se-'));
  const held = await holdPort(t);
  const missing = join(api.dataDir, 'nope.kubeconfig');
  const invalid = join(api.dataDir, 'invalid.kubeconfig');
  writeFileSync(invalid, 'apiVersion: v1\nkind: Config\n');

  const s1 = await runToExit(t, SCHEDULER, ['--kubeconfig', api.kubeconfig, '--bind-address', '127.0.0.1', '--metrics-port', String(held)]);
  assertOneLine(t, s1, `mkube-scheduler: cannot listen on 127.0.0.1:${held} (metrics and health): address already in use`);
  assertOneLine(t, await runToExit(t, SCHEDULER, ['--kubeconfig', missing]), `mkube-scheduler: cannot read --kubeconfig ${missing}: no such file or directory`);
  assertOneLine(t, await runToExit(t, SCHEDULER, ['--kubeconfig', invalid]), `mkube-scheduler: invalid --kubeconfig ${invalid}: no context given and no current-context`);

  const c1 = await runToExit(t, CONTROLLER_MANAGER, ['--kubeconfig', api.kubeconfig, '--metrics-bind-address', '127.0.0.1', '--metrics-port', String(held)]);
  assertOneLine(t, c1, `mkube-controller-manager: cannot listen on 127.0.0.1:${held} (metrics and health): address already in use`);
  assertOneLine(t, await runToExit(t, CONTROLLER_MANAGER, ['--kubeconfig', missing]), `mkube-controller-manager: cannot read --kubeconfig ${missing}: no such file or directory`);
  assertOneLine(t, await runToExit(t, CONTROLLER_MANAGER, ['--kubeconfig', invalid]), `mkube-controller-manager: invalid --kubeconfig ${invalid}: no context given and no current-context`);
  const ca = join(api.dataDir, 'nope-ca.crt');
  assertOneLine(t, await runToExit(t, CONTROLLER_MANAGER, ['--kubeconfig', api.kubeconfig, '--metrics-port', '0', '--root-ca-file', ca]), `mkube-controller-manager: cannot read --root-ca-file ${ca}: no such file or directory`);
});

/** A containerd of this test only (its own root, state and socket). */
async function startContainerd(t: ExecutionContext, dir: string): Promise<string> {
  const sock = join(dir, 'containerd.sock');
  writeFileSync(join(dir, 'config.toml'), `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\n[grpc]\n  address = "${sock}"\n[ttrpc]\n  address = "${sock}.ttrpc"\n`);
  const child = spawn('/usr/bin/containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(async () => {
    if (child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`containerd did not serve ${sock}:\n${log.slice(-2000)}`)), 30_000);
    const onData = () => {
      if (/containerd successfully booted|serving\.\.\..*containerd\.sock"/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`containerd exited with ${code}:\n${log.slice(-2000)}`)));
  });
  return sock;
}

test('mkube-node-agent: no containerd socket, a path that is not a socket, a missing kubeconfig, its ports taken', async (t) => {
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/containerd')) {
    t.fail('needs root and /usr/bin/containerd (installed by the README commands)');
    return;
  }
  const api = await startApiServer(t, tempDir(t, 'mkube-se-'));
  const dir = tempDir(t, 'mkube-se-agent-');
  const pki = join(api.dataDir, 'pki');
  const common = (endpoint: string, kubeconfig = api.kubeconfig) => [
    '--kubeconfig', kubeconfig, '--node-name', 'startup-errors', '--node-ip', '127.0.0.1', '--container-runtime-endpoint', endpoint,
    '--cluster-ca-cert', join(pki, 'ca.crt'), '--cluster-ca-key', join(pki, 'ca.key'), '--root-dir', join(dir, 'agent'), '--proxy-mode', 'none', '--no-routes',
  ];
  const noSock = join(dir, 'no-containerd.sock');
  assertOneLine(t, await runToExit(t, NODE_AGENT, [...common(`unix://${noSock}`), '--port', '0', '--metrics-port=-1']),
    `mkube-node-agent: container runtime socket ${noSock} does not exist (--container-runtime-endpoint unix://${noSock}): is containerd running?`);
  const notSock = join(pki, 'ca.crt');
  assertOneLine(t, await runToExit(t, NODE_AGENT, [...common(`unix://${notSock}`), '--port', '0', '--metrics-port=-1']),
    `mkube-node-agent: container runtime endpoint ${notSock} is not a socket (--container-runtime-endpoint unix://${notSock})`);

  // With a real containerd answering (the agent checks its runtime first, as kubelet does), a missing
  // kubeconfig and then the listeners are what fails.
  const ctd = join(dir, 'containerd');
  mkdirSync(ctd);
  const sock = await startContainerd(t, ctd);
  const missingKc = join(dir, 'nope.kubeconfig');
  assertOneLine(t, await runToExit(t, NODE_AGENT, [...common(`unix://${sock}`, missingKc), '--port', '0', '--metrics-port=-1']),
    `mkube-node-agent: cannot read --kubeconfig ${missingKc}: no such file or directory`);
  const held = await holdPort(t);
  const server = await runToExit(t, NODE_AGENT, [...common(`unix://${sock}`), '--port', String(held), '--metrics-port=-1']);
  assertOneLine(t, server, `mkube-node-agent: cannot listen on 0.0.0.0:${held} (node agent server): address already in use`);
  const metrics = await runToExit(t, NODE_AGENT, [...common(`unix://${sock}`), '--port', '0', '--metrics-bind-address', '127.0.0.1', '--metrics-port', String(held)]);
  assertOneLine(t, metrics, `mkube-node-agent: cannot listen on 127.0.0.1:${held} (metrics and health): address already in use`);
});

// ------------------------------------------------------------------ mkube status

function adminRequest(api: RunningApiServer, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: unknown }> {
  const pki = join(api.dataDir, 'pki');
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: api.port, path, method, ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')), headers: { 'content-type': contentType } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

test('mkube status: components, embedded store, nodes; exit 0 only when all are healthy', async (t) => {
  const dataDir = tempDir(t, 'mkube-se-status-');
  const apiDir = join(dataDir, 'apiserver');
  const api = await startApiServer(t, apiDir);
  const state = (components: unknown[]) =>
    writeFileSync(join(dataDir, 'cluster.json'), JSON.stringify({ dataDir, apiServer: `https://127.0.0.1:${api.port}`, kubeconfig: api.kubeconfig, components }));
  const apiRecord = { name: 'apiserver', pid: api.child.pid, command: api.child.spawnargs, log: join(dataDir, 'logs', 'apiserver.log'), health: `https://127.0.0.1:${api.port}/readyz` };
  state([apiRecord]);

  // No node registered yet: not healthy.
  const noNodes = await runToExit(t, MKUBE, ['status', '--data-dir', dataDir]);
  t.is(noNodes.code, 1, noNodes.stdout + noNodes.stderr);
  t.regex(noNodes.stdout, new RegExp(`apiserver\\s+${api.child.pid}\\s+running\\s+https://127\\.0\\.0\\.1:${api.port}/readyz ok`));
  t.regex(noNodes.stdout, /Store \(embedded in the API server, https:\/\/127\.0\.0\.1:\d+\): leader [0-9a-f]+, revision \d+/);
  t.regex(noNodes.stdout, /embedded\s+[0-9a-f]+\s+https:\/\/127\.0\.0\.1:\d+\s+leader/);
  t.regex(noNodes.stdout, /Nodes: none registered/);

  // A Ready node: healthy, exit 0.
  t.is((await adminRequest(api, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'status-node' } })).status, 201);
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const patched = await adminRequest(api, 'PATCH', '/api/v1/nodes/status-node/status', { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready', lastHeartbeatTime: now, lastTransitionTime: now }] } }, 'application/merge-patch+json');
  t.is(patched.status, 200, JSON.stringify(patched.body));
  const healthy = await runToExit(t, MKUBE, ['status', '--data-dir', dataDir, '-o', 'json']);
  t.is(healthy.code, 0, healthy.stdout + healthy.stderr);
  const json = JSON.parse(healthy.stdout) as { healthy: boolean; nodes: Array<{ name: string; ready: string }>; store: { members: unknown[]; leader: string; revision: number } };
  t.true(json.healthy);
  t.deepEqual(json.nodes.map((n) => [n.name, n.ready]), [['status-node', 'True']]);
  t.is(json.store.members.length, 1);
  t.true(json.store.revision > 0);

  // A component that is gone: not healthy, and the line says where its log is.
  state([apiRecord, { name: 'scheduler', pid: 2 ** 22 + 12345, command: [], log: join(dataDir, 'logs', 'scheduler.log') }]);
  const dead = await runToExit(t, MKUBE, ['status', '--data-dir', dataDir]);
  t.is(dead.code, 1);
  t.regex(dead.stdout, new RegExp(`scheduler\\s+\\d+\\s+exited\\s+not running \\(see ${join(dataDir, 'logs', 'scheduler.log').replace(/\//g, '\\/')}\\)`));
});

test('mkube status: no cluster in the data dir is one line and exit 1', async (t) => {
  const dir = tempDir(t, 'mkube-se-none-');
  assertOneLine(t, await runToExit(t, MKUBE, ['status', '--data-dir', dir]), `mkube: no cluster in ${dir} (${join(dir, 'cluster.json')} not found): start one with "mkube up --data-dir ${dir}"`);
});


test('mkube up: its API port taken is said before anything starts (exit 1, nothing to stop)', async (t) => {
  if (process.getuid?.() !== 0) {
    t.fail('mkube up needs root');
    return;
  }
  const dir = tempDir(t, 'mkube-se-up-');
  const held = await holdPort(t);
  const r = await runToExit(t, MKUBE, ['up', '--data-dir', dir, '--api-port', String(held)]);
  assertOneLine(t, r, `mkube: cannot start: cannot listen on 127.0.0.1:${held} (API server secure port): address already in use (choose another with --api-port)`);
  t.regex(r.stdout, new RegExp(`✗ Checking that the API server ports are free failed \\(\\d+\\.\\d s\\): cannot listen on 127\\.0\\.0\\.1:${held}`));
  t.false(/\x1b/.test(r.stdout), 'plain text when stdout is not a terminal');
  t.false(existsSync(join(dir, 'cluster.json')), 'nothing was started');
});
