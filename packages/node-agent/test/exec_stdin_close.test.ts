// The end of stdin reaches the container: kubectl 1.27 (SPDY: FIN on the
// stdin stream, relayed to containerd) and 1.33 (v5.channel.k8s.io: the
// CLOSE signal, translated by the API server into that FIN) through a real
// API server and node agent to containerd (host-node lab): piped stdin to
// `cat` finishes with its output, `kubectl cp` both ways with the content
// compared, exit codes and tty sessions still as before.
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resources } from '@mkube/client';
import { startAgent, startControlPlane, tmpRoot, waitFor, type AgentProcess, type ControlPlane } from './cluster_helper.js';
import { labDown, labUp, type LabNode } from './lab_helper.js';

const LAB = 'mkstdin';
const SUBNET = 124; // nodes 10.213.124.0/24, pods 10.213.125.0/24
const KUBECTL = { '1.27': '/usr/lib/google-cloud-sdk/bin/kubectl.1.27', '1.33': '/usr/lib/google-cloud-sdk/bin/kubectl.1.33' } as const;
type Version = keyof typeof KUBECTL;

let ctx: { cp: ControlPlane; node: LabNode; rootDir: string; work: string; agent?: AgentProcess } | undefined;

test.before(async () => {
  const summary = await labUp(['--host-node', '--name', LAB, '--subnet', String(SUBNET)]);
  const node = summary.workers[0]!;
  const cp = await startControlPlane(LAB);
  ctx = { cp, node, rootDir: tmpRoot(LAB), work: mkdtempSync(join(tmpdir(), 'mkstdin-files-')) };
  ctx.agent = await startAgent(cp, node, ctx.rootDir, ['--pod-cidr', node.podCIDR]);
  await cp.client.resource(Resources.pods).create('default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'box', namespace: 'default' },
    spec: { nodeName: node.name, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  });
  await waitFor('pod box Running', 60_000, async () => {
    const p = await cp.client.resource(Resources.pods).get('default', 'box');
    return p.status?.phase === 'Running' ? true : undefined;
  });
});

test.after.always(async () => {
  await labDown(LAB).catch(() => undefined);
  if (!ctx) return;
  await ctx.agent?.kill('SIGKILL');
  await ctx.cp.stop();
  rmSync(ctx.rootDir, { recursive: true, force: true });
  rmSync(ctx.work, { recursive: true, force: true });
});

interface Outcome {
  stdout: Buffer;
  stderr: string;
  code: number | null;
  killed: boolean;
}

/** Runs kubectl with `input` written to its stdin and then closed; killed (and reported so) after 30 s. */
function kubectl(v: Version, args: string[], input?: Buffer | string): Promise<Outcome> {
  return new Promise((resolve) => {
    const p = spawn(KUBECTL[v], ['--kubeconfig', ctx!.cp.kubeconfigPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let killed = false;
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGKILL');
    }, 30_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      // let the pipes drain
      setImmediate(() => resolve({ stdout: Buffer.concat(out), stderr: err, code, killed }));
    });
    p.stdin.on('error', () => undefined);
    if (input !== undefined) p.stdin.end(input);
    else p.stdin.end();
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

for (const v of Object.keys(KUBECTL) as Version[]) {
  test.serial(`kubectl ${v}: echo hello | kubectl exec -i POD -- cat prints hello and exits 0`, async (t) => {
    const r = await kubectl(v, ['exec', '-i', 'box', '--', 'cat'], 'hello\n');
    t.false(r.killed, `kubectl ${v} did not finish: ${r.stderr}`);
    t.is(r.stdout.toString(), 'hello\n');
    t.is(r.code, 0);
  });

  test.serial(`kubectl ${v}: stdin end is seen by the command (wc -c of 300 KiB, empty stdin)`, async (t) => {
    const data = randomBytes(300 * 1024);
    const r = await kubectl(v, ['exec', '-i', 'box', '--', 'sh', '-c', 'wc -c; echo done'], data);
    t.false(r.killed, `kubectl ${v} did not finish: ${r.stderr}`);
    t.is(r.stdout.toString().trim().split(/\s+/).join(' '), `${data.length} done`);
    t.is(r.code, 0);
    const empty = await kubectl(v, ['exec', '-i', 'box', '--', 'cat']);
    t.false(empty.killed);
    t.is(empty.stdout.length, 0);
    t.is(empty.code, 0);
  });

  test.serial(`kubectl ${v}: exit codes and stderr still arrive after stdin closed`, async (t) => {
    const r = await kubectl(v, ['exec', '-i', 'box', '--', 'sh', '-c', 'cat >/dev/null; echo gone >&2; exit 7'], 'x\n');
    t.false(r.killed);
    t.is(r.code, 7);
    t.regex(r.stderr, /gone/);
  });

  test.serial(`kubectl ${v} cp: a local file into the pod and back, content unchanged`, async (t) => {
    const src = join(ctx!.work, `src-${v}.bin`);
    const back = join(ctx!.work, `back-${v}.bin`);
    const content = randomBytes(200 * 1024 + 17);
    writeFileSync(src, content);
    const up = await kubectl(v, ['cp', src, `box:/tmp/f-${v}`]);
    t.false(up.killed, `kubectl ${v} cp into the pod did not finish: ${up.stderr}`);
    t.is(up.code, 0, up.stderr);
    const inPod = await kubectl(v, ['exec', 'box', '--', 'sha256sum', `/tmp/f-${v}`]);
    t.is(inPod.stdout.toString().split(' ')[0], sha(content));
    const down = await kubectl(v, ['cp', `box:/tmp/f-${v}`, back]);
    t.false(down.killed, `kubectl ${v} cp from the pod did not finish: ${down.stderr}`);
    t.is(down.code, 0, down.stderr);
    t.is(sha(readFileSync(back)), sha(content));
  });
}

test.serial('kubectl 1.33 exec speaks v5.channel.k8s.io (the translated path) and a terminal session still works', async (t) => {
  const r = await kubectl('1.33', ['-v=8', 'exec', '-i', 'box', '--', 'cat'], 'v5\n');
  t.is(r.stdout.toString(), 'v5\n');
  t.regex(r.stderr, /101 Switching Protocols[\s\S]*Sec-Websocket-Protocol: v5\.channel\.k8s\.io/i);
  // -t under a pseudo-terminal (script): stderr merged into the terminal, exit code kept
  const cmd = `${KUBECTL['1.33']} --kubeconfig ${ctx!.cp.kubeconfigPath} exec -i -t box -- sh -c 'echo out; echo err >&2; exit 4'`;
  const tty = await new Promise<Outcome>((resolve) => {
    const p = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let killed = false;
    p.stdout.on('data', (d: Buffer) => out.push(d));
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGKILL');
    }, 30_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      setImmediate(() => resolve({ stdout: Buffer.concat(out), stderr: '', code, killed }));
    });
  });
  t.false(tty.killed);
  t.is(tty.code, 4);
  t.regex(tty.stdout.toString(), /out\r\n/);
  t.regex(tty.stdout.toString(), /err\r\n/);
});
