// `mkube init` + `mkube join` across two lab machines (deploy/lab/lab.sh --name mkjn --subnet 88: the control plane
// in the host namespace on the lab gateway 10.213.88.1, the worker in its own network namespace with its own
// containerd, nodes 10.213.88.0/24, pods 10.213.89.0/24), each with its own data directory: the worker's client
// certificate comes through a bootstrap-token CSR (kube-apiserver-client-kubelet, approved and signed by the
// controller manager), its serving certificate through a kubelet-serving CSR; the node becomes Ready and runs a pod
// whose logs are read through the API server (which verifies the agent's CSR-issued serving certificate); nothing
// under the worker's data dir is a CA key or an admin credential; a forced renewal (SIGHUP) rotates both
// certificates through new CSRs without the node going NotReady; a wrong CA pin or token is refused.
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { labDown, labUp, type LabSummary } from '@mkube/testing';
import { freePort } from '@mkube/apiserver';
import { readState, stopProcess } from '@mkube/cli';

const LAB = 'mkjn';
const SUBNET = 88;
const MKUBE = join(process.cwd(), 'packages/cli/dist/src/bin/mkube.js');
const KUBECTL = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';

interface Run { code: number; out: string; err: string }
function run(cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, env, maxBuffer: 16 << 20, killSignal: 'SIGKILL' }, (e, out, err) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err }));
  });
}

let work: string;
let cpDir: string;
let wDir: string;
let lab: LabSummary;
let joinCmd: string[] = [];
const kubectl = (args: string[]) => run(KUBECTL, args, 60_000, { ...process.env, KUBECONFIG: join(cpDir, 'admin.kubeconfig'), HOME: work });
const worker = () => lab.workers![0]!;
const tokenOf = () => joinCmd[joinCmd.indexOf('--token') + 1]!;

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stopAll(dir: string): Promise<void> {
  const s = readState(dir);
  for (const c of [...(s?.components ?? [])].reverse()) await stopProcess(c.pid, 10_000).catch(() => undefined);
}

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'mkube-join-'));
  cpDir = join(work, 'cp');
  wDir = join(work, 'worker');
  await labDown(LAB).catch(() => undefined);
  lab = await labUp(['--workers', '1', '--name', LAB, '--subnet', String(SUBNET)], 120_000);
});

test.after.always(async () => {
  if (wDir) await stopAll(wDir);
  if (cpDir) await stopAll(cpDir);
  await labDown(LAB).catch(() => undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('mkube init prints a join command; mkube token list shows its token', async (t) => {
  const port = await freePort();
  const r = await run(process.execPath, [MKUBE, 'init', '--advertise-address', lab.gateway!, '--api-port', String(port), '--data-dir', cpDir, '--cluster-signing-duration', '10m'], 180_000);
  t.is(r.code, 0, r.err + r.out);
  const line = r.out.split('\n').find((l) => l.startsWith('mkube join '));
  t.truthy(line, r.out);
  joinCmd = line!.split(' ').slice(1);
  t.regex(line!, new RegExp(`^mkube join https://${lab.gateway!.replace(/\./g, '\\.')}:${port} --token [a-z0-9]{6}\\.[a-z0-9]{16} --discovery-token-ca-cert-hash sha256:[0-9a-f]{64}$`));
  const list = await run(process.execPath, [MKUBE, 'token', 'list', '--data-dir', cpDir], 30_000);
  t.is(list.code, 0, list.err);
  t.regex(list.out, /^TOKEN\s+TTL\s+EXPIRES\s+USAGES\s+DESCRIPTION\s+EXTRA GROUPS\n/);
  t.true(list.out.includes(tokenOf()), list.out);
  t.regex(list.out, /authentication,signing/);
});

test.serial('mkube join refuses a wrong CA pin and a wrong token, and a control-plane join without --advertise-address', async (t) => {
  const ns = ['nsenter', `--net=/run/netns/${worker().netns}`, process.execPath, MKUBE];
  const base = ['--data-dir', join(work, 'refused'), '--node-ip', worker().nodeIP, '--cri-socket', worker().criAddress];
  const badHash = joinCmd.map((a, i) => (joinCmd[i - 1] === '--discovery-token-ca-cert-hash' ? `sha256:${'0'.repeat(64)}` : a));
  const r1 = await run(ns[0]!, [...ns.slice(1), ...badHash, ...base], 60_000);
  t.is(r1.code, 1);
  t.regex(r1.err, /cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "sha256:[0-9a-f]{64}" are pinned/);
  const badToken = joinCmd.map((a, i) => (joinCmd[i - 1] === '--token' ? `${a.slice(0, 7)}${'x'.repeat(16)}` : a));
  const r2 = await run(ns[0]!, [...ns.slice(1), ...badToken, ...base], 60_000);
  t.is(r2.code, 1);
  t.regex(r2.err, /failed to verify JWS signature of received cluster info object, can't trust this API Server/);
  const r3 = await run(ns[0]!, [...ns.slice(1), ...joinCmd, ...base, '--control-plane', '--certificate-key', 'abc'], 60_000);
  t.is(r3.code, 1);
  t.regex(r3.err, /--advertise-address is required with --control-plane/);
});

test.serial('mkube join: the worker gets its certificates through CSRs, becomes Ready and runs a pod', async (t) => {
  const w = worker();
  const r = await run('nsenter', [`--net=/run/netns/${w.netns}`, process.execPath, MKUBE, ...joinCmd, '--data-dir', wDir, '--node-ip', w.nodeIP, '--node-name', w.name,
    '--cri-socket', w.criAddress, '--pod-cidr', w.podCIDR, '--cni-conf-dir', join(w.stateDir, 'cni', 'net.d'),
    ...(w.cgroupParent ? ['--cgroup-root', w.cgroupParent] : []), ...(w.logDir ? ['--pod-logs-dir', w.logDir] : [])], 300_000);
  t.is(r.code, 0, `${r.err}\n${r.out}`);
  const nodes = await kubectl(['get', 'nodes', w.name, '--no-headers']);
  t.regex(nodes.out, new RegExp(`^${w.name}\\s+Ready`));
  const csrs = JSON.parse((await kubectl(['get', 'csr', '-o', 'json'])).out) as { items: { spec: { signerName: string; username: string }; status: { certificate?: string; conditions?: { type: string }[] } }[] };
  const tokenId = tokenOf().split('.')[0]!;
  const client = csrs.items.find((c) => c.spec.signerName === 'kubernetes.io/kube-apiserver-client-kubelet' && c.spec.username === `system:bootstrap:${tokenId}`);
  t.truthy(client?.status.certificate, 'the bootstrap CSR was issued');
  t.true(client!.status.conditions!.some((c) => c.type === 'Approved'));
  const serving = await waitUntil('the serving CSR to be issued', 60_000, async () => (await kubectl(['get', 'csr', '-o', 'json'])).out)
    .then((o) => (JSON.parse(o) as typeof csrs).items.find((c) => c.spec.signerName === 'kubernetes.io/kubelet-serving' && c.spec.username === `system:node:${w.name}` && c.status.certificate));
  t.truthy(serving);
  // The node agent's files: its kubeconfig names the node identity.
  const kc = parse(readFileSync(join(wDir, 'kubelet.kubeconfig'), 'utf8')) as { users: { user: { 'client-certificate': string } }[] };
  const cert = new X509Certificate(readFileSync(kc.users[0]!.user['client-certificate'], 'utf8'));
  t.is(cert.subject.split('\n').sort().join(','), `CN=system:node:${w.name},O=system:nodes`);
  t.is(statSync(join(wDir, 'kubelet.kubeconfig')).mode & 0o777, 0o600);

  // A pod on the worker; its logs come through the API server from the agent's CSR-issued serving certificate.
  t.is((await kubectl(['run', 'hello', '--image=busybox', '--restart=Never', '--overrides', JSON.stringify({ spec: { nodeName: w.name } }), '--', 'sh', '-c', 'echo joined; sleep 3600'])).code, 0);
  await waitUntil('pod hello to run', 180_000, async () => ((await kubectl(['get', 'pod', 'hello', '-o', 'jsonpath={.status.phase}'])).out === 'Running' ? true : undefined));
  await waitUntil('the logs of hello', 60_000, async () => ((await kubectl(['logs', 'hello'])).out.includes('joined') ? true : undefined));
  t.pass();
});

/** Every PEM block and kubeconfig under dir: no CA private key, no CA certificate with a key, no admin identity. */
function credentialFindings(dir: string, caPem: string): string[] {
  const caKey = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  const findings: string[] = [];
  const walk = (d: string) => {
    // The worker is running: files and directories may vanish while we walk (the volume writer swaps
    // directories, logs rotate); what is gone cannot hold a credential.
    const gone = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (err) {
      if (gone(err)) return;
      throw err;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        let text: string;
        try {
          if (statSync(p).size >= 4 << 20) continue;
          // Logs hold JSON strings: their escaped newlines count as newlines.
          text = readFileSync(p, 'latin1').replace(/\\n/g, '\n');
        } catch (err) {
          if (gone(err)) continue;
          throw err;
        }
        // PEM text inside binary or escaped files (the control plane's LevelDB, JSON logs) may not parse:
        // an unreadable private key counts as a finding (conservative), an unreadable certificate is skipped.
        for (const m of text.matchAll(/-----BEGIN ([A-Z ]*PRIVATE KEY)-----[\s\S]*?-----END \1-----/g)) {
          let pub: Buffer;
          try {
            pub = createPublicKey(createPrivateKey(m[0])).export({ type: 'spki', format: 'der' });
          } catch {
            findings.push(`${p}: an unreadable private key block`);
            continue;
          }
          if (pub.equals(caKey)) findings.push(`${p}: the CA private key`);
        }
        for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) {
          let c: X509Certificate;
          try {
            c = new X509Certificate(m[0]);
          } catch {
            continue;
          }
          if (/O=system:masters/.test(c.subject)) findings.push(`${p}: a system:masters certificate`);
          if (c.ca && !c.publicKey.export({ type: 'spki', format: 'der' }).equals(caKey)) findings.push(`${p}: another CA certificate`);
        }
        let doc: { users?: { name: string; user: Record<string, string> }[] } | undefined;
        try {
          doc = /^kind: Config$/m.test(text) && /^apiVersion: v1$/m.test(text) ? (parse(text) as typeof doc) : undefined;
        } catch {
          doc = undefined; // not YAML (a store file that happens to hold the words)
        }
        if (doc) {
          for (const u of doc.users ?? []) {
            for (const f of ['client-certificate-data', 'client-certificate']) {
              const v = u.user[f];
              if (!v) continue;
              const pem = f.endsWith('-data') ? Buffer.from(v, 'base64').toString() : readFileSync(v, 'utf8');
              const subject = new X509Certificate(pem).subject;
              // A worker holds its node identity, and its own Ingress controller's (system:mkube-ingress:<node> in
              // system:mkube-ingresses, which reads TLS Secrets as ingress-nginx's pod does; asked for as the node).
              const ingress = subject.split('\n').sort().join(',');
              if (!/CN=system:node:/.test(subject) && !/^CN=system:mkube-ingress:[a-z0-9.-]+,O=system:mkube-ingresses$/.test(ingress)) findings.push(`${p}: kubeconfig user ${u.name} is ${subject.replace(/\n/g, ',')}`);
            }
            if (u.user.token && !/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(u.user.token)) findings.push(`${p}: kubeconfig user ${u.name} has a non-bootstrap token`);
          }
        }
      }
    }
  };
  walk(dir);
  return findings;
}

test.serial('no file under the worker data dir is a CA key or an admin credential', (t) => {
  const caPem = readFileSync(join(cpDir, 'apiserver', 'pki', 'ca.crt'), 'utf8');
  t.deepEqual(credentialFindings(wDir, caPem), []);
  // The check finds one where there is one (the control plane's dir has the CA key and the admin kubeconfig).
  const cp = credentialFindings(cpDir, caPem);
  t.true(cp.some((f) => f.includes('the CA private key')), cp.join('\n'));
  t.true(cp.some((f) => f.includes('system:masters')), cp.join('\n'));
});

test.serial('rotation: a forced renewal issues new client and serving certificates through CSRs; the node stays Ready', async (t) => {
  const w = worker();
  const pemOf = (kind: string) => new X509Certificate(readFileSync(join(wDir, 'agent', 'pki', `kubelet-${kind}-current.pem`), 'utf8'));
  const before = { client: pemOf('client').serialNumber, server: pemOf('server').serialNumber };
  // The signer's 10 minute lifetime: the scheduled deadline is 7-9 min after notBefore (the agent logs it).
  const life = Date.parse(pemOf('client').validTo) - Date.parse(pemOf('client').validFrom);
  t.true(life <= 10 * 60_000 + 1000, `client certificate lifetime ${life} ms`);
  const agentPid = readState(wDir)!.components.find((c) => c.name.startsWith('node-agent'))!.pid;
  let notReady = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const r = await kubectl(['get', 'node', w.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      if (r.code === 0 && r.out !== 'True') notReady++;
      await new Promise((res) => setTimeout(res, 500));
    }
  })();
  process.kill(agentPid, 'SIGHUP');
  await waitUntil('both certificates to rotate', 120_000, async () => (pemOf('client').serialNumber !== before.client && pemOf('server').serialNumber !== before.server ? true : undefined));
  const csrs = JSON.parse((await kubectl(['get', 'csr', '-o', 'json'])).out) as { items: { spec: { signerName: string; username: string }; status: { certificate?: string } }[] };
  const self = csrs.items.filter((c) => c.spec.signerName === 'kubernetes.io/kube-apiserver-client-kubelet' && c.spec.username === `system:node:${w.name}` && c.status.certificate);
  t.is(self.length, 1, 'the renewal is a selfnodeclient CSR by the node itself');
  t.is(csrs.items.filter((c) => c.spec.signerName === 'kubernetes.io/kubelet-serving' && c.status.certificate).length, 2);
  // The agent uses the new pair: it keeps heartbeating, and the API server reaches it on the new serving certificate.
  const renewed = (await kubectl(['get', 'lease', '-n', 'kube-node-lease', w.name, '-o', 'jsonpath={.spec.renewTime}'])).out;
  await waitUntil('a lease renewal with the new client certificate', 60_000, async () => ((await kubectl(['get', 'lease', '-n', 'kube-node-lease', w.name, '-o', 'jsonpath={.spec.renewTime}'])).out !== renewed ? true : undefined));
  t.regex((await kubectl(['logs', 'hello'])).out, /joined/);
  sampling = false;
  await sampler;
  t.is(notReady, 0);
});
