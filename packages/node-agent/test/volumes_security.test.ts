// The node agent's volume files and subPath resolution on a temp dir (no
// containerd, no root): secret/configMap file modes and defaultMode, the pod
// directories' modes, the atomic `..data` layout and its rewrite seen by a
// concurrent reader, symlinks planted in a volume (absolute, relative, at an
// intermediate component) refused for subPath and subPathExpr.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigSource } from '../src/api_port.js';
import type { AgentConfigMap, Container, AgentPod, AgentSecret } from '../src/api_types.js';
import { issueServingCert } from '../src/agent.js';
import { writeAtomically } from '../src/runtime/atomic_writer.js';
import { ContainerStartError, VolumeSetupError } from '../src/runtime/errors.js';
import { resolveInside, UnsafePathError } from '../src/runtime/safe_path.js';
import { expandSubPathExpr, VolumeManager } from '../src/runtime/volumes.js';

const mode = (p: string): number => statSync(p).mode & 0o7777;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mkube-volsec-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

class FakeConfig implements ConfigSource {
  readonly cms = new Map<string, AgentConfigMap>();
  readonly secrets = new Map<string, AgentSecret>();
  async getConfigMap(ns: string, name: string): Promise<AgentConfigMap | undefined> {
    return this.cms.get(`${ns}/${name}`);
  }
  async getSecret(ns: string, name: string): Promise<AgentSecret | undefined> {
    return this.secrets.get(`${ns}/${name}`);
  }
}

function pod(uid: string, volumes: AgentPod['spec']['volumes']): AgentPod {
  return { metadata: { name: 'p', namespace: 'default', uid }, spec: { containers: [{ name: 'c', image: 'busybox' }], volumes } } as AgentPod;
}

function container(volumeMounts: Container['volumeMounts']): Container {
  return { name: 'c', image: 'busybox', volumeMounts } as Container;
}

test('secret and configMap files: 0644 by default, defaultMode and item mode honoured, pod dirs closed to other users', async (t) => {
  const root = join(await tempDir(t), 'agent');
  const cfg = new FakeConfig();
  cfg.secrets.set('default/s', { metadata: { name: 's', namespace: 'default', uid: 's1' }, data: { password: b64('s3cr3t'), token: b64('tok') } } as AgentSecret);
  cfg.cms.set('default/cm', { metadata: { name: 'cm', namespace: 'default', uid: 'c1' }, data: { 'app.conf': 'a=1\n', other: 'x' } } as AgentConfigMap);
  const vm = new VolumeManager(root, cfg);
  const p = pod('uid-1', [
    { name: 'plain', secret: { secretName: 's' } },
    { name: 'tight', secret: { secretName: 's', defaultMode: 0o400, items: [{ key: 'password', path: 'pw' }, { key: 'token', path: 'deep/tok', mode: 0o440 }] } },
    { name: 'conf', configMap: { name: 'cm', items: [{ key: 'app.conf', path: 'conf/app.conf', mode: 0o600 }] } },
    { name: 'confall', configMap: { name: 'cm', defaultMode: 0o755 } },
    { name: 'scratch', emptyDir: {} },
  ]);
  const vols = await vm.setUp(p);

  const plain = vols.get('plain')!.hostPath;
  t.is(readFileSync(join(plain, 'password'), 'utf8'), 's3cr3t');
  t.is(mode(join(plain, 'password')), 0o644, 'upstream SecretVolumeSourceDefaultMode');
  t.is(mode(join(plain, 'token')), 0o644);
  const tight = vols.get('tight')!.hostPath;
  t.is(mode(join(tight, 'pw')), 0o400, 'defaultMode');
  t.is(mode(join(tight, 'deep/tok')), 0o440, 'item mode wins over defaultMode');
  t.false(existsSync(join(tight, 'password')), 'items select keys');
  t.is(mode(join(vols.get('conf')!.hostPath, 'conf/app.conf')), 0o600);
  t.is(mode(join(vols.get('confall')!.hostPath, 'other')), 0o755);
  t.is(readFileSync(join(vols.get('confall')!.hostPath, 'app.conf'), 'utf8'), 'a=1\n');
  t.is(mode(vols.get('scratch')!.hostPath), 0o777, 'emptyDir is writable by any uid in the pod');

  // Nobody but root (the agent) gets through the pod's directories on the host.
  for (const d of [join(root, 'pods'), vm.podDir('uid-1'), join(vm.podDir('uid-1'), 'volumes'), join(vm.podDir('uid-1'), 'volumes', 'kubernetes.io~secret')]) {
    t.is(mode(d), 0o750, d);
  }
  t.is(mode(root) & 0o007, 0, 'root dir not open to other users');
});

test('pod directories that exist with loose modes are tightened; a planted link as a volume dir is refused', async (t) => {
  const root = join(await tempDir(t), 'agent');
  const cfg = new FakeConfig();
  cfg.secrets.set('default/s', { metadata: { name: 's', namespace: 'default', uid: 's1' }, data: { k: b64('v') } } as AgentSecret);
  const vm = new VolumeManager(root, cfg);
  mkdirSync(join(vm.podDir('u2'), 'volumes', 'kubernetes.io~secret'), { recursive: true, mode: 0o777 });
  for (const d of [join(root, 'pods'), vm.podDir('u2'), join(vm.podDir('u2'), 'volumes'), join(vm.podDir('u2'), 'volumes', 'kubernetes.io~secret')]) {
    chmodSync(d, 0o777);
  }
  await vm.setUp(pod('u2', [{ name: 'sv', secret: { secretName: 's' } }]));
  t.is(mode(vm.podDir('u2')), 0o750);
  t.is(mode(join(vm.podDir('u2'), 'volumes', 'kubernetes.io~secret')), 0o750);

  // A symlink where a volume dir belongs (pointing at a host dir) is never written through.
  const outside = join(root, '..', 'outside');
  mkdirSync(outside);
  mkdirSync(join(vm.podDir('u3'), 'volumes', 'kubernetes.io~secret'), { recursive: true });
  symlinkSync(outside, join(vm.podDir('u3'), 'volumes', 'kubernetes.io~secret', 'sv'));
  await t.throwsAsync(vm.setUp(pod('u3', [{ name: 'sv', secret: { secretName: 's' } }])), { message: /is not a directory/ });
  t.deepEqual(readdirSync(outside), []);
});

test('missing keys and bad modes: FailedMount with kubelet messages; optional volumes skip', async (t) => {
  const root = join(await tempDir(t), 'agent');
  const cfg = new FakeConfig();
  cfg.secrets.set('default/s', { metadata: { name: 's', namespace: 'default', uid: 's1' }, data: { k: b64('v') } } as AgentSecret);
  cfg.cms.set('default/cm', { metadata: { name: 'cm', namespace: 'default', uid: 'c1' }, data: { k: 'v' } } as AgentConfigMap);
  const vm = new VolumeManager(root, cfg);
  let err = await t.throwsAsync(vm.setUp(pod('u', [{ name: 'sv', secret: { secretName: 's', items: [{ key: 'nope', path: 'x' }] } }])), { instanceOf: VolumeSetupError });
  t.is(err.message, 'references non-existent secret key: nope');
  err = await t.throwsAsync(vm.setUp(pod('u', [{ name: 'cv', configMap: { name: 'cm', items: [{ key: 'nope', path: 'x' }] } }])), { instanceOf: VolumeSetupError });
  t.is(err.message, 'configmap references non-existent config key: nope');
  err = await t.throwsAsync(vm.setUp(pod('u', [{ name: 'sv', secret: { secretName: 's', defaultMode: 0o4755 } }])), { instanceOf: VolumeSetupError });
  t.regex(err.message, /must be a number between 0 and 0777 \(octal\), both inclusive/);
  err = await t.throwsAsync(vm.setUp(pod('u', [{ name: 'sv', secret: { secretName: 's', items: [{ key: 'k', path: '../../escape' }] } }])), { instanceOf: VolumeSetupError });
  t.regex(err.message, /must not contain '\.\.'/);
  err = await t.throwsAsync(vm.setUp(pod('u', [{ name: 'sv', secret: { secretName: 's', items: [{ key: 'k', path: '/etc/passwd' }] } }])), { instanceOf: VolumeSetupError });
  t.regex(err.message, /must be a relative path/);
  const vols = await vm.setUp(pod('u', [{ name: 'sv', secret: { secretName: 's', optional: true, items: [{ key: 'nope', path: 'x' }] } }]));
  t.deepEqual(readdirSync(vols.get('sv')!.hostPath).filter((n) => !n.startsWith('..')), []);
});

test('atomic layout: ..data swaps generations, keys are links, removed keys and old generations go, planted entries are replaced not followed', async (t) => {
  const dir = join(await tempDir(t), 'vol');
  mkdirSync(dir);
  const outsideFile = join(dir, '..', 'victim');
  writeFileSync(outsideFile, 'original');
  // Planted before the first write: a key name linking out of the volume, and a stray directory.
  symlinkSync(outsideFile, join(dir, 'a'));
  mkdirSync(join(dir, 'b'));
  t.true(await writeAtomically(dir, [
    { path: 'a', data: Buffer.from('A1'), mode: 0o600 },
    { path: 'b', data: Buffer.from('B1'), mode: 0o644 },
    { path: 'sub/c', data: Buffer.from('C1'), mode: 0o644 },
  ]));
  t.is(readFileSync(outsideFile, 'utf8'), 'original', 'the planted link was replaced, not written through');
  t.is(readlinkSync(join(dir, 'a')), '..data/a');
  t.is(readlinkSync(join(dir, 'sub')), '..data/sub');
  const gen1 = readlinkSync(join(dir, '..data'));
  t.regex(gen1, /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\./);
  t.is(readFileSync(join(dir, 'a'), 'utf8'), 'A1');
  t.is(readFileSync(join(dir, 'sub/c'), 'utf8'), 'C1');
  t.is(mode(join(dir, 'a')), 0o600);

  t.false(await writeAtomically(dir, [
    { path: 'a', data: Buffer.from('A1'), mode: 0o600 },
    { path: 'b', data: Buffer.from('B1'), mode: 0o644 },
    { path: 'sub/c', data: Buffer.from('C1'), mode: 0o644 },
  ]), 'unchanged content is not rewritten');
  t.is(readlinkSync(join(dir, '..data')), gen1);

  t.true(await writeAtomically(dir, [{ path: 'a', data: Buffer.from('A2'), mode: 0o400 }]));
  const gen2 = readlinkSync(join(dir, '..data'));
  t.not(gen2, gen1);
  t.is(readFileSync(join(dir, 'a'), 'utf8'), 'A2');
  t.is(mode(join(dir, 'a')), 0o400, 'a mode change alone is a change');
  t.deepEqual(readdirSync(dir).sort(), ['..data', gen2, 'a'].sort(), 'removed keys and the old generation are gone');
  t.true(lstatSync(join(dir, '..data')).isSymbolicLink());
});

test('atomic rewrite: a concurrent reader sees one whole version of every file, never a mix or a partial file', async (t) => {
  const dir = join(await tempDir(t), 'vol');
  mkdirSync(dir);
  const size = 256 * 1024;
  const version = (n: number) => [
    { path: 'a', data: Buffer.alloc(size, `${n % 10}`), mode: 0o644 },
    { path: 'b', data: Buffer.alloc(size, `${n % 10}`), mode: 0o644 },
  ];
  await writeAtomically(dir, version(0));
  let done = false;
  let reads = 0;
  const bad: string[] = [];
  const reader = (async () => {
    while (!done) {
      // Read both files of one generation through ..data, as an application reading a consistent set.
      // (a generation replaced meanwhile is gone as a whole: ENOENT, which a reader answers by reading ..data again).
      const gen = readlinkSync(join(dir, '..data'));
      const pair = await Promise.all([readFile(join(dir, gen, 'a')), readFile(join(dir, gen, 'b'))]).catch((err: NodeJS.ErrnoException) => String(err.code));
      // A single file read through its link must always succeed and be whole.
      const single = await readFile(join(dir, 'b'));
      reads++;
      if (single.length !== size || !single.every((c) => c === single[0])) bad.push(`partial b (${single.length} bytes)`);
      if (typeof pair === 'string') {
        if (pair !== 'ENOENT') bad.push(pair);
      } else {
        const [a, b] = pair;
        if (a.length !== size || !a.every((c) => c === a[0])) bad.push('partial a');
        if (a[0] !== b[0]) bad.push(`mixed generation: a=${String.fromCharCode(a[0]!)} b=${String.fromCharCode(b[0]!)}`);
      }
    }
  })();
  for (let n = 1; n <= 60; n++) await writeAtomically(dir, version(n));
  done = true;
  await reader;
  t.deepEqual(bad, []);
  t.true(reads > 0);
  t.is(readFileSync(join(dir, 'a'), 'utf8')[0], '0', 'the last version (60 % 10) is in place');
});

test('subPath: a link planted in a volume cannot reach the host (absolute, relative, intermediate); links inside are followed', async (t) => {
  const base = await tempDir(t);
  const vol = join(base, 'vol');
  const host = join(base, 'hostsecret');
  mkdirSync(vol);
  mkdirSync(host);
  writeFileSync(join(host, 'shadow'), 'root:x');
  mkdirSync(join(vol, 'data', 'inner'), { recursive: true });
  symlinkSync(host, join(vol, 'abs')); // link -> /etc style
  symlinkSync('../hostsecret', join(vol, 'rel')); // relative escape
  symlinkSync('data/../../hostsecret', join(vol, 'rel2'));
  symlinkSync(host, join(vol, 'data', 'mid')); // intermediate component
  symlinkSync('inner', join(vol, 'data', 'ok')); // stays inside
  symlinkSync(join(vol, 'nowhere'), join(vol, 'dangling'));

  for (const sub of ['abs', 'rel', 'rel2', 'data/mid/shadow', 'data/mid', 'abs/new-dir']) {
    const err = await t.throwsAsync(resolveInside(vol, sub, { create: true }), { instanceOf: UnsafePathError }, sub);
    t.is(err?.code, 'Escapes', sub);
  }
  t.false(existsSync(join(host, 'new-dir')), 'nothing created on the host through a link');
  t.is((await t.throwsAsync(resolveInside(vol, 'dangling/x', { create: true }), { instanceOf: UnsafePathError }))?.code, 'Escapes');
  t.is((await t.throwsAsync(resolveInside(vol, '/etc')))?.message, '"/etc" must be a relative path');
  t.is((await t.throwsAsync(resolveInside(vol, 'data/../../x')))?.message, `"data/../../x" must not contain '..'`);

  const realVol = realpathSync(vol); // os.tmpdir() may itself be a link
  t.is(await resolveInside(vol, 'data/ok'), join(realVol, 'data', 'inner'), 'a link inside the volume resolves to its real target');
  const created = await resolveInside(vol, 'data/new/deeper', { create: true });
  t.is(created, join(realVol, 'data', 'new', 'deeper'));
  t.is(mode(created), mode(vol), 'created with the volume root mode');
  writeFileSync(join(vol, 'file'), '');
  t.is((await t.throwsAsync(resolveInside(vol, 'file/x', { create: true }), { instanceOf: UnsafePathError }))?.code, 'NotDirectory');
});

test('mountsFor: subPath and subPathExpr through a planted link fail with CreateContainerConfigError naming the mount and subPath', async (t) => {
  const root = join(await tempDir(t), 'agent');
  const vm = new VolumeManager(root, new FakeConfig());
  const vols = await vm.setUp(pod('u', [{ name: 'scratch', emptyDir: {} }]));
  const scratch = vols.get('scratch')!.hostPath;
  // What a first container could do to its emptyDir:
  symlinkSync('/etc', join(scratch, 'link'));

  let err = await t.throwsAsync(vm.mountsFor(container([{ name: 'scratch', mountPath: '/x', subPath: 'link' }]), vols), { instanceOf: ContainerStartError });
  t.is(err?.code, 'CreateContainerConfigError');
  t.is(err?.message, 'failed to prepare subPath for volumeMount "scratch" of container "c": "link" leaves the volume through the symbolic link "link"');

  const env = [{ key: 'POD_NAME', value: 'link' }];
  err = await t.throwsAsync(vm.mountsFor(container([{ name: 'scratch', mountPath: '/x', subPathExpr: '$(POD_NAME)/passwd' }]), vols, env), { instanceOf: ContainerStartError });
  t.is(err?.code, 'CreateContainerConfigError');
  t.regex(err!.message, /"link\/passwd" leaves the volume/);

  err = await t.throwsAsync(vm.mountsFor(container([{ name: 'scratch', mountPath: '/x', subPathExpr: '$(NOPE)-$(ALSO)' }]), vols, env), { instanceOf: ContainerStartError });
  t.is(err?.message, 'missing value for ALSO, NOPE');

  const ok = await vm.mountsFor(container([{ name: 'scratch', mountPath: '/x', subPathExpr: 'logs/$(POD_NAME)' }]), vols, env);
  t.is(ok[0]!.host_path, join(realpathSync(scratch), 'logs', 'link'));
  t.true(statSync(ok[0]!.host_path!).isDirectory());
  t.is(expandSubPathExpr('a/$$(X)/$(X)', [{ key: 'X', value: 'v' }]), 'a/$(X)/v');
});

test('the agent serving key: its pki dir 0700 and the key 0600, also when both existed with loose modes', async (t) => {
  const base = await tempDir(t);
  const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: base, stdio: ['ignore', 'ignore', 'pipe'] });
  ossl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  ossl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=test-ca', '-days', '1', '-out', 'ca.crt']);
  const dir = join(base, 'agent', 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  issueServingCert(dir, join(base, 'ca.crt'), join(base, 'ca.key'), 'n1', '10.0.0.5');
  t.is(mode(dir), 0o700);
  t.is(mode(join(dir, 'agent.key')), 0o600);
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'agent.key'), 0o644);
  const again = issueServingCert(dir, join(base, 'ca.crt'), join(base, 'ca.key'), 'n1', '10.0.0.5');
  t.true(again.key.includes('PRIVATE KEY'));
  t.is(mode(dir), 0o700);
  t.is(mode(join(dir, 'agent.key')), 0o600, 'an existing key is tightened');
});
