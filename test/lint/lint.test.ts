// The lint is part of `npm test`: typescript-eslint over every package's sources (eslint.config.js
// at the root: recommended rules + no-floating-promises; never dist/ or generated code) must report
// nothing, and every eslint-disable comment in the sources says why on its line.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs the repository's eslint (with `stdin` piped in when given); resolves with its exit code and output. */
function runEslint(args: string[], stdin?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
    child.stdin.end(stdin ?? '');
  });
}

const packageSources = () => readdirSync(join(root, 'packages')).map((p) => join('packages', p, 'src'));

test('eslint reports no problem in packages/*/src', async (t) => {
  t.timeout(10 * 60_000); // typed linting of every package: about a minute on two cores
  const r = await runEslint(['--max-warnings', '0', ...packageSources()]);
  t.is(r.code, 0, r.out);
});

test('the lint configuration catches a floating promise and is not run over dist/', async (t) => {
  t.timeout(5 * 60_000);
  // Source text linted as a file of a package (typed rules included): a promise nobody handles.
  const probe = 'async function work(): Promise<void> {}\nwork();\nexport {};\n';
  const r = await runEslint(['--stdin', '--stdin-filename', 'packages/component-base/src/index.ts'], probe);
  t.is(r.code, 1, r.out);
  t.regex(r.out, /@typescript-eslint\/no-floating-promises/);
  const ignored = await runEslint(['packages/component-base/dist/src/index.js']);
  t.regex(ignored.out, /File ignored because of a matching ignore pattern/);
});

test('every eslint-disable comment in packages/*/src gives its reason (-- why) on the same line', (t) => {
  const bare: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const rel = join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) {
        readFileSync(join(root, rel), 'utf8').split('\n').forEach((line, i) => {
          if (/eslint-disable/.test(line) && !/eslint-disable[^\n]*?\s--\s+\S/.test(line)) bare.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
      }
    }
  };
  for (const dir of packageSources()) walk(dir);
  t.deepEqual(bare, []);
});
