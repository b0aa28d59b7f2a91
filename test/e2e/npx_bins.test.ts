// Every npm `bin` of the workspace works with `npx` (issue 16): in this checkout after the build, and
// on a fresh clone right after `npm ci` (before any build), where npm links a bin only if its target
// exists — so the targets are committed thin scripts that run dist/ or say it is not built.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** name → package directory, from every workspace package.json. */
function workspaceBins(): Map<string, string> {
  const bins = new Map<string, string>();
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const file = join(root, 'packages', pkg, 'package.json');
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as { bin?: Record<string, string> };
    for (const name of Object.keys(manifest.bin ?? {})) bins.set(name, pkg);
  }
  return bins;
}

/** Runs a command and returns its exit code and output, whatever the code. */
async function outcome(cmd: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, timeout: 60_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test('the workspace declares the ten component commands', (t) => {
  t.deepEqual([...workspaceBins().keys()].sort(), ['mkube', 'mkube-apiserver', 'mkube-cloud-controller-manager', 'mkube-controller-manager', 'mkube-dns', 'mkube-ingress', 'mkube-metrics-server', 'mkube-node-agent', 'mkube-scheduler', 'mkube-store']);
});

test('every bin runs with npx in this checkout (--help exits 0 and prints its usage)', async (t) => {
  for (const name of workspaceBins().keys()) {
    t.true(existsSync(join(root, 'node_modules', '.bin', name)), `node_modules/.bin/${name} is linked`);
    const r = await outcome('npx', ['--no-install', name, '--help'], root);
    t.is(r.code, 0, `npx ${name} --help: ${r.out}`);
    t.regex(r.out, /usage|Usage|USAGE/, `${name} prints its usage`);
  }
});

test('on a fresh clone, npm ci links every bin and npx says what is missing before the build', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mkube-fresh-clone-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await run('git', ['clone', '--quiet', root, dir], { timeout: 60_000 });
  // The packages come from the npm cache that this run's own `npm ci` filled (no registry needed).
  await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir, timeout: 120_000 });
  for (const [name, pkg] of workspaceBins()) {
    t.true(existsSync(join(dir, 'node_modules', '.bin', name)), `fresh clone: node_modules/.bin/${name} is linked`);
    const r = await outcome('npx', ['--no-install', name, '--help'], dir);
    t.is(r.code, 1, `npx ${name} before the build: ${r.out}`);
    t.true(r.out.includes(`${name}: not built yet (${join(dir, 'packages', pkg, 'dist', 'src', 'bin', `${name}.js`)} is missing)`), r.out);
  }
});
